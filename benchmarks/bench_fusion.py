"""What ``train.compile`` fuses, counted on the CPU: kernels and bytes of a training step, eager and compiled.

    python benchmarks/bench_fusion.py                      # every backbone and width of paper.yaml, 2 layers
    python benchmarks/bench_fusion.py --only gpt2 --out /tmp/fusion.json

Per backbone and width of the config's run types: one run's forward, loss and backward (no optimiser: it stays
eager under ``train.compile``) at the run type's width and batch, the mean tokens of its curriculum and ``--n-layer``
blocks (the ratios are per block; fewer blocks compile faster), with the CUDA path's one-kernel norms and GELU
(``models.fused_ops``), S4's dropout masks drawn ahead of the step as ``train.compile`` draws them
(``models.base.DropoutAhead``), counted eagerly and compiled by inductor
(``mambaicl.analysis.fusion``). mamba-ssm's scan and causal-conv1d and RWKV's WKV, custom kernels on the GPU, are
opaque custom-op stand-ins here (the kernels path of the Mamba mixer, as on CUDA). Writes ``--out`` (default the
file the cost model reads: ``benchmarks/fusion/cpu-inductor.json``) and prints the table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from mambaicl.analysis import cost, fusion
from mambaicl.config import load_yaml, train_spec
from mambaicl.models import mamba, rwkv
from mambaicl.models.base import DropoutAhead
from mambaicl.models.fused_ops import fuse_for_device
from mambaicl.training.loop import build_run, forward_loss_fn
from mambaicl.validation import validate

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "fusion" / "cpu-inductor.json"


def _conv_silu(x, weight, bias):
    return mamba.causal_conv1d_ref(x, weight, bias, activation="silu")


def _scan(u, delta, A, B, C, D, z, delta_bias):
    return mamba.selective_scan_ref(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=True)


def install_gpu_kernels() -> None:
    """The Mamba mixer on its kernels path with opaque stand-ins for mamba-ssm's scan and causal-conv1d, and
    RWKV's WKV as one opaque op: what inductor sees on CUDA."""
    scan_op = fusion.opaque("selective_scan", _scan, 8)
    conv_op = fusion.opaque("causal_conv1d", _conv_silu, 3)
    wkv_op = fusion.opaque("wkv", rwkv.wkv, 4, like=2)

    def kernel_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
        assert delta_softplus and z is not None and delta_bias is not None  # how the kernels path calls it
        return scan_op(u, delta, A, B, C, D, z, delta_bias)

    def kernel_conv(x, weight, bias, activation=None):
        assert activation == "silu"
        return conv_op(x, weight, bias)

    mamba._kernel_scan, mamba._kernel_conv = kernel_scan, kernel_conv
    mamba.resolve_scan = lambda scan, device: "kernels"
    rwkv.wkv = wkv_op


def shapes(config: dict, only: list[str] | None) -> dict:
    """One run type per (backbone, width): the first in experiment order."""
    out: dict = {}
    for rt in cost.run_types(config):
        if (not only or rt.backbone in only) and (rt.backbone, rt.d_model) not in out:
            out[(rt.backbone, rt.d_model)] = rt
    return out


def measure(config: dict, rt: cost.RunType, n_layer: int, batch: int | None) -> fusion.FusionCount:
    spec = train_spec(config, rt.task, rt.model, 1)
    spec["model"]["n_layer"] = n_layer
    run = build_run(spec, torch.device("cpu"), log=False)
    fuse_for_device(run.model, "cuda")  # the one-kernel norms and GELU the CUDA path runs (the same math)
    hist = cost.points_histogram(spec["curriculum"]["points"], spec["steps"])
    points = round(sum(p * n for p, n in hist) / sum(n for _, n in hist))
    b = batch or rt.batch
    data = run.task.sample(b, points, torch.Generator().manual_seed(0))
    tokens = run.task.tokens(data).shape[1]
    loss = forward_loss_fn(run, torch.device("cpu"))
    DropoutAhead(run.model, "cpu")(b)  # S4's dropout masks drawn before the step, as train.compile draws them
    eager, compiled = fusion.count_step(lambda: loss(data), list(run.model.parameters()))
    return fusion.FusionCount(rt.backbone, rt.d_model, n_layer, b, tokens, eager["kernels"], eager["bytes"],
                              compiled["kernels"], compiled["bytes"], eager["opaque"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", default=str(REPO / "workflow" / "config" / "paper.yaml"))
    ap.add_argument("--only", nargs="*", help="backbones to count (default all of the config)")
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--batch", type=int, default=None, help="default: the run type's batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_yaml(args.configfile)
    validate(config)
    install_gpu_kernels()
    counts = []
    print(f"{'backbone':16} {'width':>5} {'tokens':>6} {'eager k':>8} {'fused k':>8} {'opaque':>6} {'k ratio':>7} "
          f"{'eager MB':>9} {'fused MB':>9} {'B ratio':>7} {'s':>5}")
    for (backbone, width), rt in shapes(config, args.only).items():
        t0 = time.perf_counter()
        c = measure(config, rt, args.n_layer, args.batch)
        counts.append(c)
        print(f"{backbone:16} {width:>5} {c.tokens:>6} {c.eager_kernels:>8} {c.compiled_kernels:>8} "
              f"{c.opaque_kernels:>6} {c.kernel_ratio:>7.2f} {c.eager_bytes / 1e6:>9.1f} {c.compiled_bytes / 1e6:>9.1f} "
              f"{c.byte_ratio:>7.2f} {time.perf_counter() - t0:>5.0f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fusion.write_counts(args.out, counts, {
        "command": " ".join(["python benchmarks/bench_fusion.py", *(argv if argv is not None else sys.argv[1:])]),
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "config": Path(args.configfile).name, "threads": args.threads})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
