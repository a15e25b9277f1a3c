"""Park's hybrids: block patterns, attention semantics, PE, causality, sizes (spec 3.6-3.8, 3.10)."""

from __future__ import annotations

import math

import pytest
import torch

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.hybrids import CausalSelfAttention, MambaFormer, StandardHybrid
from mambaicl.models.mamba import MambaMixer

from helpers import assert_causal_with_streams


def _pattern(backbone) -> str:
    return "".join("A" if isinstance(m, CausalSelfAttention) else "M" if isinstance(m, MambaMixer) else "?"
                   for m in backbone.stack.mixers)


def test_block_patterns():
    assert _pattern(StandardHybrid(32, 4)) == "AMAM"
    assert _pattern(StandardHybrid(32, 5)) == "AMAMA"
    assert _pattern(MambaFormer(32, 4)) == "MAMAM"
    assert _pattern(MambaFormer(256, 24)) == "M" + "AM" * 12  # 25 blocks: 13 Mamba, 12 attention (D21)


def test_registry_and_spec_keys():
    sh = BACKBONES["standard_hybrid"]({"d_model": 32, "n_layer": 2, "max_tokens": 50, "n_head": 4})
    assert sh.max_tokens == 50 and sh.wpe.weight.shape == (50, 32)
    assert sh.stack.mixers[0].n_head == 4
    assert BACKBONES["standard_hybrid"]({"d_model": 32, "n_layer": 2}).max_tokens == 2048
    mf = BACKBONES["mambaformer"]({"d_model": 32, "n_layer": 2})
    assert mf.max_tokens is None and mf.wpe is None
    assert mf.stack.mixers[1].n_head == 8  # Park's hard-coded head count is the default
    for bb in (sh, mf):
        assert all(isinstance(n, torch.nn.LayerNorm) for n in [*bb.stack.norms, bb.stack.norm_f])


def test_attention_matches_explicit_causal_softmax():
    attn = CausalSelfAttention(16, n_head=4)
    attn.reset_parameters(torch.Generator().manual_seed(0))
    with torch.no_grad():  # non-zero biases so that they are exercised
        for lin in (attn.c_attn, attn.c_proj):
            lin.bias.uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(1))
    x = torch.randn(2, 7, 16, generator=torch.Generator().manual_seed(2))
    q, k, v = attn.c_attn(x).split(16, dim=-1)
    heads = lambda t: t.view(2, 7, 4, 4).transpose(1, 2)  # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    scores = q @ k.transpose(-1, -2) / math.sqrt(4)
    scores = scores.masked_fill(torch.ones(7, 7, dtype=torch.bool).triu(1), float("-inf"))
    ref = attn.c_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 7, 16))
    assert torch.allclose(attn(x), ref, atol=1e-6)


def test_initialisation():
    model = build_model({"backbone": "standard_hybrid", "d_model": 32, "n_layer": 4, "max_tokens": 40},
                        token_dim=5, seed=0)
    attn, mamba = model.backbone.stack.mixers[0], model.backbone.stack.mixers[1]
    assert set(attn.state_dict()) == {"c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias"}
    assert torch.count_nonzero(attn.c_attn.bias) == 0 and torch.count_nonzero(attn.c_proj.bias) == 0
    bound = 1 / math.sqrt(32)  # default Linear weights; c_proj not rescaled (spec 3.6)
    assert 0.9 * bound < attn.c_proj.weight.abs().max() <= bound
    mbound = 1 / math.sqrt(64) / math.sqrt(4)  # Mamba out_proj rescaled by sqrt(n_layer)
    assert 0.9 * mbound < mamba.out_proj.weight.abs().max() <= mbound
    pe = model.backbone.wpe.weight
    assert 0.015 < pe.std().item() < 0.025  # normal(0, 0.02)


@pytest.mark.parametrize("name", ["standard_hybrid", "mambaformer"])
def test_shapes_causality_hidden_states_determinism(name):
    spec = {"backbone": name, "d_model": 16, "n_layer": 2, "n_head": 2, "max_tokens": 12}
    model = build_model(spec, token_dim=4, seed=0)
    x, y, _, streams = assert_causal_with_streams(model, token_dim=4, length=12, cut_points=(0, 4, 9))
    assert len(streams) == len(model.backbone.stack.mixers) == (2 if name == "standard_hybrid" else 3)
    again = build_model(spec, token_dim=4, seed=0)
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    assert torch.equal(again(x), y)
    assert not torch.equal(build_model(spec, token_dim=4, seed=1)(x), y)


def test_positional_encoding_is_used_and_bounded():
    model = build_model({"backbone": "standard_hybrid", "d_model": 16, "n_layer": 2, "max_tokens": 10},
                        token_dim=4, seed=0)
    assert model.max_tokens == 10
    x = torch.zeros(1, 6, 4)  # identical tokens: only the PE tells positions apart before attention
    with torch.no_grad():
        model.backbone.wpe.weight.zero_()
        flat = model(x)
        model.backbone.wpe.weight.normal_(0, 1, generator=torch.Generator().manual_seed(0))
        assert not torch.allclose(model(x), flat)
    with pytest.raises(ValueError, match="at most 10 tokens"):
        model(torch.zeros(1, 11, 4))


@pytest.mark.parametrize(
    "spec, token_dim, expected",
    [
        # Park, n_layer 4 at 128, PE of 101 rows as released; minus the release's unused 1 x d embedding
        ({"backbone": "standard_hybrid", "max_tokens": 101}, 20, 382_209 - 128),
        ({"backbone": "mambaformer"}, 20, 486_017 - 128),
        ({"backbone": "mambaformer", "d_model": 256, "n_layer": 24}, 10, 8_865_537 - 256),  # parity config
    ],
)
def test_effective_parameter_counts(spec, token_dim, expected):
    spec = {"d_model": 128, "n_layer": 4, **spec}
    model = build_model(spec, token_dim=token_dim, seed=0)
    assert model.effective_parameters() == expected
    d, n = spec["d_model"], spec["n_layer"]
    mamba, attn = 6.25 * d * d + 110 * d + 2 * d, 4 * d * d + 4 * d + 2 * d  # mixer + its LayerNorm
    n_attn = (n + 1) // 2 if spec["backbone"] == "standard_hybrid" else n // 2
    n_mamba = len(model.backbone.stack.mixers) - n_attn
    pe = spec.get("max_tokens", 0) * d
    assert expected == n_mamba * mamba + n_attn * attn + 2 * d + token_dim * d + d + d + 1 + pe
