"""RWKV-4 backbone and its WKV recurrence (spec 3.9, project extension)."""

from __future__ import annotations

import math

import pytest
import torch

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.rwkv import WKV, wkv, wkv_reference

SPEC = {"backbone": "rwkv", "d_model": 16, "n_layer": 3}


def _wkv_inputs(B, T, C, k_scale, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = -torch.exp(torch.linspace(-5, 3, C, dtype=dtype))  # the init's range of decays
    u = torch.randn(C, generator=g, dtype=dtype)
    k = torch.randn(B, T, C, generator=g, dtype=dtype) * k_scale
    v = torch.randn(B, T, C, generator=g, dtype=dtype)
    return w, u, k, v


@pytest.mark.parametrize("k_scale", [1.0, 3.0])
def test_wkv_fast_matches_reference_forward_and_grads(k_scale):
    """fp32 fast kernel vs float64 naive reference, relative 1e-5 (outputs and all four gradients)."""
    ins64 = [t.requires_grad_() for t in _wkv_inputs(3, 40, 8, k_scale, torch.float64)]
    grad_out = torch.randn(3, 40, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y_ref = wkv_reference(*ins64)
    g_ref = torch.autograd.grad(y_ref, ins64, grad_out)
    ins32 = [t.detach().float().requires_grad_() for t in ins64]
    y = wkv(*ins32)
    g = torch.autograd.grad(y, ins32, grad_out.float())
    for name, a, b in zip(["y", "w", "u", "k", "v"], [y, *g], [y_ref, *g_ref]):
        err = (a.double() - b).abs().max() / b.abs().max()
        assert err < 1e-5, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("T", [1, 2])
def test_wkv_very_short_sequences(T):
    ins64 = [t.requires_grad_() for t in _wkv_inputs(2, T, 4, 1.0, torch.float64)]
    y, y_ref = WKV.apply(*ins64), wkv_reference(*ins64)
    torch.testing.assert_close(y, y_ref)
    for a, b in zip(torch.autograd.grad(y.sum(), ins64), torch.autograd.grad(y_ref.sum(), ins64)):
        torch.testing.assert_close(a, b)


def test_wkv_gradcheck_float64():
    w, u, k, v = _wkv_inputs(2, 6, 3, 1.0, torch.float64, seed=3)
    assert torch.autograd.gradcheck(WKV.apply, [t.requires_grad_() for t in (w, u, k, v)])


def test_wkv_stable_for_large_keys():
    """Keys of size ~50 and decays down to -exp(3): the running-max form stays finite and correct."""
    w, u, k, v = _wkv_inputs(2, 30, 8, 50.0, torch.float64, seed=4)
    ins = [t.float().requires_grad_() for t in (w, u, k, v)]
    y = wkv(*ins)
    y.sum().backward()
    assert torch.isfinite(y).all() and all(torch.isfinite(t.grad).all() for t in ins)
    torch.testing.assert_close(y.double(), wkv_reference(w, u, k, v), rtol=0, atol=1e-3 * v.abs().max().item())


# ----------------------------------------------------------------------------- backbone contract


def _perturbed_model(seed=0):
    """The RWKV init zeroes the output projections (every block starts as the identity); perturb all
    parameters so that causality and stream tests exercise real mixing."""
    model = build_model(SPEC, token_dim=20, seed=seed).eval()
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def test_registered_and_shapes():
    assert "rwkv" in BACKBONES
    model = build_model(SPEC, token_dim=20, seed=0)
    assert model(torch.randn(3, 11, 20)).shape == (3, 11, 1)
    assert model.backbone.max_tokens is None


def test_parameter_count_formula():
    d, n_layer, mult = 64, 4, 4
    model = build_model({"backbone": "rwkv", "d_model": d, "n_layer": n_layer, "ffn_mult": mult}, 20, 0)
    per_block = 4 * d + (5 * d + 4 * d * d) + (2 * d + (2 * mult + 1) * d * d)  # ln1/ln2, time-mix, channel-mix
    expected = n_layer * per_block + 2 * d + 2 * d + (20 * d + d) + (d + 1)  # ln0, ln_out, read-in, read-out
    assert model.effective_parameters() == expected == 217_473


def test_causal():
    model = _perturbed_model()
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 20, 20, generator=g)
    t = 7
    x2 = x.clone()
    x2[:, t + 1 :] = torch.randn(2, 20 - t - 1, 20, generator=g) * 5
    with torch.no_grad():
        y, y2 = model(x), model(x2)
    assert torch.equal(y[:, : t + 1], y2[:, : t + 1])
    assert (y[:, t + 1 :] - y2[:, t + 1 :]).abs().max() > 1e-3


def test_deterministic_init_independent_of_global_rng():
    torch.manual_seed(1)
    a = build_model(SPEC, token_dim=20, seed=7)
    torch.manual_seed(2)
    b = build_model(SPEC, token_dim=20, seed=7)
    c = build_model(SPEC, token_dim=20, seed=8)
    for (n, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), n
    assert not torch.equal(a.backbone.blocks[0].att.value.weight, c.backbone.blocks[0].att.value.weight)
    x = torch.randn(2, 8, 20)
    assert torch.equal(a(x), b(x))


def test_layer_dependent_init():
    bb = build_model({"backbone": "rwkv", "d_model": 32, "n_layer": 4}, 20, 0).backbone
    att0, att3 = bb.blocks[0].att, bb.blocks[3].att
    assert att0.time_decay[0].item() == pytest.approx(-5) and att0.time_decay[-1].item() == pytest.approx(3)
    assert not torch.allclose(att0.time_decay, att3.time_decay)
    assert att0.time_first[0].item() == pytest.approx(math.log(0.3))
    assert att0.time_mix_k[0].item() == 0.0 and not torch.allclose(att0.time_mix_k, att3.time_mix_k)
    assert torch.count_nonzero(att0.output.weight) == 0 and torch.count_nonzero(bb.blocks[0].ffn.value.weight) == 0
    assert bb.blocks[0].ln0 is not None and bb.blocks[1].ln0 is None
    w = att0.value.weight
    torch.testing.assert_close(w @ w.T, torch.eye(32), rtol=0, atol=1e-5)  # orthogonal, gain 1


def test_streams_and_final_norm():
    model = _perturbed_model()
    emb = model.read_in(torch.randn(2, 10, 20))
    out, streams = model.backbone(emb, output_hidden_states=True)
    assert len(streams) == SPEC["n_layer"]
    torch.testing.assert_close(model.backbone.final_norm(streams[-1]), out)
    torch.testing.assert_close(model.backbone(emb), out)


def test_eval_forwards_identical_and_all_parameters_get_gradients():
    model = _perturbed_model()
    x = torch.randn(2, 9, 20)
    assert torch.equal(model(x), model(x))
    model.train()
    model(x).square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
