"""The GPU path's one-kernel norms and activations (models.fused_ops): the same math as the elementwise forms
within float rounding; switched on for CUDA only, so CPU results stay bit-identical."""

import copy

import pytest
import torch

from mambaicl.models import build_model
from mambaicl.models.blocks import RMSNorm
from mambaicl.models.fused_ops import fuse_for_device, log_fused_ops

SPECS = {"gpt2": {"backbone": "gpt2", "d_model": 16, "n_layer": 2, "n_head": 2},
         "mamba": {"backbone": "mamba", "d_model": 16, "n_layer": 2}}  # the hybrids' LayerNorm is one kernel already


@pytest.mark.parametrize("name", SPECS)
def test_fused_forms_match_the_elementwise_forms(name):
    model = build_model(SPECS[name], token_dim=5, seed=0)
    fused = copy.deepcopy(model)
    switched = fuse_for_device(fused, "cuda")  # switches the modules; the math runs here on the CPU
    assert switched, "nothing to fuse in " + name
    x = torch.randn(3, 12, 5, generator=torch.Generator().manual_seed(1))
    a, b = model(x), fused(x)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    (a.square().sum()).backward()
    (b.square().sum()).backward()
    for (n, p), q in zip(model.named_parameters(), fused.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_cpu_keeps_the_elementwise_forms(capsys):
    model = build_model(SPECS["gpt2"], token_dim=5, seed=0)
    before = copy.deepcopy(model)
    log_fused_ops(model, "cpu")
    assert "fused ops: none" in capsys.readouterr().out
    x = torch.randn(2, 6, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(x), before(x))


def test_fused_rms_norm_keeps_mixed_dtypes_on_the_promoting_form():
    norm = RMSNorm(8)
    norm.fused = True
    x = torch.randn(2, 8, dtype=torch.bfloat16)
    assert norm(x).dtype == torch.float32  # bf16 input, fp32 weight: promoted as the elementwise form does
