"""Evaluation prompt sets: seeded, checksummed, and refused when corrupt."""

import numpy as np
import pytest

from mambaicl.evaluation.prompt_sets import generate_prompt_set, load_prompt_set, save_prompt_set
from mambaicl.errors import DataIntegrityError

SPEC = {"task": {"name": "linear_regression", "n_dims": 5}, "n_prompts": 100, "n_points": 7, "seed": 11}


def test_same_seed_same_prompts_other_seed_differs():
    a, b = generate_prompt_set(SPEC), generate_prompt_set(SPEC)
    c = generate_prompt_set(dict(SPEC, seed=12))
    assert np.array_equal(a.prompts.xs, b.prompts.xs) and np.array_equal(a.prompts.ys, b.prompts.ys)
    assert not np.array_equal(a.prompts.xs, c.prompts.xs)
    assert a.prompts.xs.shape == (100, 7, 5) and a.meta["normalizer"] == 5.0


def test_roundtrip_and_checksum(tmp_path):
    ps = generate_prompt_set(SPEC)
    save_prompt_set(ps, tmp_path / "p.npz", tmp_path / "p.json")
    back = load_prompt_set(tmp_path / "p.npz", tmp_path / "p.json")
    assert np.array_equal(back.prompts.xs, ps.prompts.xs) and np.array_equal(back.prompts.ys, ps.prompts.ys)
    assert back.meta["spec"] == SPEC


def test_corrupt_file_is_refused_with_the_fix(tmp_path):
    ps = generate_prompt_set(SPEC)
    save_prompt_set(ps, tmp_path / "p.npz", tmp_path / "p.json")
    raw = bytearray((tmp_path / "p.npz").read_bytes())
    raw[-100] ^= 0xFF
    (tmp_path / "p.npz").write_bytes(bytes(raw))
    with pytest.raises(DataIntegrityError, match="checksum.*Delete both files and rerun"):
        load_prompt_set(tmp_path / "p.npz", tmp_path / "p.json")


def test_unreadable_metadata_is_refused(tmp_path):
    ps = generate_prompt_set(SPEC)
    save_prompt_set(ps, tmp_path / "p.npz", tmp_path / "p.json")
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(DataIntegrityError, match="cannot read prompt-set metadata"):
        load_prompt_set(tmp_path / "p.npz", tmp_path / "p.json")
