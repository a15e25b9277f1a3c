"""The GPU cost model (benchmarks/cost_model.py, mambaicl.analysis.cost): curriculum token averages, run
counting, the measured-step scaling rule, and the script's last lines."""

import importlib.util
import io
import re
from pathlib import Path

import pytest

from mambaicl.analysis import cost
from mambaicl.config import iter_runs, load_yaml
from mambaicl.tasks import task_from_spec
from mambaicl.validation import validate

REPO = Path(__file__).resolve().parents[1]
MEASURED = REPO / "benchmarks" / "gpu" / "runs" / "2026-11-30-h200" / "run1-results.jsonl"


def load(name):
    config = load_yaml(REPO / "workflow" / "config" / name)
    validate(config)
    return config


def test_curriculum_token_average_by_hand():
    # points 11, 13, 15 every 3 steps over 10 steps: 3 steps at 11, 3 at 13, then 4 at the end value 15
    sched = {"start": 11, "end": 15, "inc": 2, "interval": 3}
    assert cost.points_histogram(sched, 10) == [(11, 3), (13, 3), (15, 4)]
    task = task_from_spec({"name": "linear_regression", "n_dims": 5})  # interleaved: 2 tokens per point
    mean, final, total = cost.token_profile(task, sched, 10)
    assert total == 2 * (11 * 3 + 13 * 3 + 15 * 4)
    assert mean == pytest.approx(26.4)
    assert final == 30
    assert cost.points_histogram({"start": 7, "end": 7}, 5) == [(7, 5)]


def test_token_layouts_come_from_the_task():
    mqar = task_from_spec({"name": "mqar", "n_dims": 20, "n_pairs": 64})
    assert cost.token_profile(mqar, {"start": 1, "end": 1}, 4)[0] == 129  # k, v pairs then the query
    cot = task_from_spec({"name": "cot_io", "n_dims": 10, "hidden": 8, "mode": "cot"})
    assert cost.tokens_at(cot, 11) == 33


@pytest.mark.parametrize("name", ["smoke.yaml", "cpu.yaml", "paper.yaml"])
def test_run_counting_matches_iter_runs(name):
    config = load(name)
    types = cost.run_types(config, params_of=lambda spec, task: 1)
    assert sum(rt.n_runs for rt in types) == len(list(iter_runs(config)))
    assert len({(rt.task, rt.model) for rt in types}) == len(types)


def test_measured_scaling_rule_on_synthetic_rows():
    row = {"ms_per_step": 30.0, "gpu_busy_ms": 10.0, "tokens": 100}
    # host (30 - 10) constant in length, busy proportional to tokens
    assert cost.scaled_ms(row, "gpt2", 200) == pytest.approx((20.0, 20.0))
    assert cost.scaled_ms(row, "gpt2", 50, layer_ratio=0.5) == pytest.approx((10.0, 2.5))
    # RWKV: host scales with its affine launch count (spec 13: 8,103 at 82 tokens, 16,747 at 202)
    assert cost.launch_ratio("rwkv", 202, 82) == pytest.approx(16747 / 8103)
    # no busy figure: proportional to tokens
    assert sum(cost.scaled_ms({"ms_per_step": 30.0, "tokens": 100}, "mamba", 50)) == pytest.approx(15.0)
    rt = cost.RunType("t", "m", "mamba", 256, 24, 10, 3, 1000, 64, 50.0, 60, "k")
    table = cost.index_measurements(
        [{"phase": "kernels", "precision": "fp32", "backbone": "mamba", "ms_per_step": 30.0, "gpu_busy_ms": 10.0,
          "tokens": 100},
         {"phase": "fallback", "precision": "fp32", "backbone": "mamba", "ms_per_step": 130.0, "tokens": 100},
         {"phase": "kernels", "precision": "bf16", "backbone": "mamba", "ms_per_step": 1.0, "tokens": 100}],
        lambda r: ("mamba", 256, 24))
    host, busy, src = cost.measured_step_ms(rt, table)
    assert (host, busy, src) == (pytest.approx(20.0), pytest.approx(5.0), "measured")
    host, busy, _ = cost.measured_step_ms(rt, table, own_scan=True)  # + (130 - 30) * 50 / 100
    assert host + busy == pytest.approx(75.0)
    assert cost.hours(3600.0, 1000, 3) == pytest.approx(3.0)


def _run_script(config_name: str):
    """benchmarks/cost_model.py's main on a workflow config with the device check's measurements: (totals, output)."""
    spec = importlib.util.spec_from_file_location("cost_model", REPO / "benchmarks" / "cost_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    buf = io.StringIO()
    totals = mod.main(["--configfile", str(REPO / "workflow" / "config" / config_name), "--measured", str(MEASURED)],
                      out=buf)
    return totals, buf


def test_script_last_lines_parse():
    totals, buf = _run_script("cpu.yaml")
    lines = buf.getvalue().strip().splitlines()
    today = re.fullmatch(r"estimated GPU-hours today \(one run at a time, fp32, measured step times\): ([\d.]+)",
                         lines[-2])
    packed = re.fullmatch(r"estimated packed GPU-hours: ([\d.]+)", lines[-1])
    assert today and packed
    assert float(today.group(1)) == pytest.approx(totals["today"], abs=0.05) and totals["today"] > 0
    assert 0 < float(packed.group(1)) <= float(today.group(1))
    assert "a model, not a measurement" in buf.getvalue()
    assert "8 processes sharing the GPU" in buf.getvalue()


def test_pack_model_is_todays_step_at_one_and_falls_with_k_to_the_floor():
    rt = cost.RunType("t", "m", "mamba", 256, 24, 10_000_000, 3, 1000, 64, 82.0, 82, "k")
    # measured at this length: 1,788 kernels, 17.3 us busy each (latency: each moves a few MB)
    pm = cost.pack_model(rt, host_ms=35.5, busy_ms=30.9, kernels=(1788, 30.9e-3 / 1788))
    assert pm.pack_ms(1) == pytest.approx(35.5 + 30.9)  # K = 1: today's step
    assert pm.extra_s == 0 and pm.kernel_bytes == pytest.approx(cost.step_bytes(rt) / 1788)
    per_run = [pm.per_run_ms(k) for k in range(1, 65)]
    assert all(a >= b for a, b in zip(per_run, per_run[1:]))  # never worse with more runs per pack
    assert per_run[-1] < per_run[0] / 8
    knee = pm.knee()
    assert 1 < knee < 64
    # below the knee the pack's busy time stays at the floor; beyond it, bandwidth-bound, it grows with K
    assert pm.busy_ms(int(knee)) == pytest.approx(pm.busy_ms(1))
    k = int(knee) + 10
    assert pm.busy_ms(k) == pytest.approx(1788 * k * pm.kernel_bytes / cost.MEM_BW * 1e3)
    # today's busy time beyond the floor (token growth) is paid per run: no gain from it
    long = cost.pack_model(rt, host_ms=35.5, busy_ms=300.0, kernels=(1788, 30.9e-3 / 1788))
    assert long.pack_ms(1) == pytest.approx(335.5) and long.extra_s > 0
    assert long.busy_ms(4) > 4 * (300.0 - 30.9)


def test_pack_key_groups_seeds_rates_and_same_layout_tasks():
    config = load("paper.yaml")
    types = cost.run_types(config, params_of=lambda spec, task: 1)
    groups = {}
    for rt in types:
        groups.setdefault(cost.pack_key(rt), []).append(rt)
    for group in groups.values():
        assert len({(rt.backbone, rt.d_model, rt.n_layer, rt.steps, rt.batch, rt.final_tokens) for rt in group}) == 1
    # Grazzi's three regression tasks (same layout and schedule) share one pack per backbone
    lr = next(g for g in groups.values() if g[0].model == "mamba" and g[0].task == "linear_regression")
    assert {rt.task for rt in lr} >= {"linear_regression", "sparse_linear_regression"}


def test_nlp_costs_of_the_paper_config():
    config = load("paper.yaml")
    costs = {c.model: c for c in cost.nlp_costs(config)}
    assert len(costs) == 17
    assert costs["llama_30b"].dtype == "float16" and costs["mamba_130m"].dtype == "float32"
    nlp = config["nlp"]
    icl = 18 * nlp["n_prompts"] * cost.nlp_prompt_tokens(nlp.get("shots", 5)) + 18 * nlp["n_zero_shot"] * cost.nlp_prompt_tokens(0)
    assert costs["llama_7b"].tokens == icl  # not swept
    assert costs["llama_7b"].flops == pytest.approx(2 * costs["llama_7b"].params * icl)
    assert costs["mamba_2.8b"].tokens > 10 * icl  # swept up to k = 256
    assert all(c.seconds > 0 for c in costs.values())
    assert cost.nlp_costs({"nlp": {"enabled": False}}) == []


def test_script_prints_the_nlp_and_packing_sections():
    totals, buf = _run_script("cpu.yaml")
    text = buf.getvalue()
    assert "## NLP study (modelled)" in text and "smollm2_135m" in text and totals["nlp"] > 0
    assert "## Packing (modelled, not measured)" in text and "gpu_slots" in text
    assert text.strip().splitlines()[-1].startswith("estimated packed GPU-hours: ")
