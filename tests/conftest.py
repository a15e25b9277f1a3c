import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workflow_helpers import SMOKE, copy_workflow

REPO = Path(__file__).resolve().parents[1]

# Tiny models run fastest single-threaded; keeps the suite predictable on 2-core CI machines.
torch.set_num_threads(int(os.environ.get("MAMBAICL_TEST_THREADS", "1")))


@pytest.fixture
def repo() -> Path:
    return REPO


def _reads_the_smoke_dag(item) -> bool:
    return "smoke_run" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    # The tests that read the smoke DAG run last: the DAG itself runs in the background from the first test on
    # (_smoke_dag_in_background), beside the rest of the suite, which runs single-threaded.
    items[:] = [item for item in items if not _reads_the_smoke_dag(item)] + \
        [item for item in items if _reads_the_smoke_dag(item)]
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _smoke_dag_in_background(request, tmp_path_factory):
    """The whole smoke DAG, started in a fresh copy of the workflow at the first test when any selected test reads it
    (``smoke_run``): it runs while the other tests do, on the cores they leave (the DAG is most of the suite's time)."""
    if not any(_reads_the_smoke_dag(item) for item in request.session.items):
        yield None
        return
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    log_path = tmp_path_factory.mktemp("smoke-log") / "snakemake.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", SMOKE], cwd=work,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            yield work, proc, log_path
        finally:
            if proc.poll() is None:  # the session ended early (a failure with -x, an interrupt)
                proc.terminate()
                proc.wait()


@pytest.fixture(scope="session")
def smoke_run(_smoke_dag_in_background) -> Path:
    """The smoke DAG's finished run (once per test session); every stage's end-to-end tests read its outputs. Tests
    that modify it must leave it complete."""
    work, proc, log_path = _smoke_dag_in_background
    if proc.wait() != 0:
        tail = log_path.read_text()[-8000:]
        raise AssertionError(f"snakemake --cores 2 --configfile {SMOKE} failed (exit {proc.returncode}):\n{tail}")
    return work
