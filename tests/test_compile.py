"""train.compile: torch.compile of the training step agrees with eager within float rounding (one run and a pack,
through shape changes of the curriculum and a resume), the mode is checked before any job, eager is untouched."""

import copy
import subprocess
import sys

import pytest
import torch

from mambaicl.config import load_yaml
from mambaicl.errors import ConfigError, DeviceError
from mambaicl.training import compile as compile_mod
from mambaicl.training.compile import RecompileLimitError, check_compile, compile_step, curriculum_shapes
from mambaicl.training.curriculum import Curriculum
from mambaicl.training.loop import check_config, train
from mambaicl.training.pack import train_pack
from mambaicl.validation import validate

from test_pack import BASE, MODELS, _paths, _specs


def test_curriculum_shapes_counts_every_pair_the_curriculum_reaches():
    cur = {"dims": {"start": 5, "end": 20, "inc": 1, "interval": 7}, "points": {"start": 11, "end": 41, "inc": 2,
                                                                                    "interval": 5}}
    curriculum = Curriculum.from_dict(cur)
    for steps in (1, 6, 40, 400):
        assert curriculum_shapes(curriculum, steps) == len({curriculum.at(s) for s in range(steps)})
    fixed = Curriculum.from_dict({"dims": {"start": 3, "end": 3}, "points": {"start": 9, "end": 9}})
    assert curriculum_shapes(fixed, 10_000) == 1


def test_eager_is_the_function_itself_and_bad_modes_are_refused(monkeypatch):
    def fn(x):
        return x

    assert compile_step(fn, "eager", torch.device("cpu"), 3) is fn
    with pytest.raises(ConfigError, match="graphs .*needs a CUDA GPU"):
        check_compile("graphs", "cpu")
    with pytest.raises(ConfigError, match="not one of eager, fused, graphs"):
        check_compile("max-autotune", "cpu")
    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: None)
    with pytest.raises(DeviceError, match="C\\+\\+ compiler.*apt install g\\+\\+"):
        check_compile("fused", "cpu")


def test_the_config_refuses_graphs_on_cpu_and_unknown_modes(repo):
    cfg = load_yaml(repo / "workflow/config/smoke.yaml")
    cfg["device"] = "cpu"
    cfg["train"]["compile"] = "graphs"
    with pytest.raises(ConfigError, match="train.compile' = graphs"):
        check_config(cfg)
    cfg["train"]["compile"] = "yes"
    with pytest.raises(Exception, match="yes"):
        validate(cfg)


def _weights(path):
    return torch.load(path, weights_only=False)["model"]


def _assert_close(a: dict, b: dict, atol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-4, msg=k)


@pytest.fixture
def aot_eager(monkeypatch):
    """Trace with dynamo and AOTAutograd as inductor does, without generating C++ (seconds instead of a minute)."""
    monkeypatch.setattr(compile_mod, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    yield counters
    torch._dynamo.reset()


def test_past_the_recompile_limit_the_step_fails_naming_the_fix(aot_eager):
    """Dynamo would silently run the step eagerly past its recompile limit: compile_step makes it an error."""
    import torch._dynamo.config as dynamo_config

    def fn(x):
        return (x * 2).sum()

    keys = ("accumulated_recompile_limit", "fail_on_recompile_limit_hit")
    with dynamo_config.patch(recompile_limit=1, **{k: getattr(dynamo_config, k) for k in keys}):  # restored after
        step = compile_step(fn, "fused", torch.device("cpu"), shapes=1)  # limit 2 x 1 + 1 = 3 graphs
        for n in range(1, 4):
            assert step(torch.ones(n)) == 2 * n
        with pytest.raises(RecompileLimitError, match="more than 3 graphs.*rerun with train.compile: eager"):
            step(torch.ones(4))


@pytest.mark.parametrize("model", ["mamba", "s4"])  # the own scan's autograd Function; channel dropout's generator
def test_a_compiled_run_equals_eager_across_shapes_and_a_resume(tmp_path, model, aot_eager, capsys):
    spec = _specs(MODELS[model], runs=((1, 3e-3),))[0]
    train(spec, tmp_path / "e/model.pt", tmp_path / "e/m.csv", tmp_path / "e/ck", progress=False)
    train(spec, tmp_path / "c/model.pt", tmp_path / "c/m.csv", tmp_path / "c/ck", progress=False, stop_after=4,
          compile_mode="fused")
    train(spec, tmp_path / "c/model.pt", tmp_path / "c/m.csv", tmp_path / "c/ck", progress=False,
          compile_mode="fused")  # resumed at step 4, past the curriculum's change at step 3
    assert "compile: fused (train.compile; torch.compile aot_eager" in capsys.readouterr().out
    assert aot_eager["stats"]["unique_graphs"] >= 2  # one graph per curriculum shape: it did compile
    if model == "s4":  # its dropout masks are drawn ahead of the step: no generator draw breaks the graph
        assert not aot_eager["graph_break"], dict(aot_eager["graph_break"])
    _assert_close(_weights(tmp_path / "e/model.pt"), _weights(tmp_path / "c/model.pt"))


def test_a_compiled_pack_equals_the_eager_pack(tmp_path, aot_eager):
    specs = _specs(MODELS["s4_mamba"])
    out = {}
    for mode in ("eager", "fused"):
        models, metrics, ckpts = _paths(tmp_path / mode, len(specs))
        train_pack(specs, models, metrics, ckpts, progress=False, compile_mode=mode)
        out[mode] = [_weights(p) for p in models]
    assert aot_eager["stats"]["unique_graphs"] >= 2
    assert not aot_eager["graph_break"], dict(aot_eager["graph_break"])  # the K runs' masks drawn ahead, too
    for eager, fused in zip(out["eager"], out["fused"]):
        _assert_close(eager, fused)


def test_inductor_compiled_run_equals_eager(tmp_path):
    """The real backend once (C++ kernels on the CPU; about a minute on two cores): fused code, same weights."""
    torch._dynamo.reset()
    spec = dict(copy.deepcopy(BASE), model={**MODELS["gpt2"], "learning_rate": 3e-3}, steps=2)
    train(spec, tmp_path / "e/model.pt", tmp_path / "e/m.csv", tmp_path / "e/ck", progress=False)
    train(spec, tmp_path / "c/model.pt", tmp_path / "c/m.csv", tmp_path / "c/ck", progress=False,
          compile_mode="fused")
    torch._dynamo.reset()
    _assert_close(_weights(tmp_path / "e/model.pt"), _weights(tmp_path / "c/model.pt"))


@pytest.mark.parametrize("model", ["mamba", "rwkv"])
def test_the_loops_over_time_stay_out_of_the_graph(model):
    """The own scan's and the WKV's loops over time run eagerly under compile (``keep_loops_eager``, which
    compile_step calls): the captured graphs do not grow with the sequence length (traced, the loop would add
    nodes per time step)."""
    from mambaicl.models import build_model, keep_loops_eager

    keep_loops_eager()
    keep_loops_eager()  # idempotent: wrapped once

    net = build_model(MODELS[model], 4, seed=0, out_dim=1)
    nodes = {}
    for length in (6, 18):
        torch._dynamo.reset()
        sizes = []

        def count(gm, inputs):
            sizes.append(len(gm.graph.nodes))
            return gm.forward

        x = torch.randn(2, length, 4, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(torch.compile(net, backend=count, dynamic=False)(x), net(x))
        nodes[length] = sum(sizes)
    torch._dynamo.reset()
    assert nodes[6] == nodes[18] > 0


def test_the_job_modules_do_not_import_dynamo():
    """torch._dynamo costs a job about 3 s of start-up; only compiling (keep_loops_eager in compile_step) imports it."""
    modules = ["mambaicl.models", "mambaicl.training.jobs", "mambaicl.training.pack", "mambaicl.evaluation.jobs",
               "mambaicl.analysis.probing", "mambaicl.report.macros"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
