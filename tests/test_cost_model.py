"""The GPU cost model (benchmarks/cost_model.py, mambaicl.analysis.cost): curriculum token averages, run
counting, the measured-step scaling rule, and the script's last lines."""

import importlib.util
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mambaicl.analysis import cost, nlp_cost, step_model
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


def _load_script():
    spec = importlib.util.spec_from_file_location("cost_model", REPO / "benchmarks" / "cost_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run_script(config_name: str, measured=MEASURED):
    """benchmarks/cost_model.py's main on a workflow config with the device check's measurements: (totals, output)."""
    mod = _load_script()
    buf = io.StringIO()
    totals = mod.main(["--configfile", str(REPO / "workflow" / "config" / config_name), "--measured", str(measured)],
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
    assert totals["floor"] <= totals["packed"] <= totals["packed_one"] <= totals["today"] <= totals["today_prop"]


def _rt(backbone="mamba", tokens=82.0, params=10_000_000, tensors=200):
    return cost.RunType("t", "m", backbone, 256, 24, params, 3, 1000, 64, tokens, int(tokens), "k", tensors=tensors)


def test_step_model_is_the_measurement_at_one_and_falls_with_k_to_the_roofline():
    rt = _rt()
    # measured at this length: 1,788 kernels, 30.9 ms busy, 35.5 ms host
    m = step_model.step_model(rt, host_ms=35.5, busy_ms=30.9, kernels=1788, tokens_measured=82, stack=rt.tensors)
    assert m.pack_ms(1) == pytest.approx(35.5 + 30.9)  # K = 1 at the measured length: the measurement
    assert m.host_ms(1) == pytest.approx(35.5)
    per_run = [m.per_run_ms(k) for k in range(1, 65)]
    assert all(a >= b for a, b in zip(per_run, per_run[1:]))  # never worse with more runs per pack
    assert per_run[-1] < per_run[0] / 5
    # a pack launches the unpacked step's kernels once, a stack per tensor and the per-run kernels per further run
    assert m.launches(4) == pytest.approx(1788 + rt.tensors + 3 * m.per_run)
    # beyond the knee the shared kernels are work-bound: per-run busy time tends to the roofline work
    work = step_model.work_s(rt, 82) * 1e3
    assert 1 < m.knee() < 64
    big = m.busy_ms(512) / 512
    assert work * m.scale <= big <= work * m.scale + (m.per_run + (m.stack + 1) / 512) * m.floor_s * 1e3 * m.scale
    # sharing the GPU never beats the GPU-busy time, and never loses to one pack alone
    for k in (1, 8):
        assert m.busy_ms(k) / k <= m.shared_per_run_ms(k, 8) <= m.per_run_ms(k)
    assert m.shared_per_run_ms(1, 1) == pytest.approx(m.per_run_ms(1))
    # lengths: below the knee a longer sequence costs the same busy time (the floor); the pessimistic rule grows it
    assert m.busy_ms(1, 164) == pytest.approx(m.busy_ms(1, 82))
    rt2 = _rt(tokens=164.0)
    m2 = step_model.step_model(rt2, host_ms=35.5, busy_ms=30.9, kernels=1788, tokens_measured=82)
    assert step_model.proportional_pack_ms(m2, 1) == pytest.approx(35.5 + 2 * 30.9)
    assert m2.pack_ms(1) < step_model.proportional_pack_ms(m2, 1)


def test_rwkv_triton_model_drops_the_loop_launches():
    rt = _rt("rwkv", tokens=82.0)
    rt.n_layer = 12
    m = step_model.rwkv_triton_step(rt, host_ms=143.6, busy_ms=25.6, kernels=8443, tokens_measured=82)
    a, b = cost.RWKV_LAUNCH
    assert m.kernels == pytest.approx(8443 * a / (a + 82 * b) + 4 * 12)
    assert m.host_ms(1) < 143.6 / 2  # the loop's launches are most of the step's
    # the kernel's sequential loop over time: 3 us per token and block (forward + backward) of busy time
    assert m.busy_ms(1, 164) - m.busy_ms(1, 82) >= 82 * 3 * step_model.WKV_STEP_S * 12 * 1e3 * 0.999


def test_measured_pack_rows_replace_the_model(tmp_path):
    rows = [line for line in MEASURED.read_text().splitlines() if line.strip()]
    pack = {"phase": "pack", "pair": "linear_regression:transformer", "backbone": "gpt2", "precision": "fp32",
            "tokens": 82, "pack_k": 3, "ms_per_step": 30.0, "ms_per_run_step": 10.0,
            "gpu_kernels_per_step": 1200}
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(rows + [json.dumps(pack)]) + "\n")
    table = cost.index_measurements([json.loads(r) for r in rows] + [pack], lambda r: ("gpt2", 256, 12))
    assert table[("gpt2", 256, 12)].packs[3]["ms_per_step"] == 30.0
    assert not cost.index_measurements([{**pack, "tiny": True}], lambda r: ("gpt2", 256, 12))
    base, _ = _run_script("paper.yaml")
    totals, buf = _run_script("paper.yaml", measured=path)
    text = buf.getvalue()
    assert "device check, pack of 3: 10.00 ms per run step measured" in text and "[measured pack]" in text
    assert "kernels per pack step 1,200 measured" in text
    assert totals["packed"] != pytest.approx(base["packed"])


def test_pack_key_groups_seeds_rates_and_same_layout_tasks():
    config = load("paper.yaml")
    types = cost.run_types(config, params_of=lambda spec, task: 1)
    groups = {}
    for rt in types:
        groups.setdefault(step_model.pack_key(rt), []).append(rt)
    for group in groups.values():
        assert len({(rt.backbone, rt.d_model, rt.n_layer, rt.steps, rt.batch, rt.final_tokens) for rt in group}) == 1
    # Grazzi's three regression tasks (same layout and schedule) share one pack per backbone
    lr = next(g for g in groups.values() if g[0].model == "mamba" and g[0].task == "linear_regression")
    assert {rt.task for rt in lr} >= {"linear_regression", "sparse_linear_regression"}


def test_nlp_costs_of_the_paper_config():
    config = load("paper.yaml")
    costs = {c.model: c for c in nlp_cost.nlp_costs(config)}
    assert len(costs) == 17
    assert costs["llama_30b"].dtype == "float16" and costs["mamba_130m"].dtype == "float32"
    nlp = config["nlp"]
    icl = 18 * nlp["n_prompts"] * nlp_cost.nlp_prompt_tokens(nlp.get("shots", 5)) + 18 * nlp["n_zero_shot"] * nlp_cost.nlp_prompt_tokens(0)
    assert costs["llama_7b"].tokens == icl  # not swept
    assert costs["llama_7b"].flops == pytest.approx(2 * costs["llama_7b"].params * icl)
    assert costs["mamba_2.8b"].tokens > 10 * icl  # swept up to k = 256
    assert all(c.seconds > 0 for c in costs.values())
    assert nlp_cost.nlp_costs({"nlp": {"enabled": False}}) == []


def test_script_prints_the_nlp_and_packing_sections():
    totals, buf = _run_script("cpu.yaml")
    text = buf.getvalue()
    assert "## NLP study (modelled)" in text and "smollm2_135m" in text and totals["nlp"] > 0
    assert "## Packing: K runs folded into one process's kernels (modelled, not measured)" in text
    assert "gpu_slots" in text
    assert text.strip().splitlines()[-1].startswith("estimated packed GPU-hours: ")


def test_roofline_bench_runs_on_cpu_and_its_rows_set_the_efficiencies(tmp_path):
    out = tmp_path / "rows.jsonl"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu" / "bench_roofline.py"), "--device", "cpu",
                        "--tiny", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = {(row["kind"], row.get("pack_k")) for row in rows}
    assert {("matmul", 1), ("matmul", 8), ("elementwise", None)} <= kinds
    assert all("error" not in row and row["us_per_kernel"] > 0 for row in rows)
    assert step_model.roofline_efficiencies(rows) == (None, None)  # --tiny rows never stand for the device
    device = [{"phase": "roofline", "kind": "matmul", "pack_k": 8, "fraction_of_tf32": f} for f in (0.2, 0.3, 0.9)]
    device += [{"phase": "roofline", "kind": "matmul", "pack_k": 1, "fraction_of_tf32": 0.01},
               {"phase": "roofline", "kind": "elementwise", "mbytes": 256, "gbps": 3440.0}]
    mm, bw = step_model.roofline_efficiencies(device)
    assert mm == pytest.approx(0.3) and bw == pytest.approx(0.8)
    # the script takes them over the assumed ones and says so
    measured = tmp_path / "measured.jsonl"
    measured.write_text(MEASURED.read_text() + "".join(json.dumps(d) + "\n" for d in device))
    totals, buf = _run_script("cpu.yaml", measured=measured)
    assert "matmuls at 30% of TF32 (measured), bytes at 80% of the bandwidth (measured)" in buf.getvalue()
    base, _ = _run_script("cpu.yaml")
    assert totals["roofline"] > base["roofline"]  # 30 % instead of the assumed 50 %: more work time


def test_share_efficiency_is_the_least_fraction_of_the_ideal_overlap_measured():
    rows = [json.loads(line) for line in MEASURED.read_text().splitlines() if line.strip()]
    eff, found = step_model.share_efficiency(rows)
    by_pair = {pair: (s, i) for pair, s, i in found}
    s, ideal = by_pair["linear_regression:mamba"]  # 8 processes: 1.72x; ideal 66.4 / 30.9 ms
    assert s == pytest.approx(1.72) and ideal == pytest.approx(66.377 / 30.878)
    assert eff == pytest.approx((1.72 - 1) / (ideal - 1))
    assert step_model.share_efficiency([r for r in rows if r.get("phase") != "share"]) is None
    # the model reproduces that measurement for the Mamba step it came from
    rt = _rt()
    m = step_model.step_model(rt, host_ms=66.377 - 30.878, busy_ms=30.878, kernels=1788, tokens_measured=82)
    assert m.per_run_ms(1) / m.shared_per_run_ms(1, 8, efficiency=eff) == pytest.approx(1.72)


def test_without_triton_rwkv_runs_its_python_loop():
    # the "no-kern" column (no mamba-ssm, no triton) of an RWKV run type is the loop's, as --rwkv-loop prints it
    def rwkv_row(buf):
        line = next(line for line in buf.getvalue().splitlines() if line.startswith("linear_regression ")
                    and " rwkv " in line)
        return [float(x.replace(",", "")) for x in line.split()[12:15]]  # GPU-h, ∝tok h, no-kern

    mod = _load_script()
    args = ["--configfile", str(REPO / "workflow" / "config" / "paper.yaml"), "--measured", str(MEASURED)]
    triton, loop = io.StringIO(), io.StringIO()
    mod.main(args, out=triton)
    mod.main(args + ["--rwkv-loop"], out=loop)
    h, _, no_kern = rwkv_row(triton)
    _, loop_prop, _ = rwkv_row(loop)
    assert no_kern == pytest.approx(loop_prop) and no_kern > 2 * h


def test_compile_speedups_pair_each_mode_with_eager_of_the_same_step():
    base = {"phase": "compile", "backbone": "mamba", "precision": "fp32", "impl": "mamba:kernels", "pack_k": 8}
    rows = [{**base, "compile": "eager", "ms_per_step": 40.0}, {**base, "compile": "fused", "ms_per_step": 20.0},
            {**base, "compile": "graphs", "ms_per_step": 16.0, "graph_breaks": 96},
            {**base, "compile": "graphs", "error": "x"},
            {**base, "compile": "fused", "ms_per_step": 10.0, "tiny": True},
            {**base, "pack_k": 1, "compile": "fused", "ms_per_step": 5.0},  # no eager row at K = 1
            {**base, "phase": "pack", "compile": "fused", "ms_per_step": 1.0}]
    assert cost.compile_speedups(rows) == [("mamba", 8, "fused", 2.0, None), ("mamba", 8, "graphs", 2.5, 96)]
    # the totals never read compiled rows as the eager step
    assert cost.index_measurements(rows, lambda r: ("mamba", 256, 24)) == {}


def test_the_default_is_the_last_device_check_and_none_says_the_totals_are_analytic(tmp_path):
    mod = _load_script()
    assert mod.LATEST_DEVICE_CHECK == MEASURED
    config = ["--configfile", str(REPO / "workflow" / "config" / "cpu.yaml")]
    default, given, analytic = io.StringIO(), io.StringIO(), io.StringIO()
    mod.main(config, out=default)
    mod.main(config + ["--measured", str(MEASURED)], out=given)
    totals = mod.main(config + ["--measured", "none"], out=analytic)
    assert default.getvalue() == given.getvalue()
    lines = analytic.getvalue().strip().splitlines()
    assert lines[-2] == ("estimated GPU-hours today (one run at a time, fp32, the analytic model, no device check "
                         f"given): {mod.num(totals['today'])}")
    assert "measured step times" not in analytic.getvalue()


def test_a_missing_or_damaged_measurement_file_is_an_error_naming_it(tmp_path):
    mod = _load_script()
    config = ["--configfile", str(REPO / "workflow" / "config" / "cpu.yaml")]
    with pytest.raises(SystemExit, match=re.escape(f"--measured {tmp_path / 'gone.jsonl'}: no such file")):
        mod.main(config + ["--measured", str(tmp_path / "gone.jsonl")], out=io.StringIO())
    damaged = tmp_path / "results.jsonl"
    damaged.write_text(MEASURED.read_text().splitlines()[0] + "\n" + '{"phase": "bench", "ms_per' + "\n")
    with pytest.raises(SystemExit, match=re.escape(f"--measured {damaged}, line 2: not JSON")):
        mod.main(config + ["--measured", str(damaged)], out=io.StringIO())
