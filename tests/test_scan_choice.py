"""The config's ``scan`` key: auto keeps CPU runs on the PyTorch path (bit for bit), and an implementation asked for
by name that cannot run is a ConfigError naming the install step, never a silent fallback. No triton needed."""

import copy
import sys

import pytest
import torch

from mambaicl.config import load_yaml
from mambaicl.errors import ConfigError
from mambaicl.models import build_model
from mambaicl.models.mamba import (
    check_scan,
    kernels_available,
    resolve_scan,
    resolve_wkv,
    scan_implementation,
    set_scan,
)
from mambaicl.validation import check_host, validate


@pytest.fixture
def smoke(repo):
    return load_yaml(repo / "workflow" / "config" / "smoke.yaml")


def _tiny(backbone):
    return build_model({"backbone": backbone, "d_model": 8, "n_layer": 1}, token_dim=3, seed=0)


def test_auto_on_cpu_runs_the_torch_path_bit_for_bit():
    assert resolve_scan("auto", "cpu") == "torch" and resolve_wkv("auto", "cpu") == "torch"
    x = torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(0))
    for backbone in ("mamba", "rwkv"):
        model = _tiny(backbone)
        y_default = model.backbone(x)
        set_scan(model, "torch", "cpu")
        assert torch.equal(y_default, model.backbone(x))
        set_scan(model, "auto", "cpu")
        assert torch.equal(y_default, model.backbone(x))
    lines = scan_implementation(_tiny("rwkv"), "cpu")
    assert lines == "implementation: 1 RWKV blocks on the package's own PyTorch WKV (CPU path, scan: auto)"
    assert "own PyTorch scan (CPU path)" in scan_implementation(_tiny("mamba"), "cpu")


def test_use_kernels_is_scan_torch():
    model = _tiny("mamba")
    mixer = model.backbone.stack.mixers[0]
    mixer.use_kernels = False
    assert mixer.scan == "torch"
    mixer.use_kernels = True
    assert mixer.scan == "auto"


def test_triton_requested_without_triton_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` now raises ImportError
    for device in ("cpu", "cuda"):
        with pytest.raises(ConfigError) as info:
            check_scan("triton", device)
        msg = str(info.value)
        assert "'scan' = triton" in msg and "pip install triton" in msg and "scan: auto" in msg
    model = _tiny("rwkv")
    with pytest.raises(ConfigError, match="pip install triton"):
        set_scan(model, "triton", "cpu")
    model.backbone.blocks[0].att.scan = "triton"  # set without a check: the forward refuses, never falls back
    with pytest.raises(ConfigError, match="pip install triton"):
        model.backbone(torch.zeros(1, 3, 8))


def test_triton_requested_on_cpu_without_the_interpreter(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        check_scan("triton", "cpu")


@pytest.mark.skipif(kernels_available(), reason="mamba-ssm's kernels are installed here")
def test_kernels_requested_where_they_cannot_run():
    with pytest.raises(ConfigError, match="need a CUDA device"):
        resolve_scan("kernels", "cpu")
    with pytest.raises(ConfigError) as info:
        resolve_scan("kernels", "cuda")
    assert "pip install -e .[cuda]" in str(info.value)
    assert resolve_wkv("kernels", "cpu") == "torch"  # mamba-ssm has no WKV: RWKV stays on PyTorch


def test_the_config_key(smoke, monkeypatch):
    validate(copy.deepcopy(smoke))  # no scan key: auto, as before
    bad = copy.deepcopy(smoke)
    bad["scan"] = "fused"
    with pytest.raises(ConfigError, match="choose from: auto, kernels, triton, torch"):
        validate(bad)
    kernels_on_cpu = copy.deepcopy(smoke)  # smoke runs on device: cpu
    kernels_on_cpu["scan"] = "kernels"
    with pytest.raises(ConfigError, match="'scan' = kernels needs a CUDA GPU"):
        validate(kernels_on_cpu)
    monkeypatch.setitem(sys.modules, "triton", None)
    triton_cfg = copy.deepcopy(smoke)
    triton_cfg["scan"] = "triton"
    validate(triton_cfg)  # a dry run plans it on any host
    with pytest.raises(ConfigError, match="pip install triton"):
        check_host(triton_cfg)  # the workflow's onstart, before the first job
