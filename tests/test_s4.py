"""S4D layer and the S4 backbones (spec 3.3-3.5, 3.10)."""

from __future__ import annotations

import math

import pytest
import torch

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.s4 import S4DConv, S4DLayer, S4MambaMixer, causal_fft_conv

SMALL = {
    "s4": {"backbone": "s4", "d_model": 16, "n_layer": 2, "d_state": 8},
    "s4_park": {"backbone": "s4_park", "d_model": 16, "n_layer": 2},
    "s4_mamba": {"backbone": "s4_mamba", "d_model": 16, "n_layer": 2},
}


def _perturb_(model: torch.nn.Module, seed: int = 123) -> None:
    """Random values in every parameter, so that no test passes because of a special init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "spec, expected",
    [
        # spec 3.10 / reference/param_counts.csv: G's S4, standard, small, tiny (N = 64)
        ({"backbone": "s4", "d_model": 435, "n_layer": 24, "d_state": 64, "learning_rate": 1e-3}, 10_491_331),
        ({"backbone": "s4", "d_model": 128, "n_layer": 12}, 601_857),
        ({"backbone": "s4", "d_model": 64, "n_layer": 6}, 102_017),
        # Park's release counts include its unused 1 x d embedding (128 at d = 128), which we do not allocate.
        ({"backbone": "s4_park", "d_model": 128, "n_layer": 4}, 153_729 - 128),
        ({"backbone": "s4_mamba", "d_model": 128, "n_layer": 4}, 437_377 - 128),
    ],
)
def test_effective_parameter_counts(spec, expected):
    assert build_model(spec, token_dim=20, seed=0).effective_parameters() == expected


@pytest.mark.parametrize("h, n", [(435, 64), (128, 16), (10, 4)])
def test_s4d_layer_parameter_formula(h, n):
    layer = S4DLayer(h, n)
    assert sum(p.numel() for p in layer.parameters()) == 2 * h * h + 2 * h * n + 4 * h


@pytest.mark.parametrize("d", [128, 32])
def test_s4_mamba_mixer_parameter_formula(d):
    mixer = S4MambaMixer(d)
    assert sum(p.numel() for p in mixer.parameters()) == 6 * d * d + 78 * d


# ----------------------------------------------------------------------------- the convolution


def test_fft_conv_equals_direct_causal_convolution():
    g = torch.Generator().manual_seed(0)
    B, L, H = 3, 37, 5
    u = torch.randn(B, L, H, generator=g, dtype=torch.float64)
    k = torch.randn(L, H, generator=g, dtype=torch.float64)
    direct = torch.zeros(B, L, H, dtype=torch.float64)
    for t in range(L):
        for s in range(t + 1):
            direct[:, t] += k[t - s] * u[:, s]
    torch.testing.assert_close(causal_fft_conv(u, k), direct, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_fft_conv_takes_half_precision_inputs(dtype):
    """bf16 training ran into "Unsupported dtype BFloat16" on the GPU (and on CPU): the FFT runs in float32."""
    g = torch.Generator().manual_seed(1)
    u, k = torch.randn(2, 37, 5, generator=g), torch.randn(37, 5, generator=g)
    y = causal_fft_conv(u.to(dtype), k.to(dtype))
    assert y.dtype == dtype
    ref = causal_fft_conv(u.to(dtype).double(), k.to(dtype).double())
    assert ((y.double() - ref).norm() / ref.norm()).item() < 1e-2


@pytest.mark.parametrize("name", ["s4", "s4_park", "s4_mamba"])
def test_s4_backbones_run_under_bf16_autocast(name):
    model = build_model({"backbone": name, "d_model": 16, "n_layer": 2}, token_dim=3, seed=0)
    x = torch.randn(2, 11, 3, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    out.float().square().mean().backward()
    assert torch.isfinite(out.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_s4d_kernel_matches_zoh_recurrence():
    """K * u + D u equals running the ZOH-discretised diagonal SSM step by step."""
    H, N, B, L = 4, 8, 2, 30
    conv = S4DConv(H, N).double()
    conv.reset_parameters(torch.Generator().manual_seed(1))
    with torch.no_grad():
        conv.kernel.log_dt.fill_(math.log(0.3))  # a coarse step so the test is not trivially near-identity
    u = torch.randn(B, L, H, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    kern = conv.kernel
    dt = torch.exp(kern.log_dt)[:, None]
    A = torch.complex(-torch.exp(kern.log_A_real), kern.A_imag)
    C = torch.view_as_complex(kern.C.contiguous())
    dA, dB = torch.exp(dt * A), (torch.exp(dt * A) - 1) / A
    state = torch.zeros(B, H, N // 2, dtype=torch.complex128)
    ys = []
    for t in range(L):
        state = dA * state + dB * u[:, t, :, None]
        ys.append(2 * (C * state).sum(-1).real + conv.D * u[:, t])
    with torch.no_grad():
        torch.testing.assert_close(conv(u), torch.stack(ys, 1), rtol=1e-9, atol=1e-9)


def test_s4d_init_values():
    conv = S4DConv(50, 64)
    conv.reset_parameters(torch.Generator().manual_seed(0))
    k = conv.kernel
    assert torch.allclose(k.log_A_real, torch.full_like(k.log_A_real, math.log(0.5)))
    assert torch.allclose(k.A_imag[3], math.pi * torch.arange(32, dtype=torch.float32))
    dt = torch.exp(k.log_dt)
    assert dt.min() >= 1e-3 and dt.max() <= 1e-1


# ----------------------------------------------------------------------------- backbone contract


@pytest.mark.parametrize("name", sorted(SMALL))
def test_registered_and_shapes(name):
    assert name in BACKBONES
    model = build_model(SMALL[name], token_dim=20, seed=0)
    out = model(torch.randn(3, 11, 20))
    assert out.shape == (3, 11, 1)
    assert model.backbone.max_tokens is None


@pytest.mark.parametrize("name", sorted(SMALL))
def test_causal(name):
    model = build_model(SMALL[name], token_dim=20, seed=0).eval()
    _perturb_(model)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 24, 20, generator=g)
    t = 9
    x2 = x.clone()
    x2[:, t + 1 :] = torch.randn(2, 24 - t - 1, 20, generator=g) * 5
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    # FFT round-off couples all positions at the 1e-7 level; a real leak would be O(1).
    torch.testing.assert_close(y[:, : t + 1], y2[:, : t + 1], rtol=0, atol=1e-5)
    assert (y[:, t + 1 :] - y2[:, t + 1 :]).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_init_independent_of_global_rng(name):
    torch.manual_seed(1)
    a = build_model(SMALL[name], token_dim=20, seed=7)
    torch.manual_seed(999)
    b = build_model(SMALL[name], token_dim=20, seed=7)
    c = build_model(SMALL[name], token_dim=20, seed=8)
    for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), na
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))
    x = torch.randn(2, 8, 20)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", sorted(SMALL))
def test_streams_and_final_norm(name):
    model = build_model(SMALL[name], token_dim=20, seed=0).eval()
    emb = model.read_in(torch.randn(2, 10, 20))
    out, streams = model.backbone(emb, output_hidden_states=True)
    assert len(streams) == SMALL[name]["n_layer"]
    torch.testing.assert_close(model.backbone.final_norm(streams[-1]), out)
    torch.testing.assert_close(model.backbone(emb), out)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_dropout_only_in_train_mode(name):
    spec = {**SMALL[name], "dropout": 0.3}
    model = build_model(spec, token_dim=20, seed=0)
    x = torch.randn(4, 12, 20)
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x), model(x)
    assert torch.equal(e1, e2)
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        t1 = model(x)
    assert not torch.allclose(t1, e1)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_masks_drawn_ahead_are_the_forward_s_own(name):
    """DropoutAhead (train.compile) draws each module's mask before the step, in the order the forward calls them
    (Grazzi's S4 calls layer l's inner dropout, then its residual dropout: not the modules' registration order):
    the same outputs and the same generator state as masks drawn in the forward, over several steps."""
    from mambaicl.models.base import DropoutAhead, set_dropout_generator

    spec = {**SMALL[name], "dropout": 0.3}
    x = torch.randn(4, 12, 20, generator=torch.Generator().manual_seed(1))
    outs, states = [], []
    for ahead in (False, True):
        model = build_model(spec, token_dim=20, seed=0).train()
        gen = torch.Generator().manual_seed(5)
        set_dropout_generator(model, gen)
        drawer = DropoutAhead(model, "cpu") if ahead else None
        got = []
        for _ in range(3):
            if drawer:
                drawer(4)
            with torch.no_grad():
                got.append(model(x))
        if drawer:
            assert len(drawer.calls) == spec["n_layer"] * (2 if name == "s4" else 1)
            drawer.close()
            assert all(m.drawn is None for m, _ in drawer.calls)
        outs.append(got)
        states.append(gen.get_state())
    assert all(torch.equal(a, b) for a, b in zip(*outs))
    assert torch.equal(*states)
    assert "drawn" not in "".join(model.state_dict())  # never saved with the weights


def test_a_mask_drawn_for_another_shape_is_an_error():
    from mambaicl.models.base import DropoutAhead

    model = build_model({**SMALL["s4"], "dropout": 0.3}, token_dim=20, seed=0).train()
    DropoutAhead(model, "cpu")(3)
    with pytest.raises(RuntimeError, match="drawn ahead"):
        model(torch.randn(4, 12, 20))


def test_default_dropouts():
    s4 = build_model({"backbone": "s4", "d_model": 8, "n_layer": 1}, 4, 0).backbone
    assert s4.dropouts[0].p == 0.1 and s4.layers[0].dropout.p == 0.1
    park = build_model({"backbone": "s4_park", "d_model": 8, "n_layer": 1}, 4, 0).backbone
    assert park.stack.mixers[0].dropout.p == 0.0
    s4m = build_model({"backbone": "s4_mamba", "d_model": 8, "n_layer": 1}, 4, 0).backbone
    assert s4m.stack.mixers[0].dropout.p == 0.1


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_parameter_gets_a_gradient(name):
    model = build_model(SMALL[name], token_dim=20, seed=0)
    model(torch.randn(2, 9, 20)).square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
