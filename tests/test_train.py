"""Training: the loss falls, resume is exact, bad states stop with a clear message."""

import copy
import re

import pandas as pd
import pytest
import torch

from mambaicl.errors import CheckpointError
from mambaicl.training.checkpoints import load_checkpoint, load_trained_model
from mambaicl.training.loop import NonFiniteLossError, train
from mambaicl.training.provenance import provenance

SPEC = {
    "task": {"name": "linear_regression", "n_dims": 4},
    "curriculum": {"dims": {"start": 2, "end": 4, "inc": 1, "interval": 10},
                   "points": {"start": 4, "end": 8, "inc": 2, "interval": 10}},
    "model": {"backbone": "gpt2", "d_model": 16, "n_layer": 1, "n_head": 2, "learning_rate": 3e-3},
    "seed": 1,
    "steps": 30,
    "batch_size": 16,
    "schedule": "cosine",
    "grad_clip": None,
    "checkpoint_every": 10,
    "log_every": 1,
}


def _run(tmp, spec=SPEC, **kw):
    return train(spec, tmp / "model.pt", tmp / "metrics.csv", tmp / "ckpt", progress=False, **kw)


def test_training_writes_outputs_and_the_curriculum_is_logged(tmp_path):
    _run(tmp_path)
    m = pd.read_csv(tmp_path / "metrics.csv")
    assert list(m.step) == list(range(30))
    assert m.n_dims_active.tolist()[:10] == [2] * 10 and m.n_dims_active.iloc[-1] == 4
    assert m.n_points.iloc[0] == 4 and m.n_points.iloc[-1] == 8
    assert m.lr.iloc[0] == pytest.approx(3e-3) and m.lr.iloc[-1] < 1e-4  # cosine to zero
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["step"] == 30 and state["effective_parameters"] > 0



def test_loss_decreases_on_linear_regression(tmp_path):
    # 1-D regression is learnable in context within a few hundred steps (y_1 / x_1 gives w); the
    # zero predictor scores E[y^2] = 1, so a falling loss means the model uses its context.
    spec = dict(SPEC, steps=600, batch_size=32, schedule="constant", checkpoint_every=600,
                task={"name": "linear_regression", "n_dims": 1},
                curriculum={"dims": {"start": 1, "end": 1}, "points": {"start": 6, "end": 6}},
                model=dict(SPEC["model"], d_model=32, n_layer=2))
    _run(tmp_path, spec)
    loss = pd.read_csv(tmp_path / "metrics.csv").loss
    assert loss.iloc[-100:].mean() < 0.85 * loss.iloc[:20].mean()


S4_WITH_DROPOUT = {"backbone": "s4", "d_model": 16, "n_layer": 2, "d_state": 4, "dropout": 0.3,
                   "learning_rate": 3e-3}


@pytest.mark.parametrize("model", [SPEC["model"], S4_WITH_DROPOUT], ids=["gpt2", "s4-dropout"])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path, model):
    spec = dict(SPEC, model=model)
    full, parts = tmp_path / "full", tmp_path / "parts"
    a = _run(full, spec)
    _run(parts, spec, stop_after=13)  # stops after 13 steps, as if killed; the checkpoint holds step 13
    assert not (parts / "model.pt").exists()
    b = _run(parts, spec)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    ma, mb = pd.read_csv(full / "metrics.csv"), pd.read_csv(parts / "metrics.csv")
    assert list(mb.step) == list(range(30))
    assert ma.loss.tolist() == mb.loss.tolist()


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["model"]["learning_rate"] = 1e6  # diverges within a few steps
    spec["checkpoint_every"] = 1
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss .* at step \d+"):
        _run(tmp_path, spec)
    assert not (tmp_path / "model.pt").exists()
    assert (tmp_path / "ckpt" / "last.pt").exists()


def test_non_finite_loss_between_log_steps_names_its_first_step_and_saves_nothing(tmp_path):
    # the check stays on the device and is read at logging and checkpoint steps (no host sync per step):
    # a divergence between them still stops the run with the first bad step, and nothing non-finite is saved
    spec = copy.deepcopy(SPEC)
    spec["model"]["learning_rate"] = 1e6
    spec["log_every"], spec["checkpoint_every"] = 25, 25
    with pytest.raises(NonFiniteLossError, match=r"at step \d+") as err:
        _run(tmp_path, spec)
    first = int(re.search(r"at step (\d+)", str(err.value)).group(1))
    every_step = tmp_path / "every"
    with pytest.raises(NonFiniteLossError, match=rf"at step {first};"):  # the per-step reading agrees
        _run(every_step, dict(spec, log_every=1, checkpoint_every=1))
    assert 0 < first < 25 and not (tmp_path / "ckpt" / "last.pt").exists() and not (tmp_path / "model.pt").exists()


def test_a_pack_stops_at_its_diverging_runs_first_bad_step_and_saves_nothing_non_finite(tmp_path):
    """In a pack the non-finite flags are (K,) tensors read at logging and checkpoint steps: the run that diverges
    is named with the first bad step it has alone, and no file of the pack is written after it."""
    from mambaicl.training.pack import train_pack

    good = dict(copy.deepcopy(SPEC), log_every=25, checkpoint_every=25)
    bad = copy.deepcopy(good)
    bad["seed"], bad["model"]["learning_rate"] = 2, 1e6
    with pytest.raises(NonFiniteLossError, match=r"at step \d+") as alone:
        _run(tmp_path / "alone", bad)
    first = int(re.search(r"at step (\d+)", str(alone.value)).group(1))
    paths = [[tmp_path / f"pack/r{i}/{f}" for i in range(2)] for f in ("model.pt", "m.csv", "ckpt")]
    with pytest.raises(NonFiniteLossError, match=rf"at step {first} in run linear_regression/gpt2/seed2 of the pack;"):
        train_pack([good, bad], *paths, progress=False)
    assert 0 < first < 25
    for i in range(2):
        assert not paths[0][i].exists() and not (paths[2][i] / "last.pt").exists()


def test_checkpoint_from_another_config_is_refused(tmp_path):
    _run(tmp_path, stop_after=10)
    other = dict(SPEC, seed=2)
    with pytest.raises(CheckpointError, match="written by another configuration"):
        _run(tmp_path, other)


def test_corrupt_checkpoint_is_refused(tmp_path):
    _run(tmp_path, stop_after=10)
    ckpt = tmp_path / "ckpt" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        _run(tmp_path)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_trained_model(ckpt)


def test_non_finite_loss_says_to_delete_the_checkpoint_directory_after_changing_the_config(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["model"]["learning_rate"] = 1e6
    spec["checkpoint_every"] = 1
    with pytest.raises(NonFiniteLossError) as err:
        _run(tmp_path, spec)
    msg = str(err.value)
    assert "grad_clip" in msg and "a changed config cannot resume" in msg
    assert re.search(r"delete the checkpoint directory " + re.escape(str(tmp_path / "ckpt")), msg), msg


def test_a_finished_run_removes_its_checkpoint_and_a_forced_rerun_trains_afresh(tmp_path, capsys):
    a = _run(tmp_path)
    assert (tmp_path / "model.pt").exists() and (tmp_path / "metrics.csv").exists()
    assert not (tmp_path / "ckpt").exists(), "the final checkpoint would be resumed by a forced rerun"
    capsys.readouterr()
    b = _run(tmp_path)  # what `--forcerun train` does: the same job, same paths
    assert "starting at step 0 of 30" in capsys.readouterr().out
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert list(pd.read_csv(tmp_path / "metrics.csv").step) == list(range(30))


def test_a_killed_run_still_resumes(tmp_path, capsys):
    _run(tmp_path, stop_after=13)
    capsys.readouterr()
    _run(tmp_path)
    assert "resuming from" in capsys.readouterr().out


@pytest.fixture
def threads():
    n = torch.get_num_threads()
    yield n
    torch.set_num_threads(n)


def test_resume_under_another_thread_count_is_refused(tmp_path, threads):
    _run(tmp_path, stop_after=13)
    ckpt = tmp_path / "ckpt" / "last.pt"
    before = ckpt.read_bytes()
    other = 1 if threads != 1 else 2
    torch.set_num_threads(other)
    with pytest.raises(CheckpointError, match=rf"{threads} threads \(this run: {other}.*`threads: {threads}`") as err:
        _run(tmp_path)
    assert f"delete {tmp_path / 'ckpt'} to train afresh" in str(err.value)
    assert ckpt.read_bytes() == before and not (tmp_path / "model.pt").exists()
    torch.set_num_threads(threads)
    _run(tmp_path)  # under the original count it resumes
    assert (tmp_path / "model.pt").exists()


def test_resume_under_another_torch_version_is_refused(tmp_path, monkeypatch):
    _run(tmp_path, stop_after=13)
    written_with = str(torch.__version__)
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    with pytest.raises(CheckpointError, match=rf"torch {re.escape(written_with)} \(this run: 0.0.1"):
        _run(tmp_path)


def test_model_and_checkpoint_record_versions_threads_and_device(tmp_path):
    _run(tmp_path, stop_after=13)
    ckpt = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    _run(tmp_path)
    state = load_checkpoint(tmp_path / "model.pt")
    for key in ("effective_parameters", "train_seconds", "device", "spec", "spec_hash", "step", "model"):
        assert key in state, key
    rec = state["provenance"]
    assert {"torch", "numpy", "python", "mambaicl", "threads", "device"} <= set(rec)
    assert rec["threads"] == torch.get_num_threads() and rec["device"] == "cpu" == state["device"]
    assert rec == provenance("cpu") == ckpt["provenance"]


def test_the_packed_step_a_benchmark_times_is_the_pack_trainers_step(tmp_path):
    """``pack.open_pack`` (no files) and ``train_pack`` run one code path (``PackedStep``): the same losses, learning
    rates and weights, bit for bit, and each run's first loss is its unpacked first loss."""
    from mambaicl.training.curriculum import Curriculum
    from mambaicl.training.pack import PackedStep, open_pack, train_pack

    specs = [dict(copy.deepcopy(SPEC), seed=s, steps=3, checkpoint_every=3, grad_clip=1.0) for s in (1, 2)]
    step = open_pack(specs, "cpu")
    assert isinstance(step, PackedStep) and len(step.runs) == 2
    curriculum = Curriculum.from_dict(SPEC["curriculum"])
    losses = []
    for t in range(3):
        out, lrs = step(*curriculum.at(t))
        assert all(isinstance(x, torch.Tensor) and not x.requires_grad for x in out) and len(lrs) == 2
        losses.append([float(x) for x in out])
    step.close()
    models = train_pack(specs, *([tmp_path / f"r{i}/{f}" for i in range(2)] for f in ("model.pt", "m.csv", "ckpt")),
                        progress=False)
    for i, model in enumerate(models):
        assert pd.read_csv(tmp_path / f"r{i}/m.csv").loss.tolist() == [row[i] for row in losses]
        for p, q in zip(model.state_dict().values(), step.runs[i].model.state_dict().values()):
            assert torch.equal(p, q)
    _run(tmp_path / "alone", dict(specs[1]))
    assert pd.read_csv(tmp_path / "alone/metrics.csv").loss.iloc[0] == pytest.approx(losses[0][1], rel=1e-5)
    assert losses[0][0] != losses[0][1]  # the two runs really differ (seeds 1 and 2)
