"""Packing (train.pack): a pack of K runs trains each run as its separate job would (within fp32 rounding),
a pack of 1 is the unpacked trainer bit for bit, resume mid-pack is exact, the plan and config checks."""

import copy

import pandas as pd
import pytest
import torch

from mambaicl.errors import ConfigError
from mambaicl.models import BACKBONES
from mambaicl.training.checkpoints import load_checkpoint
from mambaicl.training.loop import train
from mambaicl.training.pack import train_pack
from mambaicl.training.pack_plan import (
    check_pack_config,
    check_packable,
    plan_packs,
)

BASE = {
    "task": {"name": "linear_regression", "n_dims": 3},
    "curriculum": {"dims": {"start": 2, "end": 3, "inc": 1, "interval": 3},
                   "points": {"start": 3, "end": 5, "inc": 2, "interval": 3}},
    "seed": 1,
    "steps": 6,
    "batch_size": 4,
    "schedule": "cosine",
    "grad_clip": None,
    "checkpoint_every": 4,
    "log_every": 1,
}
# Every backbone build_model knows, tiny; S4 and S4-Mamba with channel dropout on.
MODELS = {
    "gpt2": {"backbone": "gpt2", "d_model": 8, "n_layer": 2, "n_head": 2},
    "gpt2_learned_pe": {"backbone": "gpt2", "d_model": 8, "n_layer": 1, "n_head": 2,
                        "positional_encoding": "learned", "max_tokens": 16},
    "mamba": {"backbone": "mamba", "d_model": 8, "n_layer": 2, "d_state": 4},
    "s4": {"backbone": "s4", "d_model": 8, "n_layer": 2, "d_state": 4, "dropout": 0.3},
    "s4_park": {"backbone": "s4_park", "d_model": 8, "n_layer": 2, "d_state": 4},
    "s4_mamba": {"backbone": "s4_mamba", "d_model": 8, "n_layer": 1, "d_state": 4, "dropout": 0.3},
    "standard_hybrid": {"backbone": "standard_hybrid", "d_model": 8, "n_layer": 2, "n_head": 2, "max_tokens": 16,
                        "d_state": 4},
    "mambaformer": {"backbone": "mambaformer", "d_model": 8, "n_layer": 1, "n_head": 2, "d_state": 4},
    "rwkv": {"backbone": "rwkv", "d_model": 8, "n_layer": 2, "ffn_mult": 2},
}


def test_every_backbone_is_covered():
    assert {m["backbone"] for m in MODELS.values()} == set(BACKBONES)


def _specs(model: dict, runs=((1, 3e-3), (2, 1e-2)), **over) -> list[dict]:
    """One spec per (seed, learning rate): the pack differs in both."""
    return [dict(copy.deepcopy(BASE), model={**model, "learning_rate": lr}, seed=seed, **over) for seed, lr in runs]


def _paths(root, k):
    return ([root / f"r{i}/model.pt" for i in range(k)], [root / f"r{i}/metrics.csv" for i in range(k)],
            [root / f"r{i}/checkpoints" for i in range(k)])


def _pack(root, specs, **kw):
    return train_pack(specs, *_paths(root, len(specs)), progress=False, **kw)


def _separate(root, specs, **kw):
    return [train(s, m, c, d, progress=False, **kw) for s, m, c, d in zip(specs, *_paths(root, len(specs)))]


def _key_bias_dropped(name: str, t: torch.Tensor) -> torch.Tensor:
    """Attention's key bias without gradient: softmax ignores a shift shared by all keys, so its exact gradient is
    zero and the computed one pure rounding noise, which Adam scales up to steps of the learning rate's size in
    packed and separate runs alike. Its query and value thirds are compared."""
    if name.endswith("c_attn.bias"):
        q, _, v = t.chunk(3)
        return torch.cat([q, v])
    return t


def _assert_close(a: torch.nn.Module, b: torch.nn.Module, tol: float = 1e-5) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        if tol == 0.0:
            assert torch.equal(p, q), name
            continue
        torch.testing.assert_close(_key_bias_dropped(name, p), _key_bias_dropped(name, q), rtol=tol, atol=tol,
                                   msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("name", list(MODELS))
def test_pack_equals_separate_runs(tmp_path, name):
    specs = _specs(MODELS[name])
    packed = _pack(tmp_path / "pack", specs)
    alone = _separate(tmp_path / "alone", specs)
    for i, (p, a) in enumerate(zip(packed, alone)):
        _assert_close(p, a)
        # the same files where the separate job writes them: model.pt (its spec and hash) and the metrics
        state = load_checkpoint(tmp_path / f"pack/r{i}/model.pt")
        assert state["spec"] == specs[i] and state["step"] == BASE["steps"]
        mp, ma = (pd.read_csv(tmp_path / f"{d}/r{i}/metrics.csv") for d in ("pack", "alone"))
        assert list(mp.columns) == list(ma.columns) and list(mp.step) == list(ma.step)
        assert mp.loss.tolist() == pytest.approx(ma.loss.tolist(), rel=1e-4)
        assert mp.lr.tolist() == ma.lr.tolist()
        assert not (tmp_path / f"pack/r{i}/checkpoints").exists()  # removed once the outputs are written
    # the runs really differ (seed and learning rate), so equality is not trivial
    assert not torch.equal(next(iter(packed[0].state_dict().values())), next(iter(packed[1].state_dict().values())))


def test_dropout_masks_follow_each_runs_generator(tmp_path):
    # Same seed and learning rate in both runs but a pack of three: identical runs must stay identical (each run's
    # masks come from its own generator), and the third run with another seed differs.
    specs = _specs(MODELS["s4"], runs=((1, 3e-3), (1, 3e-3), (2, 3e-3)))
    a, b, c = _pack(tmp_path, specs)
    _assert_close(a, b, tol=0.0)
    alone = _separate(tmp_path / "alone", specs[2:])
    _assert_close(c, alone[0])


def test_pack_of_one_is_the_unpacked_trainer_bit_for_bit(tmp_path):
    specs = _specs(MODELS["s4"], runs=((1, 3e-3),))
    (packed,) = _pack(tmp_path / "pack", specs)
    (alone,) = _separate(tmp_path / "alone", specs)
    _assert_close(packed, alone, tol=0.0)
    assert (pd.read_csv(tmp_path / "pack/r0/metrics.csv").loss.tolist()
            == pd.read_csv(tmp_path / "alone/r0/metrics.csv").loss.tolist())


@pytest.mark.parametrize("name", ["s4", "mamba", "rwkv"])
def test_resume_mid_pack_equals_the_uninterrupted_pack_and_separate_runs(tmp_path, name):
    specs = _specs(MODELS[name])
    full = _pack(tmp_path / "full", specs)
    _pack(tmp_path / "parts", specs, stop_after=4)  # as if killed after the step-4 checkpoints
    assert all((tmp_path / f"parts/r{i}/checkpoints/last.pt").exists() for i in range(2))
    assert not (tmp_path / "parts/r0/model.pt").exists()
    resumed = _pack(tmp_path / "parts", specs)
    alone = _separate(tmp_path / "alone", specs)
    for f, r, a in zip(full, resumed, alone):
        _assert_close(f, r, tol=0.0)  # the same computation replayed: exact
        _assert_close(r, a)
    for i in range(2):
        mf, mr = (pd.read_csv(tmp_path / f"{d}/r{i}/metrics.csv") for d in ("full", "parts"))
        assert list(mr.step) == list(range(BASE["steps"])) and mf.loss.tolist() == mr.loss.tolist()


def test_runs_checkpointed_at_different_steps_catch_up(tmp_path):
    # A pack killed while writing its checkpoints leaves runs at different steps: the ones behind catch up first.
    specs = _specs(MODELS["s4_park"], runs=((1, 3e-3), (2, 1e-2), (3, 3e-3)), checkpoint_every=2)
    models, metrics, ckpts = _paths(tmp_path / "pack", 3)
    train(specs[0], models[0], metrics[0], ckpts[0], progress=False, stop_after=2)
    train(specs[1], models[1], metrics[1], ckpts[1], progress=False, stop_after=4)
    packed = _pack(tmp_path / "pack", specs)  # run 2 starts from scratch
    alone = _separate(tmp_path / "alone", specs)
    for p, a in zip(packed, alone):
        _assert_close(p, a)
    assert list(pd.read_csv(metrics[0]).step) == list(range(BASE["steps"]))


def test_runs_of_different_shapes_refuse_to_pack(tmp_path):
    specs = _specs(MODELS["gpt2"])
    specs[1]["model"]["d_model"] = 16
    with pytest.raises(ValueError, match="cannot share a pack"):
        _pack(tmp_path, specs)
    specs = _specs(MODELS["gpt2"])
    specs[1]["steps"] = 7
    with pytest.raises(ValueError, match="cannot share a pack"):
        check_packable(specs)
    check_packable(_specs(MODELS["gpt2"], runs=((1, 1e-3), (5, 1e-1))))  # seeds and rates may differ


def _config(pack=1, scan="auto"):
    model = {**MODELS["gpt2"], "learning_rate": 1e-3}
    return {
        "device": "cpu", "scan": scan,
        "tasks": {"linear_regression": {"n_dims": 3, "curriculum": BASE["curriculum"]},
                  "relu_nn": {"task": "relu_nn", "n_dims": 3, "curriculum": BASE["curriculum"]}},
        "models": {"a": model, "b": {**model, "learning_rate": 1e-2}, "c": {**model, "d_model": 16},
                   "m": {**MODELS["mamba"], "learning_rate": 1e-3}},
        "experiments": [{"task": "linear_regression", "models": ["a", "b", "c", "m"]},
                        {"task": "relu_nn", "models": ["a"], "seeds": [7]}],
        "train": {**{k: BASE[k] for k in ("steps", "batch_size", "schedule", "checkpoint_every", "log_every")},
                  "seeds": [1, 2, 3], "pack": pack},
    }


def test_plan_groups_runs_of_one_shape_in_config_order():
    one = plan_packs(_config(pack=1))
    assert [p.runs for p in one] == [((t, m, s),) for t, m, s in
                                     [("linear_regression", x, s) for x in "abcm" for s in (1, 2, 3)]
                                     + [("relu_nn", "a", 7)]]
    packs = [p.runs for p in plan_packs(_config(pack=4))]
    # a and b differ only in the learning rate; relu_nn has the same token layout and curriculum
    assert packs[0] == (("linear_regression", "a", 1), ("linear_regression", "a", 2), ("linear_regression", "a", 3),
                        ("linear_regression", "b", 1))
    assert (("linear_regression", "b", 2), ("linear_regression", "b", 3), ("relu_nn", "a", 7)) in packs
    assert (("linear_regression", "c", 1), ("linear_regression", "c", 2), ("linear_regression", "c", 3)) in packs
    assert sorted(r for p in packs for r in p) == sorted(r for p in one for r in p.runs)


@pytest.mark.parametrize("pack", [0, -2, 1.5, True])
def test_pack_below_one_or_not_an_integer_is_a_config_error(pack):
    with pytest.raises(ConfigError, match="train.pack"):
        check_pack_config(_config(pack=pack))


def test_pack_on_mamba_ssm_kernels_is_allowed():
    # the kernels' runs fold into one call per layer (models.packing.fold_runs): nothing to refuse any more
    for pack in (1, 2):
        check_pack_config(_config(pack=pack, scan="kernels"))


def test_schema_and_validation_refuse_pack_zero(tmp_path):
    from workflow_helpers import tiny_config

    from mambaicl.validation import validate

    cfg = tiny_config("packcheck")
    cfg["train"]["pack"] = 0
    with pytest.raises(ConfigError, match="pack"):
        validate(cfg)


def _dry_run(work, *config):
    import re

    from workflow_helpers import SMOKE, planned_jobs, snakemake

    out = snakemake(["-n", "--configfile", SMOKE, *(["--config", *config] if config else [])], cwd=work).stdout
    outputs = {f for line in out.splitlines() if line.startswith("    output: ")
               for f in line.removeprefix("    output: ").split(", ")}
    rules = sorted(re.findall(r"^rule (\w+):", out, flags=re.MULTILINE))
    return planned_jobs(out), outputs, rules


def test_pack_one_keeps_the_dag_and_a_pack_writes_the_same_files(tmp_path):
    from workflow_helpers import SMOKE, copy_workflow

    from mambaicl.config.schema import load_yaml

    work = copy_workflow(tmp_path)
    today = _dry_run(work)
    assert _dry_run(work, "train={pack: 1}") == today
    jobs, outputs, _ = today
    jobs2, outputs2, rules2 = _dry_run(work, "train={pack: 2}")
    assert "train" not in jobs2 and outputs2 == outputs  # every run's files, from the pack rules
    config = load_yaml(work / SMOKE)
    config["train"]["pack"] = 2
    packs = plan_packs(config)
    assert sum(1 for r in rules2 if r.startswith("train_pack_")) == len(packs) < jobs["train"]
    assert {k: v for k, v in jobs2.items() if not k.startswith("train")} == \
        {k: v for k, v in jobs.items() if k != "train"}
    assert (work / SMOKE).exists() and "pack" not in load_yaml(work / SMOKE)["train"]


@pytest.mark.slow
def test_a_pack_job_writes_each_runs_files_where_rule_train_does(tmp_path):
    import yaml
    from workflow_helpers import copy_workflow, snakemake, tiny_config

    work = copy_workflow(tmp_path)
    cfg = tiny_config("tinypack", models=("transformer", "mamba"), steps=4)
    cfg["train"].update(seeds=[1, 2], pack=2)
    (work / "tinypack.yaml").write_text(yaml.safe_dump(cfg))
    models = [f"results/tinypack/models/linear_regression/{m}/seed{s}/model.pt"
              for m in ("transformer", "mamba") for s in (1, 2)]
    snakemake([*models, "--cores", "1", "--configfile", "tinypack.yaml"], cwd=work)
    for path in models:
        state = load_checkpoint(work / path)
        assert state["step"] == 4 and (work / path).with_name("train_metrics.csv").exists()
        assert not (work / path).with_name("checkpoints").exists()
    logs = sorted((work / "logs/tinypack/train").glob("pack*.log"))
    assert len(logs) == 2  # one job per model, each with its two seeds
    text = logs[0].read_text() + logs[1].read_text()
    assert text.count("training a pack of 2 runs") == 2 and all(p in text for p in models)


# ----------------------------------------------------------------------------------------------------------
# Mamba's scan folded: one Triton / mamba-ssm call per layer for all K runs (B, C grouped per run)
# ----------------------------------------------------------------------------------------------------------

MAMBA_MODELS = ["mamba", "standard_hybrid", "mambaformer"]
RUNS3 = ((1, 3e-3), (2, 1e-2), (3, 5e-3))


def _n_mamba_layers(name: str) -> int:
    from mambaicl.models import build_model

    spec = {k: v for k, v in MODELS[name].items()}
    return sum(type(m).__name__ == "MambaMixer" for m in build_model(spec, token_dim=4, seed=0).modules())


def _count_calls(calls: list, fn):
    def counted(*args, **kw):
        calls.append(args[3].shape)  # B: (b, N, L), or (b, K, N, L) grouped
        return fn(*args, **kw)
    return counted


def _check_folded(tmp_path, name, calls, steps=BASE["steps"], **kw):
    """A pack of three equals the three separate runs, and the scan ran once per Mamba layer per pack step, with
    B grouped per run: as many calls as one separate run makes, not K times as many."""
    specs = _specs(MODELS[name], runs=RUNS3, steps=steps)
    packed = _pack(tmp_path / "pack", specs, **kw)
    pack_calls = list(calls)
    calls.clear()
    alone = _separate(tmp_path / "alone", specs[:1], **kw)
    one_run_calls = list(calls)
    alone += _separate(tmp_path / "alone2", specs[1:], **kw)
    for p, a in zip(packed, alone):
        _assert_close(p, a)
    assert len(pack_calls) == len(one_run_calls) == steps * _n_mamba_layers(name)
    assert all(len(s) == 4 and s[1] == 3 for s in pack_calls), pack_calls[:3]
    assert all(len(s) == 3 for s in one_run_calls)


TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _import_triton_scan():
    """The package's Triton scan, imported when this module is (collection time), with TRITON_INTERPRET=1 on CPU,
    as tests/test_triton_kernels.py does: triton reads it at import, and training imports triton on its own
    (torch's native ops), so a later import would find it built for a GPU. None without triton."""
    import os

    old = os.environ.get("TRITON_INTERPRET")
    if TRITON_DEVICE == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    try:
        from mambaicl.models import triton_scan
    except ImportError:
        return None
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old
    return triton_scan


_triton_scan = _import_triton_scan()


@pytest.fixture
def triton_interpreted(monkeypatch):
    """The Triton scan, in Triton's interpreter on CPU (set for the test's duration: it is read again at launch)."""
    if _triton_scan is None:
        pytest.skip("triton is not installed")
    if TRITON_DEVICE == "cpu":
        if not _triton_scan.INTERPRETED:
            pytest.skip("triton was imported without TRITON_INTERPRET=1 earlier in this process")
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    return _triton_scan, TRITON_DEVICE


@pytest.mark.parametrize("name", MAMBA_MODELS)
def test_pack_on_the_triton_scan_folds_the_runs_and_equals_separate_runs(tmp_path, name, triton_interpreted,
                                                                         monkeypatch):
    triton_scan, device = triton_interpreted
    calls = []
    monkeypatch.setattr(triton_scan, "selective_scan_triton", _count_calls(calls, triton_scan.selective_scan_triton))
    _check_folded(tmp_path, name, calls, steps=2, scan="triton", device=device)  # the interpreter is slow


@pytest.mark.parametrize("name", MAMBA_MODELS)
def test_pack_on_the_kernels_path_folds_the_runs_and_equals_separate_runs(tmp_path, name, monkeypatch):
    """The kernels path's wiring on CPU: mamba-ssm's scan and causal-conv1d replaced by stand-ins with their
    signatures (the grouped reference scan; a depthwise conv), the mixer told that the kernels run."""
    from mambaicl.models import implementation, mamba

    calls = []
    scan = _count_calls(calls, mamba.selective_scan_ref)
    for mod in (implementation, mamba):
        monkeypatch.setattr(mod, "_kernel_scan", scan)
        monkeypatch.setattr(mod, "_kernel_conv", mamba.causal_conv1d_ref)
    monkeypatch.setattr(mamba, "resolve_scan", lambda scan, device: "kernels")
    _check_folded(tmp_path, name, calls)


def test_a_pack_reads_its_stacked_leaves_and_saves_each_run_alone(tmp_path, monkeypatch):
    from mambaicl.training.pack import open_pack

    specs = _specs(MODELS["mamba"], runs=((1, 3e-3), (2, 1e-2), (3, 5e-3), (4, 2e-3)))
    step = open_pack(specs, "cpu")
    n_buffers = len(dict(step.runs[0].model.named_buffers()))
    stacks = []
    real_stack = torch.stack
    monkeypatch.setattr(torch, "stack", lambda ts, *a, **kw: stacks.append(len(ts)) or real_stack(ts, *a, **kw))
    step(2, 3)
    monkeypatch.undo()
    # no stack of the K runs per parameter and step: only the buffers, the K token batches, the K losses and, on the
    # CPU path, the per-run scan's outputs (one per Mamba layer)
    assert stacks.count(4) == n_buffers + 2 + _n_mamba_layers("mamba") < len(step.leaves)
    for i, r in enumerate(step.runs):  # each run's parameters are slices of the leaves, updated in place by its Adam
        for name, p in r.model.named_parameters():
            assert p.data_ptr() == step.leaves[name][i].data_ptr()
    # files hold one run's tensors each (torch.save would write a view's whole storage: all K runs)
    _pack(tmp_path, specs)
    state = load_checkpoint(tmp_path / "r1/model.pt")["model"]
    assert all(v.untyped_storage().nbytes() == v.nbytes for v in state.values())


def test_bench_pack_counts_the_ops_a_further_run_adds(capsys):
    """benchmarks/bench_pack.py --count-ops (the figure behind step_model.PER_RUN_KERNELS): a pack's step shares most
    of its kernels, and each further run adds its own optimiser step in full."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pack.py"
    spec = importlib.util.spec_from_file_location("bench_pack", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from mambaicl.training.pack import open_pack

    counts = {}
    for k in (1, 3):
        specs = [bench.spec_for(copy.deepcopy(bench.MODELS["s4_park"]), 16, 1, 2, 5, 4, s) for s in range(1, k + 1)]
        step = open_pack(specs, "cpu")
        counts[k] = bench.kernel_ops(step, 5, 5)
        step.close()
    (one, opt1), (three, opt3) = counts[1], counts[3]
    assert opt3 == 3 * opt1 > 0  # K optimisers, each its own ops
    assert 0 < (three - one) / 2 < one / 4  # a further run adds a fraction of the shared step
