"""Checkpoints written in the background (``BackgroundSaver``): the file is the one ``atomic_save`` writes, taken
when ``save`` was called whatever training does next, one write at a time, and every write error reaches the
caller with its path, without hiding an error training raised."""

import errno
import re
import time
from collections import OrderedDict

import pytest
import torch

from mambaicl.errors import WriteFailedError
from mambaicl.training import checkpoints
from mambaicl.training.checkpoints import BackgroundSaver, atomic_save, load_checkpoint, snapshot
from mambaicl.training.loop import build_run, checkpoint_dict, non_finite_error, train
from mambaicl.training.provenance import provenance

from test_integrity import SPEC as INTEGRITY_SPEC

SPEC = {**INTEGRITY_SPEC, "checkpoint_every": 1}  # a checkpoint every step


def _load(path):
    return torch.load(path, weights_only=False)


def _assert_same(a, b, where="obj"):
    """Same structure, types, OrderedDict metadata and tensor values (dtype, shape, strides) throughout."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), where
        assert torch.equal(a, b) and a.requires_grad == b.requires_grad, where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        assert getattr(a, "_metadata", None) == getattr(b, "_metadata", None), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture
def trained_run():
    """A run after two Adam steps (optimiser state present) and its checkpoint object."""
    run = build_run(SPEC, torch.device("cpu"), log=False)
    for _ in range(2):
        batch = run.task.sample(8, 4, run.data_gen, n_dims_active=2)
        run.opt.zero_grad()
        run.task.loss(run.model.predict(run.task, batch), batch).backward()
        run.opt.step()
        run.sched.step()
    return run, checkpoint_dict(run, "abc", 2, 1.5, provenance(torch.device("cpu")))


@pytest.fixture
def slow_writes(monkeypatch):
    """``atomic_save`` as the writer thread calls it, sleeping first; records (path, start, end) per write."""
    writes, real = [], checkpoints.atomic_save

    def slow(obj, path):
        start = time.perf_counter()
        time.sleep(0.2)
        real(obj, path)
        writes.append((path, start, time.perf_counter()))

    monkeypatch.setattr(checkpoints, "atomic_save", slow)
    return writes


def test_a_background_checkpoint_is_the_file_atomic_save_writes(trained_run, tmp_path):
    _, state = trained_run
    atomic_save(state, tmp_path / "direct.pt")
    with BackgroundSaver() as saver:
        saver.save(state, tmp_path / "background.pt")
    direct, background = _load(tmp_path / "direct.pt"), _load(tmp_path / "background.pt")
    _assert_same(direct, background)
    assert (tmp_path / "direct.pt").read_bytes() == (tmp_path / "background.pt").read_bytes()
    assert load_checkpoint(tmp_path / "background.pt", expected_hash="abc")["step"] == 2  # its hash recorded


def test_the_snapshot_does_not_follow_later_in_place_updates(trained_run, tmp_path, slow_writes):
    run, state = trained_run
    before = snapshot(state)
    with BackgroundSaver() as saver:
        saver.save(state, tmp_path / "last.pt")
        with torch.no_grad():  # what the next optimiser step does while the file is written
            for p in run.model.parameters():
                p.add_(1.0)
            for s in run.opt.state.values():
                s["exp_avg"].mul_(3.0)
    assert slow_writes  # the file went through the slow writer, which read the snapshot after the update
    _assert_same(before, _load(tmp_path / "last.pt"))
    assert not torch.equal(before["model"]["read_in.weight"], run.model.read_in.weight)  # the update happened


def test_the_snapshot_keeps_shared_tensors_shared_and_the_state_dict_metadata():
    base = torch.arange(12.0)
    sd = torch.nn.Linear(3, 2).state_dict()
    obj = {"a": base, "again": base, "view": base[4:8].view(2, 2), "sd": sd, "pair": (1, "x", None), "n": [2.5]}
    snap = snapshot(obj)
    assert snap["again"] is snap["a"] and snap["a"] is not base
    assert snap["view"].untyped_storage().data_ptr() == snap["a"].untyped_storage().data_ptr()
    assert snap["view"].storage_offset() == 4 and torch.equal(snap["view"], base[4:8].view(2, 2))
    assert isinstance(snap["sd"], OrderedDict) and snap["sd"]._metadata == sd._metadata
    assert snap["sd"]._metadata is not sd._metadata
    torch.nn.Linear(3, 2).load_state_dict(snap["sd"])
    base.zero_()
    assert snap["a"].sum() == 66 and snap["view"].sum() == 4 + 5 + 6 + 7  # independent of the input


def test_one_write_in_flight_and_in_order(tmp_path, slow_writes):
    with BackgroundSaver() as saver:
        saver.save({"step": 1}, tmp_path / "a.pt")
        first_returned = time.perf_counter()
        saver.save({"step": 2}, tmp_path / "b.pt")
        second_returned = time.perf_counter()
        assert second_returned >= slow_writes[0][2]  # the second waited for the first write to end
    assert first_returned < slow_writes[0][2]  # the first did not wait for its own write
    assert [p.name for p, _, _ in slow_writes] == ["a.pt", "b.pt"]
    assert slow_writes[1][1] >= slow_writes[0][2]
    assert _load(tmp_path / "b.pt") == {"step": 2}


def test_save_all_writes_a_packs_files_as_one_write_and_names_the_one_that_failed(tmp_path, slow_writes,
                                                                                   monkeypatch):
    with BackgroundSaver() as saver:
        saver.save_all([({"run": i}, tmp_path / f"run{i}.pt") for i in range(3)])
        returned = time.perf_counter()
    assert returned < slow_writes[0][2]  # nothing waited for the K writes
    assert [p.name for p, _, _ in slow_writes] == ["run0.pt", "run1.pt", "run2.pt"]
    assert [_load(tmp_path / f"run{i}.pt") for i in range(3)] == [{"run": 0}, {"run": 1}, {"run": 2}]

    real = checkpoints.atomic_save

    def second_fails(obj, path):
        if path.name == "run1.pt":
            raise ValueError("cannot pickle this")
        real(obj, path)

    monkeypatch.setattr(checkpoints, "atomic_save", second_fails)
    saver = BackgroundSaver()
    saver.save_all([({"run": i, "step": 2}, tmp_path / f"run{i}.pt") for i in range(3)])
    with pytest.raises(WriteFailedError, match=re.escape(f"could not write {tmp_path / 'run1.pt'}")):
        saver.close()
    # written up to the failure, then stopped: the later run keeps its previous checkpoint
    assert [_load(tmp_path / f"run{i}.pt") for i in range(3)] == [{"run": 0, "step": 2}, {"run": 1}, {"run": 2}]


def test_a_write_error_names_the_path_and_is_raised_by_wait_and_save(tmp_path, monkeypatch):
    def broken(obj, path):
        raise ValueError("cannot pickle this")

    monkeypatch.setattr(checkpoints, "atomic_save", broken)
    saver = BackgroundSaver()
    saver.save({"step": 1}, tmp_path / "last.pt")
    with pytest.raises(WriteFailedError, match=re.escape(f"could not write {tmp_path / 'last.pt'}")) as err:
        saver.wait()
    assert "ValueError: cannot pickle this" in str(err.value) and isinstance(err.value.__cause__, ValueError)
    saver.wait()  # raised once
    saver.save({"step": 2}, tmp_path / "next.pt")
    with pytest.raises(WriteFailedError, match=re.escape(str(tmp_path / "next.pt"))):
        saver.save({"step": 3}, tmp_path / "third.pt")  # the next save reports the failed write
    saver.close()


def test_a_full_disk_is_raised_unchanged(tmp_path, monkeypatch):
    ckpt = tmp_path / "last.pt"
    atomic_save({"step": 1}, ckpt)

    def full(obj, f, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    saver = BackgroundSaver()
    saver.save({"step": 2}, ckpt)
    with pytest.raises(WriteFailedError, match=rf"^could not write {re.escape(str(ckpt))}: the disk is full") as err:
        saver.close()
    assert "the previous last.pt is intact" in str(err.value)
    monkeypatch.undo()

    error = WriteFailedError("disk full, as atomic_save says it")
    monkeypatch.setattr(checkpoints, "atomic_save", lambda obj, path: (_ for _ in ()).throw(error))
    with pytest.raises(WriteFailedError) as err:
        with BackgroundSaver() as saver:
            saver.save({"step": 3}, ckpt)
    assert err.value is error  # as it is, not wrapped
    assert _load(ckpt) == {"step": 1}


def test_trainings_exception_keeps_precedence_over_a_write_error(tmp_path, monkeypatch):
    def broken(obj, path):
        time.sleep(0.1)
        raise WriteFailedError(f"could not write {path}: the disk is full")

    monkeypatch.setattr(checkpoints, "atomic_save", broken)
    with pytest.raises(KeyError, match="from training") as err:
        with BackgroundSaver() as saver:
            saver.save({"step": 1}, tmp_path / "last.pt")
            raise KeyError("from training")
    assert any(f"could not write {tmp_path / 'last.pt'}" in note for note in err.value.__notes__)


def test_the_non_finite_message_sees_the_checkpoint_being_written(tmp_path, slow_writes):
    ckpt = tmp_path / "ckpt" / "last.pt"
    saver = BackgroundSaver()
    saver.save({"step": 1}, ckpt)
    assert not ckpt.exists()  # still being written
    error = non_finite_error(float("nan"), 3, ckpt, ckpt.parent, saver=saver)
    assert f"the last good checkpoint ({ckpt}) is kept" in str(error)
    saver.close()


def test_a_run_resumed_from_a_checkpoint_written_while_training_went_on_equals_the_uninterrupted_run(
        tmp_path, monkeypatch):
    # Each write sleeps first, so the training thread updates the weights in place while the step-7 file is written;
    # a copy of that file then resumes the run.
    real = checkpoints.atomic_save
    kept = tmp_path / "kept"

    def slow(obj, path):
        time.sleep(0.02)
        real(obj, path)
        if obj["step"] == 7:
            real(obj, kept / "ckpt" / "last.pt")

    monkeypatch.setattr(checkpoints, "atomic_save", slow)
    full = train(SPEC, tmp_path / "model.pt", tmp_path / "metrics.csv", tmp_path / "ckpt", progress=False)
    assert not (tmp_path / "ckpt").exists()  # removed after model.pt, once its last write had ended
    assert load_checkpoint(kept / "ckpt" / "last.pt")["step"] == 7
    resumed = train(SPEC, kept / "model.pt", kept / "metrics.csv", kept / "ckpt", progress=False)
    for (name, p), q in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name
    _assert_same(_load(tmp_path / "model.pt")["model"], _load(kept / "model.pt")["model"])
