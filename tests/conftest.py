import os
from pathlib import Path

import pytest
import torch

from workflow_helpers import SMOKE, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]

# Tiny models run fastest single-threaded; keeps the suite predictable on 2-core CI machines.
torch.set_num_threads(int(os.environ.get("MAMBAICL_TEST_THREADS", "1")))


@pytest.fixture
def repo() -> Path:
    return REPO


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The whole smoke DAG, run once per test session in a fresh copy of the workflow; every stage's
    end-to-end tests read its outputs. Tests that modify it must leave it complete."""
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    snakemake(["--cores", "2", "--configfile", SMOKE], cwd=work)
    return work
