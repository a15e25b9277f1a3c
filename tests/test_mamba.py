"""Mamba-1: selective scan against a sequential reference, mixer semantics, init, naming, sizes (spec 3.2, 3.10)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.mamba import (
    MambaBackbone,
    MambaMixer,
    _SelectiveScanFn,
    from_mamba_ssm_state_dict,
    kernels_available,
    selective_scan,
    selective_scan_cpu,
    selective_scan_ref,
)

from helpers import assert_causal_with_streams

MAMBA_SSM_MIXER_SHAPES = {  # mamba-ssm 1.1.1 ``Mamba`` at d_model d, expand 2, d_state 16, d_conv 4
    "in_proj.weight": lambda d: (4 * d, d),
    "conv1d.weight": lambda d: (2 * d, 1, 4),
    "conv1d.bias": lambda d: (2 * d,),
    "x_proj.weight": lambda d: (math.ceil(d / 16) + 32, 2 * d),
    "dt_proj.weight": lambda d: (2 * d, math.ceil(d / 16)),
    "dt_proj.bias": lambda d: (2 * d,),
    "A_log": lambda d: (2 * d, 16),
    "D": lambda d: (2 * d,),
    "out_proj.weight": lambda d: (d, 2 * d),
}


def _scan_inputs(b, d, n, L, dtype, seed=0, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    inputs = dict(
        u=r(b, d, L), delta=r(b, d, L) - 1.0, A=-torch.rand(d, n, generator=g, dtype=dtype) * 8 - 0.1,
        B=r(b, n, L), C=r(b, n, L), D=r(d), z=r(b, d, L), delta_bias=0.5 * r(d),
    )
    return {k: v.requires_grad_(requires_grad) for k, v in inputs.items()}


def _run(fn, x):
    return fn(x["u"], x["delta"], x["A"], x["B"], x["C"], x["D"], z=x["z"], delta_bias=x["delta_bias"],
              delta_softplus=True)


def _rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("chunk_bytes", [None, 3 * 4 * 16 * 5 * 4])  # default chunking, and chunks of 5 steps
def test_cpu_scan_matches_reference_forward_and_grads(monkeypatch, chunk_bytes):
    if chunk_bytes:
        monkeypatch.setattr(_SelectiveScanFn, "chunk_bytes", chunk_bytes)
    x32 = _scan_inputs(3, 16, 4, 23, torch.float32)  # 23 steps: with 5-step chunks the last one is partial
    x64 = {k: v.detach().double().requires_grad_() for k, v in x32.items()}
    y = _run(selective_scan_cpu, x32)
    y_ref = _run(selective_scan_ref, x64)
    assert y.dtype == torch.float32 and y.shape == (3, 16, 23)
    assert _rel(y, y_ref) < 1e-5
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(y, list(x32.values()), dy)
    grads_ref = torch.autograd.grad(y_ref, list(x64.values()), dy.double())
    for name, g, g_ref in zip(x32, grads, grads_ref):
        assert _rel(g, g_ref) < 1e-5, name


def test_time_chunks_change_no_value_and_are_whole_sequences_on_cuda(monkeypatch):
    class Standard:  # the standard Mamba's scan input at the nonlinear tasks' final length: (L, b, d_inner)
        shape, is_cuda = (202, 64, 512), True

        @staticmethod
        def element_size():
            return 4

    assert _SelectiveScanFn._chunk(Standard, 16) == 202  # CUDA: one chunk per sequence (launches per chunk)
    Standard.is_cuda = False
    assert _SelectiveScanFn._chunk(Standard, 16) == 2  # CPU: buffers under the 32 MB mmap threshold
    x = _scan_inputs(3, 16, 4, 23, torch.float32)
    y_whole = _run(selective_scan_cpu, x)  # 23 steps in one chunk at the default 4 MB
    dy = torch.randn(y_whole.shape, generator=torch.Generator().manual_seed(1))
    g_whole = torch.autograd.grad(y_whole, list(x.values()), dy)
    monkeypatch.setattr(_SelectiveScanFn, "chunk_bytes", 3 * 4 * 16 * 5 * 4)  # 5-step chunks
    y = _run(selective_scan_cpu, x)
    assert torch.equal(y, y_whole)  # every time step runs the same ops whatever the chunk
    for g, gw in zip(torch.autograd.grad(y, list(x.values()), dy), g_whole):
        torch.testing.assert_close(g, gw, rtol=1e-5, atol=1e-6)  # sums over time (dA) group per chunk: rounding


def test_cpu_scan_realistic_size_exact():
    # the benchmark's layer size; the float64 reference is the ground truth
    x32 = _scan_inputs(8, 128, 16, 40, torch.float32, seed=3)
    x64 = {k: v.detach().double().requires_grad_() for k, v in x32.items()}
    y, y_ref = _run(selective_scan_cpu, x32), _run(selective_scan_ref, x64)
    assert _rel(y, y_ref) < 1e-5
    grads = torch.autograd.grad(y.square().sum(), list(x32.values()))
    grads_ref = torch.autograd.grad(y_ref.square().sum(), list(x64.values()))
    for name, g, g_ref in zip(x32, grads, grads_ref):
        assert _rel(g, g_ref) < 1e-5, name


def test_cpu_scan_gradcheck_float64(monkeypatch):
    monkeypatch.setattr(_SelectiveScanFn, "chunk_bytes", 2 * 3 * 2 * 2 * 8)  # 2-step chunks in float64
    x = _scan_inputs(2, 3, 2, 5, torch.float64, seed=2)
    names = list(x)

    def f(*args):
        kw = dict(zip(names, args))
        return selective_scan_cpu(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"], kw["D"], z=kw["z"],
                                  delta_bias=kw["delta_bias"], delta_softplus=True)

    assert torch.autograd.gradcheck(f, tuple(x.values()), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_dispatch_uses_cpu_path_on_cpu():
    x = _scan_inputs(2, 4, 3, 6, torch.float32, requires_grad=False)
    assert torch.equal(_run(selective_scan, x), _run(selective_scan_cpu, x))


def _mixer_reference(m: MambaMixer, x: torch.Tensor) -> torch.Tensor:
    """mamba-ssm's unfused path written plainly: channels-first conv, sequential scan."""
    L = x.shape[1]
    xs, z = m.in_proj(x).transpose(1, 2).chunk(2, dim=1)  # (b, d_inner, L) each
    xs = F.silu(m.conv1d(xs)[..., :L])
    dt, B, C = m.x_proj(xs.transpose(1, 2)).split([m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = torch.einsum("dr,blr->bdl", m.dt_proj.weight, dt)
    y = selective_scan_ref(xs, dt, -torch.exp(m.A_log), B.transpose(1, 2), C.transpose(1, 2), m.D, z=z,
                           delta_bias=m.dt_proj.bias, delta_softplus=True)
    return m.out_proj(y.transpose(1, 2))


def test_mixer_matches_channels_first_reference():
    m = MambaMixer(24)
    m.reset_parameters(torch.Generator().manual_seed(0), n_layer=2)
    with torch.no_grad():  # make every path matter: non-trivial conv, D and dt
        m.D.uniform_(-1, 1, generator=torch.Generator().manual_seed(5))
    x = torch.randn(3, 11, 24, generator=torch.Generator().manual_seed(1))
    y = m(x)
    y_ref = _mixer_reference(m, x)
    assert y.shape == (3, 11, 24)
    assert _rel(y, y_ref) < 1e-5
    g = torch.autograd.grad(y.square().sum(), list(m.parameters()))
    g_ref = torch.autograd.grad(y_ref.square().sum(), list(m.parameters()))
    for (name, _), a, b in zip(m.named_parameters(), g, g_ref):
        assert _rel(a, b) < 1e-4, name


def test_kernels_path_on_cpu_twins_equals_the_torch_path(monkeypatch):
    """The mixer's kernels path (mamba-ssm's scan and causal-conv1d's conv, here their plain-PyTorch twins
    ``selective_scan_ref`` and ``causal_conv1d_ref``, which the pack tests and bench_fusion.py stand in with) gives
    the torch path's values and gradients: the twins and the kernels path's wiring agree with the CPU model."""
    from mambaicl.models import implementation, mamba

    m = MambaMixer(24)
    m.reset_parameters(torch.Generator().manual_seed(0), n_layer=2)
    with torch.no_grad():
        m.D.uniform_(-1, 1, generator=torch.Generator().manual_seed(5))
    x = torch.randn(3, 11, 24, generator=torch.Generator().manual_seed(1))
    y = m(x)
    g = torch.autograd.grad(y.square().sum(), list(m.parameters()))
    for mod in (implementation, mamba):
        monkeypatch.setattr(mod, "_kernel_scan", selective_scan_ref)
        monkeypatch.setattr(mod, "_kernel_conv", mamba.causal_conv1d_ref)
    monkeypatch.setattr(mamba, "resolve_scan", lambda scan, device: "kernels")
    y_k = m(x)
    g_k = torch.autograd.grad(y_k.square().sum(), list(m.parameters()))
    assert _rel(y_k, y) < 1e-5
    for (name, _), a, b in zip(m.named_parameters(), g_k, g):
        assert _rel(a, b) < 1e-4, name


@pytest.mark.parametrize("d", [64, 256])
def test_mixer_parameter_names_and_shapes_equal_mamba_ssm(d):
    m = MambaMixer(d)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {
        k: f(d) for k, f in MAMBA_SSM_MIXER_SHAPES.items()}
    assert m.dt_rank == math.ceil(d / 16) and m.d_inner == 2 * d
    assert m.conv1d.groups == m.d_inner and m.conv1d.padding == (3,)


def test_mamba_ssm_state_dict_moves_in():
    model = build_model({"backbone": "mamba", "d_model": 32, "n_layer": 2}, token_dim=5, seed=0)
    ours = model.backbone.state_dict()
    # the same weights under mamba-ssm MixerModel names, as MambaLMHeadModel would save them
    theirs = {"backbone.embedding.weight": torch.zeros(1, 32), "lm_head.weight": torch.zeros(1, 32)}
    for key, value in ours.items():
        parts = key.split(".")
        if parts[1] in ("mixers", "norms"):
            kind = "mixer" if parts[1] == "mixers" else "norm"
            theirs[".".join(["backbone.layers", parts[2], kind, *parts[3:]])] = value + 1
        else:
            theirs["backbone." + ".".join(parts[1:])] = value + 1
    fresh = MambaBackbone(32, 2)
    fresh.load_state_dict(from_mamba_ssm_state_dict(theirs), strict=True)
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, ours[key] + 1), key


def test_initialisation_follows_mamba_ssm():
    n_layer = 4
    model = build_model({"backbone": "mamba", "d_model": 64, "n_layer": n_layer}, token_dim=5, seed=0)
    m = model.backbone.stack.mixers[1]
    assert torch.allclose(m.A_log, torch.log(torch.arange(1, 17.0)).expand(128, 16))
    assert torch.equal(m.D, torch.ones(128))
    bound = m.dt_rank ** -0.5
    assert m.dt_proj.weight.abs().max() <= bound and m.dt_proj.weight.abs().max() > 0.8 * bound
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    assert dt.max() / dt.min() > 10  # log-uniform over two decades, not a constant
    out_bound = 1 / math.sqrt(128) / math.sqrt(n_layer)
    assert m.out_proj.weight.abs().max() <= out_bound and m.out_proj.weight.abs().max() > 0.9 * out_bound
    assert m.conv1d.bias.abs().max() <= 0.5 and m.conv1d.bias.abs().max() > 0  # Conv1d default, not zeroed
    in_bound = 1 / math.sqrt(64)
    assert m.in_proj.weight.abs().max() <= in_bound and m.in_proj.weight.abs().max() > 0.9 * in_bound
    norm = model.backbone.stack.norms[0]
    assert type(norm).__name__ == "RMSNorm" and torch.equal(norm.weight, torch.ones(64))


def test_init_uses_only_the_given_generator_and_is_deterministic():
    spec = {"backbone": "mamba", "d_model": 16, "n_layer": 2}
    torch.manual_seed(123)
    a = build_model(spec, token_dim=4, seed=7)
    torch.manual_seed(999)  # a different global RNG state must not change anything
    b = build_model(spec, token_dim=4, seed=7)
    c = build_model(spec, token_dim=4, seed=8)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    x = torch.randn(2, 9, 4)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))


def test_shapes_causality_and_hidden_states():
    model = build_model({"backbone": "mamba", "d_model": 16, "n_layer": 3, "norm": "layer"}, token_dim=4, seed=0)
    assert model.max_tokens is None
    x, _, out, streams = assert_causal_with_streams(model, token_dim=4, length=12, cut_points=(0, 5, 10))
    assert len(streams) == 3 and all(s.shape == (2, 12, 16) for s in streams)
    assert torch.equal(out, model.backbone(model.read_in(x)))


def test_registry_builder_reads_spec_keys():
    bb = BACKBONES["mamba"]({"d_model": 32, "n_layer": 2, "norm": "layer", "d_state": 8, "d_conv": 3, "expand": 3})
    m = bb.stack.mixers[0]
    assert (m.d_state, m.d_conv, m.d_inner) == (8, 3, 96)
    assert isinstance(bb.stack.norm_f, torch.nn.LayerNorm)
    assert isinstance(BACKBONES["mamba"]({"d_model": 32, "n_layer": 1}).stack.norm_f, type(BACKBONES["mamba"](
        {"d_model": 8, "n_layer": 1, "norm": "rms"}).stack.norm_f))


@pytest.mark.parametrize(
    "spec, token_dim, expected",
    [
        ({"d_model": 256, "n_layer": 24}, 20, 10_518_273),  # Grazzi standard (RMSNorm)
        ({"d_model": 128, "n_layer": 12}, 20, 1_402_241),  # Grazzi small
        ({"d_model": 64, "n_layer": 6}, 20, 197_697),  # Grazzi tiny
        ({"d_model": 128, "n_layer": 4, "norm": "layer"}, 20, 470_145 - 128),  # Park example, minus unused 1 x d
        ({"d_model": 256, "n_layer": 24, "norm": "layer"}, 10, 10_522_369 - 256),  # Park parity, minus unused 1 x d
    ],
)
def test_effective_parameter_counts(spec, token_dim, expected):
    model = build_model({"backbone": "mamba", **spec}, token_dim=token_dim, seed=0)
    assert model.effective_parameters() == expected
    d = spec["d_model"]
    norm = 2 * d if spec.get("norm") == "layer" else d
    assert expected == spec["n_layer"] * (6.25 * d * d + 110 * d + norm) + norm + token_dim * d + d + d + 1


@pytest.mark.cuda
@pytest.mark.skipif(not kernels_available(), reason="needs CUDA and mamba-ssm + causal-conv1d")
@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-4), (torch.float16, 3e-3), (torch.bfloat16, 3e-2)])
def test_cuda_kernels_match_cpu_path(dtype, rtol):
    x = {k: v.detach().cuda() for k, v in _scan_inputs(4, 64, 16, 97, torch.float32, seed=4).items()}
    for k in ("u", "delta", "B", "C", "z"):
        x[k] = x[k].to(dtype)
    x = {k: v.requires_grad_() for k, v in x.items()}
    y_kernel = _run(selective_scan, x)
    y_cpu = _run(selective_scan_cpu, x)
    assert _rel(y_kernel, y_cpu) < rtol
    g_kernel = torch.autograd.grad(y_kernel.float().square().sum(), list(x.values()))
    g_cpu = torch.autograd.grad(y_cpu.float().square().sum(), list(x.values()))
    for name, a, b in zip(x, g_kernel, g_cpu):
        assert _rel(a, b) < 10 * rtol, name
    # whole mixer: kernel path vs the pure-PyTorch path on the same CUDA weights
    m = MambaMixer(64)
    m.reset_parameters(torch.Generator().manual_seed(0), n_layer=2)  # a CPU generator draws on CPU weights
    m = m.cuda()
    h = torch.randn(2, 33, 64, device="cuda")
    y_fast = m(h)
    m.use_kernels = False
    assert _rel(y_fast, m(h)) < 1e-4


def test_cpu_scan_half_precision_inputs_compute_in_float32():
    x = _scan_inputs(2, 8, 4, 9, torch.float32, seed=6, requires_grad=False)
    xb = {k: (v.bfloat16() if k in ("u", "delta", "B", "C", "z") else v) for k, v in x.items()}
    y = _run(selective_scan_cpu, xb)
    assert y.dtype == torch.bfloat16
    y_ref = _run(selective_scan_ref, {k: v.double() for k, v in xb.items()})  # same rounded inputs, float64
    assert _rel(y, y_ref) < 1e-2  # only the output rounding to bfloat16 remains


def test_scan_implementation_is_named_and_a_missing_kernel_is_loud():
    """Every training and evaluation job logs this line; on CUDA without the kernels it is a WARNING naming
    the import error and the fix (a fallback never happens silently)."""
    from mambaicl.models import build_model
    from mambaicl.models.mamba import kernels_available, scan_implementation, triton_unavailable

    mamba = build_model({"backbone": "mamba", "d_model": 16, "n_layer": 2}, token_dim=3, seed=0)
    assert scan_implementation(mamba, "cpu") == "implementation: 2 Mamba blocks on the package's own PyTorch scan (CPU path)"
    gpt2 = build_model({"backbone": "gpt2", "d_model": 16, "n_layer": 2, "n_head": 2}, token_dim=3, seed=0)
    assert scan_implementation(gpt2, "cpu") is None
    if not kernels_available():
        line = scan_implementation(mamba, "cuda")
        if triton_unavailable("cuda") is None:  # scan: auto falls back to the Triton scan, naming why
            assert "Triton selective scan" in line and "mamba-ssm" in line and not line.startswith("WARNING")
        else:
            assert line.startswith("WARNING") and "mamba-ssm" in line and "README" in line
