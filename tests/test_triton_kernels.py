"""The Triton selective scan and WKV kernels against the package's float64 references, values and gradients.

Without a GPU they run in Triton's interpreter on CPU tensors: TRITON_INTERPRET=1 is set only while this module
imports triton and the kernel modules (triton.jit reads it when decorating, triton's own helpers included) and
while each of its tests runs, then restored, so no other test sees it. On a CUDA host the same tests run the compiled kernels on the GPU. Shapes are tiny: the
interpreter executes every program in Python.
"""

from __future__ import annotations

import os

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _import_kernels():
    old = os.environ.get("TRITON_INTERPRET")
    if DEVICE == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    try:
        pytest.importorskip("triton")
        from mambaicl.models import triton_scan, triton_wkv
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old
    return triton_scan, triton_wkv


triton_scan, triton_wkv = _import_kernels()
if DEVICE == "cpu" and not (triton_scan.INTERPRETED and triton_wkv.INTERPRETED):
    pytest.skip("triton was imported without TRITON_INTERPRET=1 earlier in this process: its CPU interpreter "
                "cannot run here", allow_module_level=True)



@pytest.fixture(autouse=True)
def _interpreter(monkeypatch):
    """Triton's interpreter reads the variable again at launch (it imports parts of triton lazily), so each test
    of this module sets it for its own duration."""
    if DEVICE == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "1")


from mambaicl.models import build_model  # noqa: E402
from mambaicl.models.mamba import scan_implementation, selective_scan_ref, set_scan  # noqa: E402
from mambaicl.models.rwkv import wkv_reference  # noqa: E402

SCAN_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
HALF = (torch.float16, torch.bfloat16)
# float32: kernel round-off only; half precisions: the output and gradient rounding to the input dtype
TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.bfloat16: 3e-2}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


def _scan_inputs(b, d, n, L, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    # delta - 1 and bias near 0: dt ~ 0.3 on average, A in [-4.1, -0.1]: states decay, as in a trained model
    return dict(u=r(b, d, L), delta=r(b, d, L) - 1.0, A=-4 * torch.rand(d, n, generator=g, dtype=torch.float64) - 0.1,
                B=r(b, n, L), C=r(b, n, L), D=r(d), z=r(b, d, L), delta_bias=0.5 * r(d))


def _check_scan(x64, dtype, *, z=True, softplus=True, time_major=False, seed=0):
    """Kernel on ``dtype`` inputs (A, D, delta_bias in float32, as mamba-ssm) vs the float64 reference on the
    same rounded inputs; returns the relative errors of the output and of each input's gradient."""
    low = {k: (v.to(dtype) if k in ("u", "delta", "B", "C", "z") else v.float()) for k, v in x64.items()}
    ref = {k: v.double().requires_grad_() for k, v in low.items()}
    if time_major:  # (L, b, c) storage seen as (b, c, L), as the mixer passes its tensors
        low = {k: (v.permute(2, 0, 1).contiguous().permute(1, 2, 0) if v.dim() == 3 else v) for k, v in low.items()}
    dev = {k: v.to(DEVICE).requires_grad_() for k, v in low.items()}
    kw = lambda t: dict(D=t["D"], z=t["z"] if z else None, delta_bias=t["delta_bias"], delta_softplus=softplus)  # noqa: E731
    y = triton_scan.selective_scan_triton(dev["u"], dev["delta"], dev["A"], dev["B"], dev["C"], **kw(dev))
    y_ref = selective_scan_ref(ref["u"], ref["delta"], ref["A"], ref["B"], ref["C"], **kw(ref))
    assert y.dtype == dtype and y.shape == y_ref.shape
    w = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    names = [k for k in SCAN_NAMES if z or k != "z"]
    g = torch.autograd.grad((y.double() * w.to(DEVICE)).sum(), [dev[k] for k in names])
    g_ref = torch.autograd.grad((y_ref * w).sum(), [ref[k] for k in names])
    for k, a in zip(names, g):
        assert a.dtype == dev[k].dtype and a.shape == dev[k].shape, k
    return {"y": _rel(y.cpu(), y_ref), **{k: _rel(a.cpu(), b) for k, a, b in zip(names, g, g_ref)}}


@pytest.mark.parametrize("dtype", [torch.float32, *HALF], ids=str)
def test_triton_scan_matches_reference(dtype):
    errs = _check_scan(_scan_inputs(2, 8, 4, 12, seed=0), dtype)
    bad = {k: e for k, e in errs.items() if not e < TOL[dtype]}
    assert not bad, f"relative errors above {TOL[dtype]}: {bad}"


@pytest.mark.parametrize("z, softplus, time_major", [(False, True, False), (True, False, True)],
                         ids=["no_gate", "no_softplus_time_major"])
def test_triton_scan_variants(z, softplus, time_major):
    """No gate, delta used as given, strided time-major inputs; channels and states not powers of two."""
    errs = _check_scan(_scan_inputs(2, 5, 3, 7, seed=1), torch.float32, z=z, softplus=softplus,
                       time_major=time_major)
    assert max(errs.values()) < 2e-5, errs


def _grouped_inputs(b, G, d_group, n, L, seed):
    """A scan's inputs with B, C grouped per (packed) run: (b, G, n, L), channels G d_group."""
    x = _scan_inputs(b, G * d_group, n, L, seed)
    g = torch.Generator().manual_seed(seed + 100)
    x["B"], x["C"] = (torch.randn(b, G, n, L, generator=g, dtype=torch.float64) for _ in range(2))
    return x


def test_grouped_reference_is_each_group_on_its_own_channels():
    """selective_scan_ref with grouped B, C: channel c reads group c // (d / G), i.e. the G 3-D scans side by side."""
    x = _grouped_inputs(2, 3, 2, 3, 4, seed=7)
    kw = dict(D=x["D"], z=x["z"], delta_bias=x["delta_bias"], delta_softplus=True)
    y = selective_scan_ref(x["u"], x["delta"], x["A"], x["B"], x["C"], **kw)
    for r in range(3):
        ch = slice(2 * r, 2 * r + 2)
        y_r = selective_scan_ref(x["u"][:, ch], x["delta"][:, ch], x["A"][ch], x["B"][:, r], x["C"][:, r],
                                 D=x["D"][ch], z=x["z"][:, ch], delta_bias=x["delta_bias"][ch], delta_softplus=True)
        torch.testing.assert_close(y[:, ch], y_r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d_group, time_major", [(4, False), (3, True)], ids=["pow2", "odd_time_major"])
def test_triton_scan_grouped_matches_reference(d_group, time_major):
    """Grouped B, C (a pack's runs folded into the channels): values and every gradient, dB and dC per group;
    3 channels per group checks that a channel block never straddles two groups."""
    errs = _check_scan(_grouped_inputs(2, 2, d_group, 3, 5, seed=8), torch.float32, time_major=time_major)
    assert max(errs.values()) < 2e-5, errs


def test_triton_scan_one_group_is_the_3d_call_bit_for_bit():
    x = {k: v.float().to(DEVICE) for k, v in _scan_inputs(2, 5, 3, 6, seed=9).items()}
    outs = []
    for grouped in (False, True):
        t = {k: v.clone().requires_grad_() for k, v in x.items()}
        B, C = (t["B"].unsqueeze(1), t["C"].unsqueeze(1)) if grouped else (t["B"], t["C"])
        y = triton_scan.selective_scan_triton(t["u"], t["delta"], t["A"], B, C, t["D"], t["z"], t["delta_bias"], True)
        y.square().sum().backward()
        outs.append([y.detach(), *(t[k].grad for k in SCAN_NAMES)])
    for k, a, b in zip(("y", *SCAN_NAMES), *outs):
        assert torch.equal(a, b), k


def _wkv_inputs(B, T, C, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    # keys of size ~3 make the running maxima change often; exp(+-3 sigma) would overflow a naive form
    return dict(w=-torch.exp(r(C)), u=r(C), k=3 * r(B, T, C), v=r(B, T, C))


@pytest.mark.parametrize("dtype", [torch.float32, *HALF], ids=str)
def test_triton_wkv_matches_reference(dtype):
    x = _wkv_inputs(2, 12, 8, seed=2)
    low = {k: (v.to(dtype) if k in ("k", "v") else v.float()) for k, v in x.items()}
    ref = {k: v.double().requires_grad_() for k, v in low.items()}
    dev = {k: v.to(DEVICE).requires_grad_() for k, v in low.items()}
    y = triton_wkv.wkv_triton(*dev.values())
    y_ref = wkv_reference(*ref.values())
    assert y.dtype == dtype
    w = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g = torch.autograd.grad((y.double() * w.to(DEVICE)).sum(), list(dev.values()))
    g_ref = torch.autograd.grad((y_ref * w).sum(), list(ref.values()))
    errs = {"y": _rel(y.cpu(), y_ref), **{k: _rel(a.cpu(), b) for k, a, b in zip(x, g, g_ref)}}
    assert all(a.dtype == dev[k].dtype for k, a in zip(x, g))
    assert max(errs.values()) < TOL[dtype], errs


def test_triton_wkv_strided_inputs_and_odd_channels():
    x = _wkv_inputs(3, 9, 5, seed=4)
    ref = {k: v.clone().requires_grad_() for k, v in x.items()}
    # k, v stored time-major and seen as (B, T, C), as a transposed activation would be
    dev = {k: (v.float().transpose(0, 1).contiguous().transpose(0, 1) if v.dim() == 3 else v.float()).to(DEVICE)
           .requires_grad_() for k, v in x.items()}
    y = triton_wkv.wkv_triton(*dev.values())
    y_ref = wkv_reference(*ref.values())
    g = torch.autograd.grad(y.double().square().sum(), list(dev.values()))
    g_ref = torch.autograd.grad(y_ref.square().sum(), list(ref.values()))
    errs = {"y": _rel(y.cpu(), y_ref), **{k: _rel(a.cpu(), b) for k, a, b in zip(x, g, g_ref)}}
    assert max(errs.values()) < 2e-5, errs


@pytest.mark.parametrize("backbone", ["mamba", "rwkv"])
def test_models_on_triton_match_the_torch_path(backbone):
    """A whole backbone under scan: triton equals scan: torch (outputs and every parameter's gradient), and the
    log line names the Triton kernel."""
    spec = {"backbone": backbone, "d_model": 8, "n_layer": 1}
    model = build_model(spec, token_dim=3, seed=0).to(DEVICE)
    with torch.no_grad():  # move off the init, whose zero projections would hide most of the recurrence
        g = torch.Generator().manual_seed(5)
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g).to(DEVICE))
    x = torch.randn(2, 12, 8, generator=torch.Generator().manual_seed(6)).to(DEVICE)
    runs = {}
    for scan in ("torch", "triton"):
        set_scan(model, scan, DEVICE)
        model.zero_grad()
        y = model.backbone(x)
        y.square().sum().backward()
        runs[scan] = (y.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert "Triton" in scan_implementation(model, DEVICE)
    assert _rel(runs["triton"][0], runs["torch"][0]) < 1e-5
    assert _rel(runs["triton"][1], runs["torch"][1]) < 1e-5
