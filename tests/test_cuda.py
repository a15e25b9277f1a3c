"""The GPU path: mamba-ssm's fused kernels against the package's own PyTorch scan, training and resume on CUDA.

Marked `cuda`: conftest skips them without a CUDA GPU, and the kernel tests also skip without mamba-ssm and
causal-conv1d. The device check runs them (`pytest -m cuda`, README "GPU device check"). Only
test_mamba_backbones_are_the_ones_parametrized runs on a CPU: it keeps the parametrization in step with
the backbone registry.

Tolerances, as relative norm errors ||a - b|| / ||b||, set before anything ran on a GPU (the device run
confirms or adjusts them):
- against a float64 CPU reference on the same weights and input, kernels and own scan on CUDA in fp32:
  output 2e-4, each parameter's gradient 2e-3 (mamba-ssm compiles with --use_fast_math and sums in
  another order; tests/test_mamba.py's scan-level check uses 1e-4 and 1e-3);
- under bf16 autocast, as the trainer runs it: output and the concatenated gradient within 5e-2 of the
  reference on both paths, and the kernels' error at most max(3 x the own scan's, 2e-2);
- eight Adam steps, kernels against own scan: losses within 1e-3 per step (bf16: 3e-2), final weights
  within 1e-3 (bf16: 2e-2);
- resume on CUDA against an uninterrupted run: every weight tensor and every logged loss within 1e-5
  (bf16: 1e-3), or within 10 x the difference between two uninterrupted runs where that is larger. Not
  bit-equality as on CPU: some CUDA backward kernels (mamba-ssm's, PyTorch's fused attention) add with
  atomics, so sums differ in their last bits from run to run; the test runs attention on the math backend;
- every backbone under bf16 autocast, as the trainer runs it: finite, output within 5e-2 of a float64 CPU
  reference (S4's FFT convolution runs in float32 inside: cuFFT takes no bfloat16).
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.mamba import MambaMixer, kernels_available
from mambaicl.tasks import task_from_spec

TINY = {  # every backbone at a size where a check takes well under a second on a GPU
    "gpt2": {"d_model": 64, "n_layer": 2, "n_head": 4},
    "mamba": {"d_model": 64, "n_layer": 2},
    "standard_hybrid": {"d_model": 64, "n_layer": 2, "n_head": 4, "max_tokens": 256},
    "mambaformer": {"d_model": 64, "n_layer": 2, "n_head": 4},
    "s4": {"d_model": 64, "n_layer": 2, "d_state": 8, "dropout": 0.0},
    "s4_park": {"d_model": 64, "n_layer": 2},
    "s4_mamba": {"d_model": 64, "n_layer": 2, "dropout": 0.0},
    "rwkv": {"d_model": 64, "n_layer": 2},
}
MAMBA_BACKBONES = ["mamba", "standard_hybrid", "mambaformer"]  # the backbones built from MambaMixer blocks
TOKEN_DIM = 6
needs_kernels = pytest.mark.skipif(not kernels_available(), reason="needs CUDA and mamba-ssm + causal-conv1d")


def _train(*args, **kwargs):
    """The library's trainer: with ``_train_pack``, this file's only imports from mambaicl outside mambaicl.models
    and mambaicl.tasks (imported here, when called, so that the rest of the file does not depend on where it lives)."""
    from mambaicl.training.loop import train

    return train(*args, **kwargs)


def _train_pack(*args, **kwargs):
    """The pack trainer (``train.pack``), imported as ``_train`` is."""
    from mambaicl.training.pack import train_pack

    return train_pack(*args, **kwargs)


def _model(backbone: str, seed: int = 0):
    return build_model({"backbone": backbone, **TINY[backbone]}, token_dim=TOKEN_DIM, seed=seed)


def _use_kernels(model, on: bool):
    for m in model.modules():
        if isinstance(m, MambaMixer):
            m.use_kernels = on
    return model


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


@pytest.fixture
def no_tf32():
    """Plain fp32 matmuls for the comparisons (the trainer's jobs allow TF32; the tests compare paths)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_mamba_backbones_are_the_ones_parametrized():
    """Runs on CPU too: every registered backbone has a tiny spec here, and MAMBA_BACKBONES lists exactly
    those that contain MambaMixer blocks."""
    assert set(TINY) == set(BACKBONES)
    with_mixers = [b for b in BACKBONES if any(isinstance(m, MambaMixer) for m in _model(b).modules())]
    assert sorted(with_mixers) == sorted(MAMBA_BACKBONES)


def _forward_backward(model, x, target, device, bf16=False):
    model = model.to(device)
    model.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(x.to(device))
    loss = (out.float() - target.to(device)).square().mean()
    loss.backward()
    grads = {n: p.grad.detach().double().cpu() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach().double().cpu(), grads


def _inputs(seed=1, batch=4, length=97):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, length, TOKEN_DIM, generator=g), torch.randn(batch, length, 1, generator=g)


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("backbone", MAMBA_BACKBONES)
def test_kernels_and_own_scan_match_a_float64_reference_in_fp32(backbone, no_tf32):
    x, target = _inputs()
    base = _model(backbone)
    ref_out, ref_grads = _forward_backward(_model(backbone).double(), x.double(), target.double(),
                                           torch.device("cpu"))
    cuda = torch.device("cuda")
    for kernels in (True, False):
        model = _use_kernels(_model(backbone), kernels)
        model.load_state_dict(base.state_dict())
        out, grads = _forward_backward(model, x, target, cuda)
        path = "kernels" if kernels else "own scan"
        assert _rel(out, ref_out) < 2e-4, path
        assert grads.keys() == ref_grads.keys()
        for name in grads:
            assert _rel(grads[name], ref_grads[name]) < 2e-3, (path, name)


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("backbone", MAMBA_BACKBONES)
def test_kernels_under_bf16_autocast_are_as_accurate_as_the_own_scan(backbone):
    x, target = _inputs(seed=2)
    ref_out, ref_grads = _forward_backward(_model(backbone).double(), x.double(), target.double(),
                                           torch.device("cpu"))
    ref_flat = torch.cat([g.flatten() for g in ref_grads.values()])
    errors = {}
    for kernels in (True, False):
        out, grads = _forward_backward(_use_kernels(_model(backbone), kernels), x, target, torch.device("cuda"),
                                       bf16=True)
        flat = torch.cat([grads[n].flatten() for n in ref_grads])
        errors[kernels] = (_rel(out, ref_out), _rel(flat, ref_flat))
    for i, what in enumerate(("output", "gradient")):
        kernel_err, own_err = errors[True][i], errors[False][i]
        assert kernel_err < 5e-2 and own_err < 5e-2, (what, errors)
        assert kernel_err <= max(3 * own_err, 2e-2), (what, errors)


def _short_training(backbone: str, kernels: bool, bf16: bool, steps: int = 8):
    """A minimal training loop (the trainer's step: sample on the device, predict, loss, Adam) on CUDA."""
    dev = torch.device("cuda")
    task = task_from_spec({"name": "linear_regression", "n_dims": 5})
    model = _use_kernels(build_model({"backbone": backbone, **TINY[backbone]}, task.token_dim, seed=3), kernels)
    model = model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=dev).manual_seed(5)
    losses = []
    for _ in range(steps):
        batch = task.sample(16, 11, gen, n_dims_active=5)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            preds = model.predict(task, batch)
        loss = task.loss(preds.float(), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    weights = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    return torch.tensor(losses), weights


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("backbone", MAMBA_BACKBONES)
def test_a_few_training_steps_agree_between_kernels_and_own_scan(backbone, precision, no_tf32):
    bf16 = precision == "bf16"
    loss_k, w_k = _short_training(backbone, kernels=True, bf16=bf16)
    loss_o, w_o = _short_training(backbone, kernels=False, bf16=bf16)
    assert torch.isfinite(loss_k).all() and torch.isfinite(loss_o).all()
    tol_loss, tol_w = (3e-2, 2e-2) if bf16 else (1e-3, 1e-3)
    assert ((loss_k - loss_o).abs() / loss_o.abs()).max().item() < tol_loss, (loss_k, loss_o)
    assert _rel(w_k, w_o) < tol_w


def _spec(backbone: str, precision: str) -> dict:
    spec = {
        "task": {"name": "linear_regression", "n_dims": 4},
        "curriculum": {"dims": {"start": 2, "end": 4, "inc": 1, "interval": 10},
                       "points": {"start": 4, "end": 8, "inc": 2, "interval": 10}},
        "model": {"backbone": backbone, **TINY[backbone], "learning_rate": 3e-3},
        "seed": 1, "steps": 30, "batch_size": 16, "schedule": "cosine", "grad_clip": 1.0,
        "checkpoint_every": 10, "log_every": 1,
    }
    if precision == "bf16":
        spec["precision"] = "bf16"
    return spec


RESUME_CASES = [pytest.param(b, p, marks=[needs_kernels] if b != "gpt2" else [], id=f"{b}-{p}")
                for b in ("gpt2", "mamba", "mambaformer") for p in ("fp32", "bf16")]


@pytest.mark.cuda
@pytest.mark.parametrize("backbone, precision", RESUME_CASES)
def test_resume_on_cuda_continues_the_same_run(tmp_path, backbone, precision):
    spec = _spec(backbone, precision)
    full, parts = tmp_path / "full", tmp_path / "parts"

    def run(d, **kw):
        return _train(spec, d / "model.pt", d / "metrics.csv", d / "ckpt", device="cuda", progress=False, **kw)

    # The math attention backend: PyTorch's fused fp32 attention backward adds with atomics, so two
    # uninterrupted runs of a hybrid already differed by more than 1e-5 on the H200 (device check, 2026-11-30).
    with sdpa_kernel(SDPBackend.MATH):
        a = run(full)
        again = run(tmp_path / "again")  # the run-to-run noise that remains (mamba-ssm's backward atomics)
        run(parts, stop_after=13)  # as if killed after step 13: the checkpoint holds step 13 and the CUDA generators
        assert not (parts / "model.pt").exists()
        b = run(parts)
    assert next(b.parameters()).is_cuda
    tol = 1e-3 if precision == "bf16" else 1e-5
    for (name, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), again.state_dict().values()):
        if name.endswith("c_attn.bias"):
            # drop the key third: a key bias adds the same score to every key, so its exact gradient is zero
            # and Adam turns the rounding noise into full-size steps (two uninterrupted mambaformer runs
            # differed there by 0.7 % in fp32 and 15 % in bf16 on the H200)
            d = p.shape[0] // 3
            p, q, r = (torch.cat([t[:d], t[2 * d:]]) for t in (p, q, r))
        noise = _rel(r, p)
        assert noise < 10 * tol, (name, "two uninterrupted runs differ", noise)
        assert _rel(q, p) < max(tol, 10 * noise), (name, _rel(q, p), noise)
    ma, mb = pd.read_csv(full / "metrics.csv"), pd.read_csv(parts / "metrics.csv")
    mr = pd.read_csv(tmp_path / "again" / "metrics.csv")
    assert list(mb.step) == list(range(30))
    loss_noise = ((mr.loss - ma.loss).abs() / ma.loss.abs()).max()
    assert ((mb.loss - ma.loss).abs() / ma.loss.abs()).max() < max(tol, 10 * loss_noise)
    assert torch.isfinite(torch.tensor(mb.loss.to_numpy())).all()


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("backbone", MAMBA_BACKBONES)
def test_a_pack_on_the_kernels_equals_separate_runs(tmp_path, backbone, no_tf32):
    """A pack of 3 on mamba-ssm's kernels (the runs folded into one scan and one conv call per layer, B and C
    grouped per run) trains each run as its separate job on the kernels does: weights within 1e-3 after 8 steps
    (the kernels' backward adds with atomics, and vmapped matmuls sum in another order), losses within 1e-4."""
    specs = [{**_spec(backbone, "fp32"), "steps": 8, "seed": seed,
              "model": {"backbone": backbone, **TINY[backbone], "learning_rate": lr}}
             for seed, lr in ((1, 3e-3), (2, 1e-2), (3, 5e-3))]

    def paths(d):
        return ([d / f"r{i}/model.pt" for i in range(3)], [d / f"r{i}/metrics.csv" for i in range(3)],
                [d / f"r{i}/ckpt" for i in range(3)])

    with sdpa_kernel(SDPBackend.MATH):
        packed = _train_pack(specs, *paths(tmp_path / "pack"), device="cuda", progress=False, scan="kernels")
        alone = [_train(s, m, c, k, device="cuda", progress=False, scan="kernels")
                 for s, m, c, k in zip(specs, *paths(tmp_path / "alone"))]
    for i, (p, a) in enumerate(zip(packed, alone)):
        for (name, x), y in zip(p.state_dict().items(), a.state_dict().values()):
            if name.endswith("c_attn.bias"):  # the key third's exact gradient is zero (see the resume test)
                d = x.shape[0] // 3
                x, y = (torch.cat([t[:d], t[2 * d:]]) for t in (x, y))
            assert _rel(x, y) < 1e-3, (i, name, _rel(x, y))
        lp, la = (pd.read_csv(tmp_path / f"{d}/r{i}/metrics.csv").loss for d in ("pack", "alone"))
        assert ((lp - la).abs() / la.abs()).max() < 1e-4


@pytest.mark.cuda
@pytest.mark.parametrize("backbone", sorted(TINY))
def test_every_backbone_runs_under_bf16_autocast_on_cuda(backbone):
    """The trainer's `precision: bf16` for every backbone (the device check found S4's FFT refusing bfloat16)."""
    x, target = _inputs(seed=3)
    ref_out, ref_grads = _forward_backward(_model(backbone).double(), x.double(), target.double(),
                                           torch.device("cpu"))
    out, grads = _forward_backward(_model(backbone), x, target, torch.device("cuda"), bf16=True)
    assert torch.isfinite(out).all() and all(torch.isfinite(g).all() for g in grads.values())
    assert _rel(out, ref_out) < 5e-2
    flat = torch.cat([grads[n].flatten() for n in ref_grads])
    assert _rel(flat, torch.cat([g.flatten() for g in ref_grads.values()])) < 1e-1


@pytest.mark.cuda
@pytest.mark.parametrize("backbone", MAMBA_BACKBONES)
def test_the_log_line_names_the_scan_that_runs(backbone):
    from mambaicl.models.mamba import scan_implementation, triton_unavailable

    model = _model(backbone)
    line = scan_implementation(model, "cuda")
    if kernels_available():
        assert "fused CUDA kernels" in line and not line.startswith("WARNING")
    elif triton_unavailable("cuda") is None:
        assert "Triton selective scan" in line and not line.startswith("WARNING")
    else:
        assert line.startswith("WARNING") and "own PyTorch scan" in line
    assert "switched off" in scan_implementation(_use_kernels(model, False), "cuda")


@pytest.mark.cuda
def test_skewed_inputs_on_cuda_draw_rotations_by_qr():
    """On CUDA the skewed task's per-step rotation is a float64 QR (no SVD, no host sync), still orthogonal,
    and the sampled covariance keeps trace D and condition number 400 as on CPU."""
    from mambaicl.tasks import make_task
    from mambaicl.tasks.linear_regression import random_rotation

    g = torch.Generator(device="cuda").manual_seed(0)
    u = random_rotation(g, 3, n_dims=20)
    assert u.is_cuda and torch.allclose(u @ u.transpose(-1, -2), torch.eye(20, dtype=u.dtype, device="cuda"),
                                        atol=1e-10)
    s = make_task("skewed_linear_regression").transform(g, 4).double()
    ev = torch.linalg.eigvalsh(s.T @ s).flip(0)
    assert ev.sum().item() == pytest.approx(20.0, rel=1e-4)
    assert (ev[0] / ev[-1]).item() == pytest.approx(400.0, rel=1e-3)
