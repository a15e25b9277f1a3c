"""What train.compile fuses, counted on CPU (mambaicl.analysis.fusion; benchmarks/bench_fusion.py), and the cost
model's compiled path built on the counts."""

import io
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from mambaicl.analysis import cost, fusion, step_model

REPO = Path(__file__).resolve().parents[1]
COUNTS = REPO / "benchmarks" / "fusion" / "cpu-inductor.json"
needs_cxx = pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                               reason="inductor on CPU needs a C++ compiler")


@needs_cxx
def test_a_chain_of_elementwise_ops_fuses_into_fewer_kernels_moving_fewer_bytes():
    w = torch.randn(4096, requires_grad=True)
    x = torch.randn(64, 4096)

    def loss():
        return ((x * w).sin() * 2.0 + 1.0).tanh().square().mean()

    eager, compiled = fusion.count_step(loss, [w])
    # eager: mul, sin, mul, add, tanh, pow, mean forward, and about as many backward: each reads and writes 1 MiB
    assert eager["kernels"] >= 12 and eager["bytes"] >= 12 * 2 * x.numel() * 4
    assert eager["opaque"] == 0
    assert compiled["kernels"] < eager["kernels"] / 2
    assert compiled["bytes"] < eager["bytes"] / 2


def test_the_eager_count_leaves_out_what_moves_no_bytes():
    """A reshape of a transposed tensor copies it once (``clone``) and then views the copy (``_unsafe_view``, a view
    autograd does not track as one): one kernel reading and writing the tensor, not two."""
    x = torch.randn(64, 32)
    with fusion._EagerCount() as count:
        x.t().reshape(-1)
        x.view(-1)  # a view: nothing
        torch.empty(10)  # an allocation: nothing
    assert (count.kernels, count.bytes) == (1, 2 * x.numel() * 4)


@needs_cxx
def test_an_opaque_kernel_is_one_op_each_way_in_both_counts():
    op = fusion.opaque("test_scale", lambda a, b: a * b.sum(), 2)
    a = torch.randn(256, 512, requires_grad=True)
    b = torch.randn(512, requires_grad=True)

    def loss():
        return op(a, b).sum()

    eager, compiled = fusion.count_step(loss, [a, b])
    assert eager["opaque"] == 2  # the op forward, its backward op
    assert compiled["kernels"] >= 2  # inductor calls both as extern kernels
    out = op(a, b)
    assert torch.allclose(out, a * b.sum())  # the forward is the reference; the backward only has its shapes
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@needs_cxx
def test_a_graph_break_is_an_error():
    w = torch.randn(8, requires_grad=True)

    def loss():
        y = (w * 2).sum()
        torch._dynamo.graph_break()
        return y * 3

    with pytest.raises(RuntimeError, match="graph breaks"):
        fusion.count_step(loss, [w])


def test_the_counts_file_is_checksummed(tmp_path):
    c = fusion.FusionCount("gpt2", 256, 2, 64, 80, 90, 1000, 80, 900)
    path = tmp_path / "counts.json"
    fusion.write_counts(path, [c], {"torch": torch.__version__})
    assert fusion.read_counts(path) == {"gpt2@256": c}
    data = json.loads(path.read_text())
    data["rows"][0]["compiled_bytes"] = 10
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        fusion.read_counts(path)
    with pytest.raises(ValueError, match="unreadable"):
        fusion.read_counts(tmp_path / "gone.json")


def test_the_repository_counts_cover_every_backbone_and_width_of_the_paper_config():
    from mambaicl.config import load_yaml
    from mambaicl.validation import validate

    config = load_yaml(REPO / "workflow" / "config" / "paper.yaml")
    validate(config)
    counts = fusion.read_counts(COUNTS)
    types = cost.run_types(config, params_of=lambda spec, task: 1)
    assert {f"{rt.backbone}@{rt.d_model}" for rt in types} <= set(counts)
    for c in counts.values():
        assert 0 < c.compiled_kernels and 0 < c.compiled_bytes and c.eager_kernels > c.opaque_kernels


def _model():
    rt = cost.RunType("t", "m", "mamba", 256, 24, 10_000_000, 3, 1000, 64, 82.0, 82, "k", tensors=200)
    return rt, step_model.step_model(rt, host_ms=35.5, busy_ms=30.9, kernels=1788, tokens_measured=82, stack=200)


def test_counted_bytes_keep_the_measured_step_and_change_the_work():
    rt, m = _model()
    counted = m.with_bytes(3 * cost.ACT_PASSES * cost.ACT_TENSORS * 4 * rt.d_model)  # three times the rule's bytes
    assert counted.pack_ms(1) == pytest.approx(m.pack_ms(1))  # still the measurement at K = 1
    assert counted._work_s(82) > m._work_s(82)
    assert counted.per_run_ms(64) > m.per_run_ms(64)  # work-bound packs pay for the bytes


def test_the_compiled_step_fuses_the_shared_kernels_and_replays_them():
    rt, m = _model()
    same = m.compiled(1.0, m.act_bytes, graphs=False)
    assert same.busy_ms(8) == pytest.approx(m.busy_ms(8)) and same.launches(8) == pytest.approx(m.launches(8))
    fused = m.compiled(0.5, step_model.ACT_PASSES * step_model.ACT_TENSORS * 2 * rt.d_model, graphs=False)
    assert fused.kernels == pytest.approx(m.shared / 2 + m.per_run)
    assert fused.busy_ms(8) < m.busy_ms(8)
    graphs = m.compiled(0.5, fused.act_bytes, graphs=True)
    assert graphs.busy_ms(8) == pytest.approx(fused.busy_ms(8))
    # only the per-run kernels (and the buffers' stacks) are launched one by one, plus one launch per graph
    assert graphs.launches(8) == pytest.approx(2 + 8 * m.per_run + m.stack)
    # 96 untraceable calls (mamba-ssm's scan and conv, forward and backward, 24 blocks): each eager, each a graph more
    broken = m.compiled(0.5, fused.act_bytes, graphs=True, breaks=96)
    assert broken.launches(8) == pytest.approx(graphs.launches(8) + 2 * 96)
    assert broken.busy_ms(8) == pytest.approx(graphs.busy_ms(8))


def _script():
    from test_cost_model import _load_script
    return _load_script()


def test_the_cost_model_prints_the_fusion_counts_and_the_compiled_path():
    mod = _script()
    config = ["--configfile", str(REPO / "workflow" / "config" / "paper.yaml")]
    buf = io.StringIO()
    totals = mod.main(config, out=buf)
    text = buf.getvalue()
    assert "## train.compile: what inductor fuses, counted on CPU" in text
    assert "bytes counted on CPU per backbone (eager; --fusion)" in text
    assert re.search(r"packed, train.compile: graphs, up to 8 packs sharing the GPU .*: [\d,.]+", text)
    last = text.strip().splitlines()[-1]
    assert last == f"estimated packed GPU-hours: {mod.num(totals['best'])}"
    assert totals["best"] <= min(totals["packed"], totals["compiled"]) + 1e-9
    none = io.StringIO()
    plain = mod.main(config + ["--fusion", "none"], out=none)
    assert none.getvalue().strip().splitlines()[-1] == f"estimated packed GPU-hours: {mod.num(plain['packed'])}"
    assert "no fusion counts (--fusion none)" in none.getvalue()


def test_mamba_ssm_s_calls_break_the_compiled_graph_in_the_model():
    """The committed counts' opaque calls (mamba-ssm's scan and causal-conv1d, forward and backward): 4 per Mamba
    mixer and step in the Mamba family, none elsewhere (RWKV's Triton WKV is taken to trace)."""
    mod = _script()
    counts = fusion.read_counts(mod.FUSION_COUNTS)
    assert mod.graph_breaks("mamba", 24, counts["mamba@256"]) == 4 * 24
    assert mod.graph_breaks("standard_hybrid", 4, counts["standard_hybrid@128"]) == 2 * 4  # half its blocks
    assert mod.graph_breaks("rwkv", 12, counts["rwkv@256"]) == 0
    assert mod.graph_breaks("gpt2", 12, counts["gpt2@256"]) == 0


def test_a_damaged_fusion_file_is_an_error_naming_it(tmp_path):
    mod = _script()
    bad = tmp_path / "counts.json"
    bad.write_text("{")
    with pytest.raises(SystemExit, match=re.escape(f"--fusion: fusion counts {bad}: unreadable")):
        mod.main(["--configfile", str(REPO / "workflow" / "config" / "cpu.yaml"), "--fusion", str(bad)],
                 out=io.StringIO())
