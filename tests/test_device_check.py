"""The GPU device check's parts that run without a GPU (benchmarks/gpu/, README "GPU device check").

Fast and offline: argument parsing and phase selection, the preparation's plan (--dry-run), the GPU-target
patcher and the kernel trimmer on sample sources (and on the real sdists when benchmarks/gpu/prepared/
holds them), the short paper-config run as a Snakemake dry run, the summary, and bash syntax.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
import pytest
import yaml

from mambaicl.models import BACKBONES, build_model
from mambaicl.models.mamba import MambaMixer
from workflow_helpers import copy_workflow, planned_jobs, snakemake

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / "benchmarks" / "gpu"
PREPARED = GPU / "prepared" / "sdists"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"device_check_{name}", GPU / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def device_check(*args, env=None, **kw):
    return subprocess.run(["bash", str(GPU / "device_check.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


# ---- the shell scripts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["device_check.sh", "prepare.sh"])
def test_bash_syntax(script):
    out = subprocess.run(["bash", "-n", str(GPU / script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_dry_run_plans_every_phase_in_order_and_writes_nothing(tmp_path):
    out = device_check("--dry-run", env={"OUT": str(tmp_path / "out"), "PREPARED": str(tmp_path / "none")})
    assert out.returncode == 0, out.stderr
    phases = [line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("phase ")]
    assert phases == ["env", "build", "bench", "fallback", "roofline", "wait", "pytest", "kernels", "triton", "pack",
                      "compile", "snakemake", "share"]
    assert "DEADLINE=540s" in out.stdout and "run prepare.sh" in out.stdout
    assert "phase triton (limit 45s)" in out.stdout and "phase pack (limit 120s)" in out.stdout
    assert "phase roofline (limit 30s)" in out.stdout
    assert not (tmp_path / "out").exists()


def test_phase_selection(tmp_path):
    env = {"OUT": str(tmp_path / "out"), "DEADLINE": "300"}

    def phases(*args):
        out = device_check("--dry-run", *args, env=env)
        assert out.returncode == 0, out.stderr
        return [line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("phase ")]

    assert phases("--phases", "pytest,bench") == ["env", "bench", "pytest"]  # run order; env always
    assert phases("--phases=kernels") == ["env", "kernels"]
    assert phases("--skip", "build,wait,share") == ["env", "bench", "fallback", "roofline", "pytest", "kernels",
                                                    "triton", "pack", "compile", "snakemake"]
    assert phases("--phases", "pack,triton") == ["env", "triton", "pack"]
    assert "DEADLINE=300s" in device_check("--dry-run", env=env).stdout
    for bad in (["--phases", "bench,gpu"], ["--skip", "nope"], ["--frobnicate"]):
        out = device_check("--dry-run", *bad, env=env)
        assert out.returncode == 2 and ("unknown phase" in out.stderr or "unknown argument" in out.stderr)


def test_help_describes_phases_and_outputs():
    out = device_check("--help")
    assert out.returncode == 0
    for word in ("env", "build", "snakemake", "share", "results.jsonl", "summary.md", "PREPARED", "DEADLINE"):
        assert word in out.stdout


def test_out_holds_at_most_eight_named_files():
    """Every file the script writes into OUT is one of its eight names (some hosts return only a few)."""
    text = (GPU / "device_check.sh").read_text()
    names = text.split("OUT_FILES=(", 1)[1].split(")", 1)[0].split()
    assert len(names) == 8
    import re

    written = set(re.findall(r'\$OUT/([A-Za-z_.$]+)', text)) - {"$f"}
    written = {w.replace("$pkg", p) for w in written for p in ("causal_conv1d", "mamba_ssm")}
    assert written <= set(names), written - set(names)


def test_env_phase_runs_on_a_cpu_and_reports(tmp_path):
    out_dir = tmp_path / "out"
    out = device_check("--phases", "env", timeout=120,
                       env={"OUT": str(out_dir), "WORK": str(tmp_path / "work"), "PREPARED": str(tmp_path / "none"),
                            "PYTHON": sys.executable})
    assert out.returncode == 0, out.stdout + out.stderr
    assert {p.name for p in out_dir.iterdir()} <= {"summary.md", "summary.log", "results.jsonl", "phases.log"}
    rows = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    env = next(r for r in rows if r.get("phase") == "env")
    assert env["cuda_available"] is False and env["versions"]["torch"]
    assert not [m for m in env["missing_imports"] if m.startswith("mambaicl")]
    assert rows[-1] == {**rows[-1], "phase": "run", "event": "end"}
    assert "Finished after" in (out_dir / "summary.md").read_text()


# ---- the GPU-target patcher -------------------------------------------------------------------------------

# the shape of mamba-ssm 2.3.2.post1's and causal-conv1d 1.7.0's setup.py around the target list (abridged)
SAMPLE_SETUP = '''\
import os
if not SKIP_CUDA_BUILD:
    cc_flag = []
    if HIP_BUILD:
        cc_flag.append("-DBUILD_PYTHON_PACKAGE")
    else:
        cc_flag.append("-gencode")
        cc_flag.append("arch=compute_75,code=sm_75")
        cc_flag.append("-gencode")
        cc_flag.append("arch=compute_80,code=sm_80")
        if bare_metal_version >= 13:
            cc_flag.append("-gencode")
            cc_flag.append("arch=compute_121,code=sm_121")

    # HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI is set to be the same as
    if FORCE_CXX11_ABI:
        pass
    extra_compile_args = {"nvcc": ["-O3"] + cc_flag}
'''


def run_setup(text: str, hip: bool = False) -> list[str]:
    ns = {"SKIP_CUDA_BUILD": False, "HIP_BUILD": hip, "bare_metal_version": 13, "FORCE_CXX11_ABI": False}
    exec(compile(text, "setup.py", "exec"), ns)
    return ns["extra_compile_args"]["nvcc"][1:]


def test_arch_lists_parse_like_torch_cuda_arch_list():
    ca = load("cuda_archs")
    assert ca.parse_archs("8.0;9.0") == ["8.0", "9.0"]
    assert ca.parse_archs(" 8.0, 9.0a 9.0+ptx 8.0 ") == ["8.0", "9.0a", "9.0+PTX"]
    assert ca.gencode_flags(["9.0+PTX", "9.0a"]) == [
        "-gencode", "arch=compute_90,code=sm_90", "-gencode", "arch=compute_90,code=compute_90",
        "-gencode", "arch=compute_90a,code=sm_90a"]
    for bad in ("", "sm_90", "9", "9.0+SASS"):
        with pytest.raises(ValueError):
            ca.parse_archs(bad)


def test_patcher_replaces_the_hard_coded_targets():
    ca = load("cuda_archs")
    assert run_setup(SAMPLE_SETUP) == ["-gencode", "arch=compute_75,code=sm_75", "-gencode",
                                       "arch=compute_80,code=sm_80", "-gencode", "arch=compute_121,code=sm_121"]
    assert ca.targets_of(SAMPLE_SETUP) == ["sm_75", "sm_80", "sm_121"]
    patched = ca.patch_text(SAMPLE_SETUP, ["9.0"])
    assert run_setup(patched) == ["-gencode", "arch=compute_90,code=sm_90"]
    assert run_setup(patched, hip=True) == ["-DBUILD_PYTHON_PACKAGE"]  # ROCm builds untouched
    again = ca.patch_text(patched, ["8.0", "9.0"])  # patching again replaces the earlier choice
    assert run_setup(again) == ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]
    assert again.count("cuda_archs.py: begin") == 1 and ca.targets_of(again) == ["sm_80", "sm_90"]
    with pytest.raises(ValueError, match="not the expected"):
        ca.patch_text(SAMPLE_SETUP.replace("# HACK", "# hack"), ["9.0"])


def test_patcher_command_line(tmp_path, capsys):
    ca = load("cuda_archs")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "setup.py").write_text(SAMPLE_SETUP)
    assert ca.main(["--archs", "8.0;9.0+PTX", str(tmp_path / "pkg")]) == 0
    assert "sm_80 sm_90 compute_90" in capsys.readouterr().out
    assert ca.main(["--show", str(tmp_path / "pkg" / "setup.py")]) == 0
    assert ca.main(["--archs", "9.x", str(tmp_path / "pkg")]) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    assert ca.main(["--archs", "9.0", str(tmp_path / "other")]) == 1


def unpack(tmp_path: Path, prefix: str) -> Path:
    sdist = next(PREPARED.glob(f"{prefix}-*.tar.gz"), None)
    if sdist is None:
        pytest.skip("no prepared sdists (bash benchmarks/gpu/prepare.sh)")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    return next(tmp_path.glob(f"{prefix}-*/"))


@pytest.mark.parametrize("prefix", ["mamba_ssm", "causal_conv1d"])
def test_patcher_on_the_real_setup_py(tmp_path, prefix):
    ca = load("cuda_archs")
    src = unpack(tmp_path, prefix)
    text = (src / "setup.py").read_text()
    assert len(ca.targets_of(text)) == 9  # the nine hard-coded targets of the pinned release
    assert ca.main(["--archs", "9.0", str(src)]) == 0
    assert ca.targets_of((src / "setup.py").read_text()) == ["sm_90"]
    compile((src / "setup.py").read_text(), "setup.py", "exec")


# ---- the kernel trimmer -------------------------------------------------------------------------------------


def test_trimmer_on_sample_sources(tmp_path):
    tk = load("trim_kernels")
    m = tmp_path / "mamba" / "csrc" / "selective_scan"
    m.mkdir(parents=True)
    (m / "selective_scan.cpp").write_text(
        "#define DISPATCH_WTYPE_FLOAT_AND_COMPLEX(WTYPE, NAME, ...) \\\n    if (float) {} else if (complex) {}\n\nrest\n")
    for dt in ("fp32", "fp16", "bf16"):
        (m / f"selective_scan_fwd_{dt}.cu").write_text(
            "template void f<x, float>(P &p);\ntemplate void f<x, complex_t>(P &p);\n")
    (tmp_path / "mamba" / "setup.py").write_text("\n".join(
        f'    "csrc/selective_scan/selective_scan_bwd_{dt}_{k}.cu",' for dt in ("fp32", "fp16", "bf16")
        for k in ("real", "complex")) + "\n")
    c = tmp_path / "conv" / "csrc"
    c.mkdir(parents=True)
    (c / "causal_conv1d.cpp").write_text("#define DISPATCH_WTYPE_FLOAT_AND_HALF_AND_BF16(WTYPE, NAME, ...) \\\n"
                                         "    half bf16 float\n\nrest\n")
    (c / "causal_conv1d_fwd.cu").write_text("".join(f"template void g<{i}, {w}>(P &p);\n"
                                                    for i in ("float", "at::Half") for w in ("float", "at::Half", "at::BFloat16")))
    assert tk.main([str(tmp_path / "mamba"), str(tmp_path / "conv")]) == 0
    assert "complex" not in (tmp_path / "mamba" / "setup.py").read_text()
    assert "real" in (tmp_path / "mamba" / "setup.py").read_text()
    assert "complex_t" not in (m / "selective_scan_fwd_fp32.cu").read_text()
    assert "(trimmed build)" in (m / "selective_scan.cpp").read_text() and "rest" in (m / "selective_scan.cpp").read_text()
    assert (c / "causal_conv1d_fwd.cu").read_text().count("template void") == 2
    assert tk.main([str(tmp_path / "mamba"), str(tmp_path / "conv")]) == 0  # trimming twice changes nothing
    assert tk.main([str(tmp_path / "conv"), str(tmp_path / "mamba")]) == 1  # wrong order: a clear error


def test_trimmer_on_the_real_sources(tmp_path):
    tk = load("trim_kernels")
    mamba, conv = unpack(tmp_path, "mamba_ssm"), unpack(tmp_path, "causal_conv1d")
    assert tk.main([str(mamba), str(conv)]) == 0
    setup = (mamba / "setup.py").read_text()
    assert "_complex.cu" not in setup and setup.count("_real.cu") == 3
    compile(setup, "setup.py", "exec")
    for f in (conv / "csrc").glob("causal_conv1d_*.cu"):
        lines = [line for line in f.read_text().splitlines() if line.startswith("template void")]
        assert lines and all(", float>(" in line for line in lines), f.name


# ---- the preparation ----------------------------------------------------------------------------------------


def test_prepare_dry_run_lists_what_it_would_download_and_touches_nothing(tmp_path):
    dest = tmp_path / "prepared"
    out = subprocess.run(["bash", str(GPU / "prepare.sh"), "--dry-run", "--dest", str(dest)], capture_output=True,
                         text=True, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    env = (REPO / "environment.yml").read_text()
    for name in ("snakemake", "jsonschema", "mamba-ssm", "causal-conv1d"):
        version = env.split(f"{name}==", 1)[1].split()[0]
        assert f"{name}=={version}" in text
    assert "--python-version 3.12" in text and "--only-binary=:all:" in text and "--no-deps" in text
    assert "MAMBA_SKIP_CUDA_BUILD=TRUE" in text and "host-packages.txt" in text
    assert not dest.exists()


def test_prepare_helpers():
    pr = load("prepare")
    assert pr.read_pins("  - snakemake==9.1\n  - jsonschema==4.2\n# pip download --no-deps mamba-ssm==2.3 "
                        "causal-conv1d==1.7.0\n") == {"snakemake": "9.1", "jsonschema": "4.2", "mamba-ssm": "2.3",
                                                     "causal-conv1d": "1.7.0"}
    with pytest.raises(ValueError, match="mamba-ssm"):
        pr.read_pins("  - snakemake==9.1\n  - jsonschema==4.2\n")
    host = pr.read_host_packages("# comment\nPyYAML==6.0.2\ntyping_extensions @ file:///x\n-e git+x\nTorch numpy\n")
    assert host == {"pyyaml", "typing-extensions", "torch", "numpy"}
    shipped = pr.read_host_packages((GPU / "host-packages.txt").read_text())
    assert {"torch", "triton", "numpy", "pytest", "einops", "packaging"} <= shipped
    assert not {"snakemake", "jsonschema", "mamba-ssm", "causal-conv1d"} & shipped
    assert pr.wheel_name("snakemake_interface_common-1.23.0-py3-none-any.whl") == "snakemake-interface-common"
    assert ["--abi", "cp312"] == pr.tag_args("3.12")[5:7]
    with pytest.raises(SystemExit):
        pr.main(["--python-version", "312", "--dry-run"])


# ---- the benchmarks' plans ------------------------------------------------------------------------------------


def test_bench_steps_plans_one_paper_config_per_backbone():
    bs = load("bench_steps")
    assert set(bs.BY_BACKBONE) == set(BACKBONES)
    with_mixers = {b for b in BACKBONES
                   if any(isinstance(m, MambaMixer) for m in build_model(
                       {"backbone": b, "d_model": 16, "n_layer": 2, "n_head": 2, "d_state": 4}, 3, 0).modules())}
    assert with_mixers == set(bs.MAMBA_BACKBONES)
    paper = yaml.safe_load((REPO / "workflow" / "config" / "paper.yaml").read_text())
    for backbone, pair in bs.BY_BACKBONE.items():
        task, model = pair.split(":")
        assert paper["models"][model]["backbone"] == backbone
        assert any(e["task"] == task and model in e["models"] for e in paper["experiments"]), pair
    args = bs.parse_args(["--group", "mamba", "--paths", "kernels", "fallback", "--device", "cpu"])
    rows = bs.planned_rows(args, lambda pair: pair.split(":")[1].replace("linear_regression", ""))
    assert {r["path"] for r in rows} == {"kernels", "fallback"} and {r["precision"] for r in rows} == {"fp32"}
    args = bs.parse_args(["--pairs", "linear_regression:transformer", "--paths", "auto", "fallback"])
    args.device = "cuda"
    rows = bs.planned_rows(args, lambda pair: "gpt2")
    assert [(r["precision"], r["path"]) for r in rows] == [("fp32", "auto"), ("bf16", "auto")]
    with pytest.raises(SystemExit):
        bs.parse_args(["--pairs", "transformer"])


def test_bench_steps_plans_packs_and_the_triton_path():
    bs = load("bench_steps")
    backbone = {pair: b for b, pair in bs.BY_BACKBONE.items()}.get
    args = bs.parse_args(["--group", "all", "--paths", "triton", "--pack", "1", "4", "--device", "cpu"])
    rows = bs.planned_rows(args, backbone)
    assert {r["backbone"] for r in rows} == {"mamba", "standard_hybrid", "mambaformer", "rwkv"}  # Mamba or RWKV blocks
    assert [r["pack_k"] for r in rows if r["backbone"] == "rwkv"] == [1, 4]
    args = bs.parse_args(["--group", "all", "--paths", "auto", "kernels", "--pack", "8", "--precisions", "fp32"])
    rows = bs.planned_rows(args, backbone)
    assert len([r for r in rows if r["path"] == "auto"]) == len(bs.BY_BACKBONE)
    assert {r["backbone"] for r in rows if r["path"] == "kernels"} == set(bs.MAMBA_BACKBONES)
    assert "pack_k" not in bs.planned_rows(bs.parse_args(["--device", "cpu"]), backbone)[0]
    assert bs.SCAN_OF["fallback"] == "torch" and set(bs.SCAN_OF) == set(bs.PATHS)
    with pytest.raises(SystemExit):
        bs.parse_args(["--pack", "0"])
    # the device check's pack phase times every backbone, the Mamba-containing ones first
    import re

    phase = (GPU / "device_check.sh").read_text().split("run_phase pack ", 1)[1].split("\n\n", 1)[0]
    pairs = re.findall(r"\b\w+:\w+\b", phase)
    assert sorted(pairs) == sorted(bs.BY_BACKBONE.values()) and "--pack 1 4 8" in phase
    assert {backbone(p) for p in pairs[:3]} == set(bs.MAMBA_BACKBONES)


def test_bench_steps_times_packs_on_a_cpu(tmp_path, capsys):
    """The pack rows of a real (tiny) run: one per K, the trainer's packed step, and an error row for a path that
    cannot run here (mamba-ssm's kernels, Triton without its interpreter), after which the loop goes on."""
    bs = load("bench_steps")
    out = tmp_path / "rows.jsonl"
    assert bs.main(["--device", "cpu", "--tiny", "--steps", "1", "--warmup", "0", "--pack", "1", "2", "--profile",
                    "--precisions", "fp32", "--pairs", "linear_regression:mamba", "linear_regression:transformer",
                    "--paths", "kernels", "fallback", "auto", "--phase", "pack", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["backbone"], r["path"], r["pack_k"]) for r in rows] == [
        ("mamba", "kernels", 1), ("mamba", "kernels", 2), ("mamba", "fallback", 1), ("mamba", "fallback", 2),
        ("mamba", "auto", 1), ("mamba", "auto", 2), ("gpt2", "auto", 1), ("gpt2", "auto", 2)]
    assert all(r["phase"] == "pack" for r in rows)
    assert rows[0]["scan"] == "kernels" and "ConfigError" in rows[0]["error"] and "ms_per_step" not in rows[0]
    for r in rows[2:]:
        assert "error" not in r, r
        assert r["ms_per_run_step"] == pytest.approx(r["ms_per_step"] / r["pack_k"], abs=1e-3)
        assert len(r["losses"]) == r["pack_k"] and r["steps_timed"] == 1 and r["cpu_aten_ops_per_step"] > 0
    assert (rows[2]["scan"], rows[2]["impl"], rows[4]["scan"], rows[4]["impl"]) == ("torch", "mamba:torch", "auto",
                                                                                    "mamba:torch")
    assert rows[6]["impl"] is None and rows[6]["mamba_blocks"] == 0
    # the runs differ (seeds 1 and 2); seed 1 starts where it starts alone
    assert rows[3]["losses"][0] != rows[3]["losses"][1]
    assert rows[3]["losses"][0] == pytest.approx(rows[2]["losses"][0], rel=1e-5)


def test_bench_steps_times_compiled_steps(tmp_path, monkeypatch):
    """--compile: one row per train.compile mode (graphs only on CUDA), the trainer's compiled step unpacked and
    packed (traced with aot_eager here: seconds), losses as eager's within rounding; the device check's phase."""
    from mambaicl.training import compile as compile_mod

    bs = load("bench_steps")
    args = bs.parse_args(["--pairs", "linear_regression:mamba", "--compile", "eager", "fused", "graphs", "--pack", "1",
                          "8", "--precisions", "fp32", "--device", "cpu"])
    assert [(r["compile"], r["pack_k"]) for r in bs.planned_rows(args, lambda pair: "mamba")] == [
        ("eager", 1), ("eager", 8), ("fused", 1), ("fused", 8)]
    args.device = "cuda"
    assert len(bs.planned_rows(args, lambda pair: "mamba")) == 6
    phase = (GPU / "device_check.sh").read_text().split("run_phase compile ", 1)[1].split("\n\n", 1)[0]
    assert "--compile eager fused graphs" in phase and "--phase compile" in phase

    monkeypatch.setattr(compile_mod, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    out = tmp_path / "rows.jsonl"
    for pack in ([], ["--pack", "2"]):
        assert bs.main(["--device", "cpu", "--tiny", "--steps", "2", "--warmup", "1", "--precisions", "fp32",
                        "--pairs", "linear_regression:mamba", "--compile", "eager", "fused", "--phase", "compile",
                        "--out", str(out), *pack]) == 0
    torch._dynamo.reset()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["compile"], r.get("pack_k")) for r in rows] == [("eager", None), ("fused", None), ("eager", 2),
                                                               ("fused", 2)]
    assert all("error" not in r for r in rows), rows
    assert rows[1]["loss"] == pytest.approx(rows[0]["loss"], rel=1e-5)
    assert rows[3]["losses"] == pytest.approx(rows[2]["losses"], rel=1e-5)
    # dynamo's counts of the compiled rows: the own scan's loop stays eager, a break per Mamba block
    assert "graph_breaks" not in rows[0] and rows[1]["graph_breaks"] >= 1 and rows[1]["graphs"] >= 2


def test_share_gpu_plan(capsys):
    sg = load("share_gpu")
    assert sg.main(["--list", "--pairs", "linear_regression:mamba", "--counts", "1", "4"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["n_procs"] for r in rows] == [1, 4]
    with pytest.raises(SystemExit):
        sg.parse_args(["--counts", "0"])


# ---- the short paper-config run ---------------------------------------------------------------------------------

SHORT = "benchmarks/gpu/paper_short.yaml"


def test_short_config_is_the_paper_config_cut_short():
    short = yaml.safe_load((REPO / SHORT).read_text())
    paper = yaml.safe_load((REPO / "workflow" / "config" / "paper.yaml").read_text())
    assert short["run_name"] == "gpu_check" and short["require_cuda"] is True and short["device"] == "auto"
    assert short["tasks"] == {"linear_regression": paper["tasks"]["linear_regression"]}
    assert short["models"] == {m: paper["models"][m] for m in ("transformer", "mamba")}
    assert short["experiments"] == [{"task": "linear_regression", "models": ["transformer", "mamba"]}]
    assert paper["experiments"][0]["task"] == "linear_regression"
    assert {"transformer", "mamba"} <= set(paper["experiments"][0]["models"])
    assert 100 <= short["train"]["steps"] <= 1000 and short["train"]["seeds"] == [1]
    for key in ("batch_size", "schedule", "grad_clip"):
        assert short["train"][key] == paper["train"][key], key
    assert short["evaluation"] == paper["evaluation"]
    load("paper_specs").load_config(REPO / SHORT)  # the package's own validation


def test_short_config_dry_run(tmp_path):
    """The CUDA guard sits in the workflow's onstart handler, which a dry run does not run: so this dry run
    needs no `--config require_cuda=false` (which arrives as a string and fails the schema)."""
    work = copy_workflow(tmp_path)
    (work / "benchmarks" / "gpu").mkdir(parents=True)
    shutil.copy(REPO / SHORT, work / SHORT)
    out = snakemake(["-n", "--cores", "16", "--resources", "gpu_slots=2", "--configfile", SHORT, "--",
                     "results/gpu_check/eval/linear_regression/transformer/seed1/errors.npy",
                     "results/gpu_check/eval/linear_regression/mamba/seed1/errors.npy"], cwd=work)
    assert planned_jobs(out.stdout + out.stderr) == {"eval_prompts": 1, "train": 2, "evaluate_model": 2}
    assert "at most 2 at a time on the GPU" in out.stderr


# ---- the records and the summary -------------------------------------------------------------------------------


def test_summary_renders_partial_and_complete_runs(tmp_path):
    rp = load("report")
    rows = [
        {"phase": "run", "event": "start", "time": 0, "phases": "env bench", "deadline_s": 540},
        {"event": "phase_end", "name": "env", "status": "ok", "seconds": 3, "elapsed_s": 3},
        {"phase": "env", "gpu": "NVIDIA H200", "capability": "9.0", "versions": {"torch": "2.11.0"}},
        {"phase": "build", "package": "mamba_ssm", "status": "built", "seconds": 150, "archs": "9.0", "trim": "1"},
        {"phase": "kernels_check", "kernels_available": True},
        {"phase": "bench", "backbone": "gpt2", "pair": "linear_regression:transformer", "precision": "bf16",
         "path": "auto", "ms_per_step": 12.5, "gpu_kernels_per_step": 624},
        {"phase": "kernels", "backbone": "mamba", "pair": "linear_regression:mamba", "error": "RuntimeError: x"},
        {"phase": "pytest", "passed": 20, "skipped": 1, "seconds": 40.0, "failures": []},
        {"phase": "workflow", "trainings": {"linear_regression/mamba/seed1": {
            "last_logged_step": 300, "ms_per_step": 30.0, "first_loss": 20.0, "last_loss": 10.0, "finished": True}},
         "evaluations": {}, "job_devices": {}},
        {"phase": "share", "pair": "linear_regression:mamba", "n_procs": 8, "ok": 8, "agg_steps_per_s": 80.0,
         "speedup_vs_one": 3.2},
        {"phase": "roofline", "kind": "matmul", "pack_k": 8, "rows": 5248, "d_in": 256, "d_out": 1024,
         "us_per_kernel": 61.2, "tflops": 180.1, "fraction_of_tf32": 0.45},
        {"phase": "roofline", "kind": "elementwise", "mbytes": 256, "us_per_kernel": 180.0, "gbps": 3700.0},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    assert rp.main(["summary", "--results", str(results), "--out", str(tmp_path / "summary.md")]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "Not finished" in text and "NVIDIA H200" in text and "| gpt2 | linear_regression:transformer | bf16" in text
    assert "RuntimeError: x" in text and "20 passed, 1 skipped" in text and "| 8 | 8 |" in text and "3.2" in text
    assert "| 8 | 5248 | 256 | 1024 | 61.2 | 180.1 | 0.45 |" in text and "| 256 | 180.0 | 3700.0 |" in text
    assert [p.name for p in tmp_path.iterdir()] == sorted(["results.jsonl", "summary.md"]) or \
        sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl", "summary.md"]
    with open(results, "a") as f:
        f.write(json.dumps({"phase": "run", "event": "end", "elapsed_s": 500}) + "\n")
    assert "Finished after 500 s" in rp.summary_text(rp.read_rows(str(results)))


def test_summary_tabulates_packs_against_k1_and_the_unpacked_step():
    rp = load("report")
    base = {"backbone": "mamba", "pair": "linear_regression:mamba", "precision": "fp32"}
    rows = [
        {"phase": "kernels", **base, "path": "kernels", "impl": "mamba:kernels", "ms_per_step": 12.0},
        {"phase": "triton", **base, "path": "triton", "impl": "mamba:triton", "ms_per_step": 30.0},
        {"phase": "pack", **base, "path": "auto", "impl": "mamba:kernels", "pack_k": 1, "ms_per_step": 10.0,
         "ms_per_run_step": 10.0, "gpu_kernels_per_step": 900, "peak_mem_gib": 1.5},
        {"phase": "pack", **base, "path": "auto", "impl": "mamba:kernels", "pack_k": 4, "ms_per_step": 16.0,
         "ms_per_run_step": 4.0, "gpu_kernels_per_step": 1100, "peak_mem_gib": 5.0},
        {"phase": "pack", **base, "path": "auto", "pack_k": 8, "error": "ConfigError: no vmap rule"},
    ]
    text = rp.summary_text(rows)
    assert "## Packed training" in text
    packed = text.split("## Packed training", 1)[1]
    assert "| mamba | 1 | fp32 | mamba:kernels | 10.0 | 10.0 | 1.0 | 12.0 | 1.2 | 900 |  | 1.5 |" in packed
    assert "| mamba | 4 | fp32 | mamba:kernels | 16.0 | 4.0 | 2.5 | 12.0 | 3.0 | 1100 |  | 5.0 |" in packed
    assert "| mamba | 8 | fp32 | auto |" in packed and "ConfigError: no vmap rule" in packed
    # the triton phase's unpacked rows go to the step table, the pack rows do not
    steps = text.split("## Training step at paper size", 1)[1].split("## Packed training", 1)[0]
    assert "| triton | mamba |" in steps and "| pack |" not in steps
    assert "## Packed training" not in rp.summary_text(rows[:2])


def test_summary_tabulates_compile_modes_against_eager():
    rp = load("report")
    base = {"phase": "compile", "backbone": "mamba", "pair": "linear_regression:mamba", "precision": "fp32",
            "path": "auto", "impl": "mamba:kernels", "pack_k": 8}
    rows = [{**base, "compile": "eager", "ms_per_step": 40.0, "gpu_kernels_per_step": 3000, "losses": [1.0, 2.0]},
            {**base, "compile": "fused", "ms_per_step": 20.0, "gpu_kernels_per_step": 1200, "warmup_s": 61.0,
             "losses": [1.0, 2.00002], "graph_breaks": 96, "graphs": 97},
            {**base, "compile": "graphs", "error": "RuntimeError: capture failed"}]
    text = rp.summary_text(rows)
    table = text.split("## Compiled training step", 1)[1]
    assert "| mamba | 8 | fp32 | mamba:kernels | 40.0 | 3000 | 20.0 | 1200 | 2.0 | 61.0 |  |  |  |  | 96 | 2e-05 |" in table
    assert "graphs: RuntimeError: capture failed" in table
    assert "## Packed training" not in text  # compile rows are not the pack phase's


def test_pytest_and_workflow_records(tmp_path):
    rp = load("report")
    log = tmp_path / "pytest.log"
    log.write_text("..F.s\nFAILED tests/test_cuda.py::test_x[mamba] - AssertionError\n"
                   "SKIPPED [2] tests/test_mamba.py:229: needs CUDA and mamba-ssm + causal-conv1d\n"
                   "==== 1 failed, 3 passed, 2 skipped, 40 deselected in 12.34s ====\n")
    row = rp.pytest_row(str(log))
    assert (row["failed"], row["passed"], row["skipped"], row["seconds"]) == (1, 3, 2, 12.34)
    assert row["failures"] == ["tests/test_cuda.py::test_x[mamba]"]
    assert row["skip_reasons"] == ["needs CUDA and mamba-ssm + causal-conv1d"]
    run, logs = tmp_path / "results" / "gpu_check", tmp_path / "logs" / "gpu_check"
    model = run / "models" / "linear_regression" / "mamba" / "seed1"
    model.mkdir(parents=True)
    (model / "train_metrics.csv").write_text("step,loss,n_dims_active,n_points,lr,elapsed_s\n"
                                             "0,20.0,5,11,1e-4,0.5\n300,9.0,5,11,1e-4,9.5\n")
    (model / "model.pt").write_bytes(b"")
    ev = run / "eval" / "linear_regression" / "mamba" / "seed1"
    ev.mkdir(parents=True)
    np.save(ev / "errors.npy", np.ones((4, 200)))
    (logs / "train" / "linear_regression" / "mamba").mkdir(parents=True)
    (logs / "train" / "linear_regression" / "mamba" / "seed1.log").write_text(
        "training mamba on linear_regression (seed 1, spec abc) on cuda\n")
    smk_log = tmp_path / "snakemake.log"
    row = rp.workflow_row(str(run), str(logs), str(smk_log))
    t = row["trainings"]["linear_regression/mamba/seed1"]
    assert t["last_logged_step"] == 300 and t["ms_per_step"] == pytest.approx(31.67) and t["finished"]
    assert row["evaluations"]["linear_regression/mamba/seed1"]["shape"] == [4, 200]
    assert row["job_devices"] == {"train/linear_regression/mamba/seed1.log": "cuda"}
    assert "training mamba" in smk_log.read_text()
