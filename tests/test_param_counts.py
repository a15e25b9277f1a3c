"""Parameter counts of the configured models agree with the published ones, and the scaling sweep measures."""

import math

import pandas as pd
import torch

from mambaicl.config import iter_runs, load_yaml, task_spec
from mambaicl.analysis.param_counts import count_table, published_count
from mambaicl.analysis.scaling import measure_forward
from mambaicl.validation import validate
from mambaicl.tasks import task_from_spec


def test_paper_models_match_every_published_count(repo):
    config = validate(load_yaml(repo / "workflow/config/paper.yaml"))  # expands named sizes
    ref = pd.read_csv(repo / "workflow/resources/reference/param_counts.csv")
    models = {m: {k: v for k, v in s.items() if k != "label"} for m, s in config["models"].items()}
    first_task = {}
    for task, model, _ in iter_runs(config):
        first_task.setdefault(model, task)
    token_dims = {m: task_from_spec(task_spec(config, t)).token_dim for m, t in first_task.items()}
    table = count_table({m: models[m] for m in first_task}, token_dims, {m: m for m in first_task}, ref)
    compared = table.dropna(subset=["published"])
    assert set(compared.model) >= {"transformer", "mamba", "s4", "transformer_park", "mamba_park", "s4_park",
                                   "s4_mamba", "mambaformer", "transformer_parity", "mamba_parity",
                                   "mambaformer_parity"}
    assert (compared.params == compared.published.astype(int)).all(), compared.to_string()


def test_standard_hybrid_with_the_released_table_matches_too(repo):
    ref = pd.read_csv(repo / "workflow/resources/reference/param_counts.csv")
    spec = {"backbone": "standard_hybrid", "d_model": 128, "n_layer": 4, "max_tokens": 101}
    assert published_count(spec, 20, ref) == (382_209 - 128, "park: n_layer 4 at 128")


def test_forward_scaling_measures_every_length():
    df = measure_forward({"backbone": "gpt2", "d_model": 16, "n_layer": 1, "n_head": 2}, [16, 32], 1, 4,
                         torch.device("cpu"), repeats=1)
    assert df.length.tolist() == [16, 32]
    assert (df.seconds > 0).all() and not df.peak_mib.isna().any() and (df.peak_mib >= 0).all()
    assert not math.isnan(df.params.iloc[0])


def test_named_sizes_give_grazzis_counts(repo):
    config = load_yaml(repo / "workflow/config/paper.yaml")
    for name, size, expected in [("m", "small", 1_402_241), ("m2", "tiny", 197_697)]:
        config["models"][name] = {"backbone": "mamba", "size": size, "learning_rate": 1e-4}
    config["models"]["s"] = {"backbone": "s4", "size": "small", "learning_rate": 1e-3}
    validate(config)
    from mambaicl.models import build_model

    counts = {n: build_model(config["models"][n], 20, 0).effective_parameters() for n in ("m", "m2", "s")}
    assert counts == {"m": 1_402_241, "m2": 197_697, "s": 601_857}
