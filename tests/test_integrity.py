"""Nothing wrong is accepted: flipped bytes in a checkpoint or model.pt are refused, a full disk and a
failed job say so where the user looks (the exception, the job's log), and leave the last good state."""

import errno
import re
import sys
from datetime import datetime

import pytest
import torch

from mambaicl.errors import CheckpointError, MambaICLError
from mambaicl.runtime import log_to
from mambaicl.training import integrity
from mambaicl.training.checkpoints import (
    atomic_save,
    load_checkpoint,
    load_trained_model,
)
from mambaicl.training.loop import train

SPEC = {
    "task": {"name": "linear_regression", "n_dims": 4},
    "curriculum": {"dims": {"start": 2, "end": 4, "inc": 1, "interval": 10},
                   "points": {"start": 4, "end": 8, "inc": 2, "interval": 10}},
    "model": {"backbone": "gpt2", "d_model": 16, "n_layer": 1, "n_head": 2, "learning_rate": 3e-3},
    "seed": 1, "steps": 20, "batch_size": 8, "schedule": "cosine", "grad_clip": None,
    "checkpoint_every": 10, "log_every": 5,
}


def _run(tmp, **kw):
    return train(SPEC, tmp / "model.pt", tmp / "metrics.csv", tmp / "ckpt", progress=False, **kw)


def flip_tensor_bytes(path, tensor, n=8):
    """Invert ``n`` bytes in the middle of ``tensor``'s data inside the saved file."""
    data = bytearray(path.read_bytes())
    raw = tensor.detach().contiguous().numpy().tobytes()
    at = data.find(raw)
    assert at >= 0 and data.find(raw, at + 1) < 0, "tensor data not found once in the file"
    mid = at + len(raw) // 2 - n // 2
    data[mid:mid + n] = bytes(b ^ 0xFF for b in data[mid:mid + n])
    path.write_bytes(bytes(data))


def largest_weight(state):
    return max(state["model"].values(), key=lambda t: t.numel())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A killed run (its last.pt at step 10) and a finished one (its model.pt)."""
    killed, done = tmp_path_factory.mktemp("killed"), tmp_path_factory.mktemp("done")
    _run(killed, stop_after=10)
    _run(done)
    return killed, done


def test_intact_files_load(trained):
    killed, done = trained
    assert load_checkpoint(killed / "ckpt" / "last.pt")["step"] == 10
    _model, state = load_trained_model(done / "model.pt")
    assert state["step"] == 20
    assert integrity.sidecar(done / "model.pt").read_text() == (
        f"{integrity.sha256_file(done / 'model.pt')}  model.pt\n")  # sha256sum -c format


def test_eight_flipped_bytes_in_a_checkpoint_are_refused_and_nothing_is_overwritten(trained, tmp_path):
    killed, _ = trained
    work = tmp_path / "run"
    (work / "ckpt").mkdir(parents=True)
    for name in ("last.pt", "last.pt.sha256"):
        (work / "ckpt" / name).write_bytes((killed / "ckpt" / name).read_bytes())
    ckpt = work / "ckpt" / "last.pt"
    flip_tensor_bytes(ckpt, largest_weight(load_checkpoint(ckpt)))
    flipped, recorded = ckpt.read_bytes(), integrity.sidecar(ckpt).read_bytes()
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(ckpt))} is corrupt: its SHA-256") as err:
        load_checkpoint(ckpt)
    assert f"Delete {ckpt}" in str(err.value) and "rerun the rule" in str(err.value)
    with pytest.raises(CheckpointError, match="is corrupt"):
        _run(work)  # the train job refuses to resume from it
    assert ckpt.read_bytes() == flipped and integrity.sidecar(ckpt).read_bytes() == recorded
    assert not (work / "model.pt").exists()


def test_eight_flipped_bytes_in_a_model_are_refused(trained, tmp_path):
    _, done = trained
    model_pt = tmp_path / "model.pt"
    model_pt.write_bytes((done / "model.pt").read_bytes())
    integrity.sidecar(model_pt).write_bytes(integrity.sidecar(done / "model.pt").read_bytes())
    flip_tensor_bytes(model_pt, largest_weight(load_checkpoint(model_pt)))
    flipped = model_pt.read_bytes()
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(model_pt))} is corrupt") as err:
        load_trained_model(model_pt)
    assert f"Delete {model_pt} and rerun the workflow" in str(err.value)
    assert "trains afresh" in str(err.value)
    assert model_pt.read_bytes() == flipped


def test_a_file_without_its_hash_is_refused_until_recorded(trained, tmp_path):
    _, done = trained
    model_pt = tmp_path / "model.pt"
    model_pt.write_bytes((done / "model.pt").read_bytes())
    with pytest.raises(CheckpointError, match=r"has no integrity record model.pt.sha256") as err:
        load_trained_model(model_pt)
    assert "python -m mambaicl.training.integrity" in str(err.value)
    assert integrity.main([str(model_pt)]) == 0  # the user vouches for the file
    load_trained_model(model_pt)


DISK_ERRORS = [OSError(errno.ENOSPC, "No space left on device"),
               RuntimeError("basic_ios::clear: iostream error"),
               RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing "
                            "file data/3: file write failed")]


@pytest.mark.parametrize("error", DISK_ERRORS, ids=["ENOSPC", "basic_ios", "stream-writer"])
def test_a_full_disk_is_named_and_leaves_the_previous_checkpoint(trained, tmp_path, monkeypatch, error):
    killed, _ = trained
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes((killed / "ckpt" / "last.pt").read_bytes())
    integrity.record(ckpt)
    before = ckpt.read_bytes()

    def full(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise error

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(MambaICLError, match=rf"could not write {re.escape(str(ckpt))}: the disk is full") as err:
        atomic_save({"step": 11}, ckpt)
    assert "Free space" in str(err.value) and "the previous last.pt is intact" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256"]  # no .tmp left
    assert ckpt.read_bytes() == before
    assert load_checkpoint(ckpt)["step"] == 10


def test_a_full_disk_during_training_stops_the_job_and_keeps_the_last_checkpoint(trained, tmp_path, monkeypatch):
    killed, _ = trained
    (tmp_path / "ckpt").mkdir()
    for name in ("last.pt", "last.pt.sha256"):
        (tmp_path / "ckpt" / name).write_bytes((killed / "ckpt" / name).read_bytes())

    def full(obj, f, *a, **k):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(MambaICLError, match="the disk is full"):
        _run(tmp_path)
    monkeypatch.undo()
    assert not list(tmp_path.rglob("*.tmp"))
    assert load_checkpoint(tmp_path / "ckpt" / "last.pt")["step"] == 10


def test_another_write_failure_is_not_called_a_full_disk(tmp_path, monkeypatch):
    def denied(obj, f, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "save", denied)
    with pytest.raises(MambaICLError, match=r"the write failed \(PermissionError") as err:
        atomic_save({}, tmp_path / "model.pt")
    assert "no model.pt was left behind" in str(err.value)
    assert not list(tmp_path.iterdir())


def _headers(text):
    return re.findall(r"^=== attempt started (\S+) ===$", text, re.MULTILINE)


def test_a_failing_job_ends_its_log_with_the_traceback_and_still_fails(tmp_path):
    log = tmp_path / "logs" / "job.log"
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(ValueError, match="boom 42"), log_to(log):
        print("working on it")
        raise ValueError("boom 42")
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    text = log.read_text()
    assert "working on it" in text and "Traceback (most recent call last)" in text
    assert text.rstrip().splitlines()[-1] == "ValueError: boom 42"
    (started,) = _headers(text)
    assert datetime.fromisoformat(started).tzinfo is not None


def test_a_rerun_appends_to_the_log_of_the_failed_attempt(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(KeyError), log_to(log):
        print("first attempt")
        raise KeyError("missing")
    failed = log.read_text()
    with log_to(log):
        print("second attempt")
    text = log.read_text()
    assert text.startswith(failed) and "second attempt" in text[len(failed):]
    assert len(_headers(text)) == 2
    assert re.search(r"=== attempt finished \S+ ===\n\Z", text)


def test_log_to_none_leaves_output_alone(capsys):
    with log_to(None):
        print("to the terminal")
    assert capsys.readouterr().out == "to the terminal\n"
