"""Prepare what the GPU device check needs on a host without internet (run by prepare.sh, here, with internet).

Writes DEST (default benchmarks/gpu/prepared/, ignored by git), small enough to travel with the checkout:
  sdists/    mamba-ssm and causal-conv1d source distributions, at the versions environment.yml pins
  wheels/    wheels for the GPU host's Python (default CPython 3.12, manylinux x86_64) of snakemake and
             jsonschema (environment.yml's pins) and their dependencies, except the distributions the host
             already has (--host-packages; default benchmarks/gpu/host-packages.txt)
  MANIFEST.json  pins, target Python, every file with its size and sha256, what the host provides
Sdist-only pure-Python dependencies are built into py3-none-any wheels here. Needs pip and, for the two
sdists' metadata, torch (the project's venv has both). --dry-run prints the plan and touches nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROOTS = ("snakemake", "jsonschema")          # wheels: what the device check runs that the host may lack
SDISTS = ("mamba-ssm", "causal-conv1d")     # built on the host for its GPU
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux_2_12_x86_64", "manylinux2010_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64")
DEFAULT_MAX_MIB = 48  # the prepared folder and the repository travel together within a 64 MiB limit


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(environment_yml: str) -> dict[str, str]:
    """name -> version for ROOTS (pip entries of environment.yml) and SDISTS (pinned in its comments)."""
    pins = {}
    for name in ROOTS:
        m = re.search(rf"^\s*-\s*{re.escape(name)}==(\S+)", environment_yml, re.M)
        if m:
            pins[name] = m.group(1)
    for name in SDISTS:
        m = re.search(rf"(?<![\w-]){re.escape(name)}==([\w.+!-]+)", environment_yml)
        if m:
            pins[name] = m.group(1)
    missing = [n for n in ROOTS + SDISTS if n not in pins]
    if missing:
        raise ValueError(f"environment.yml pins no version of {', '.join(missing)}")
    return pins


def read_host_packages(text: str) -> set[str]:
    """Distribution names from a host list: whitespace-separated names or `pip list --format=freeze` lines."""
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # comments, `-e ...` editable installs
            continue
        if re.search(r"==| @ ", line):  # one requirement per line: `name==1.0`, `name @ file:///...`
            names.add(canonical(re.split(r"[=<>@;\[ ]", line, maxsplit=1)[0]))
        else:
            names.update(canonical(token) for token in line.split())
    names.discard("")
    return names


def wheel_name(filename: str) -> str:
    return canonical(filename.split("-")[0])


def tag_args(python_version: str, platforms=PLATFORMS) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", abi,
            "--abi", "abi3", "--abi", "none"]
    for p in platforms:
        args += ["--platform", p]
    return args + ["--platform", "any"]


def plan(args: argparse.Namespace, pins: dict, host: set) -> list[list[str]]:
    """The pip commands the preparation runs, in order (placeholders in capitals)."""
    pip = [sys.executable, "-m", "pip"]
    roots = [f"{n}=={pins[n]}" for n in ROOTS]
    return [
        pip + ["install", "--dry-run", "--ignore-installed", "--prefer-binary", "--quiet", "--report", "TMP/resolve.json",
               *roots],
        pip + ["wheel", "--no-deps", "-w", "TMP/built", "SDIST_ONLY_DEPENDENCY==VERSION"],
        pip + ["download", *tag_args(args.python_version), "--find-links", "TMP/built", "-d", "TMP/all", *roots],
        ["MAMBA_SKIP_CUDA_BUILD=TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE"] + pip + [
            "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "-d", f"{args.dest}/sdists",
            *[f"{n}=={pins[n]}" for n in SDISTS]],
    ]


def run(cmd: list[str], env: dict | None = None) -> None:
    import os

    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})})


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare(args: argparse.Namespace, pins: dict, host: set) -> dict:
    dest = Path(args.dest)
    for sub in ("wheels", "sdists"):
        shutil.rmtree(dest / sub, ignore_errors=True)
        (dest / sub).mkdir(parents=True)
    (dest / "MANIFEST.json").unlink(missing_ok=True)
    pip = [sys.executable, "-m", "pip"]
    roots = [f"{n}=={pins[n]}" for n in ROOTS]
    with tempfile.TemporaryDirectory(prefix="mambaicl_prepare_") as tmp:
        tmp = Path(tmp)
        # 1. which dependencies exist only as sdists (a binary-only download for another Python cannot take them)
        run(pip + ["install", "--dry-run", "--ignore-installed", "--prefer-binary", "--quiet", "--report",
                   str(tmp / "resolve.json"), *roots])
        report = json.loads((tmp / "resolve.json").read_text())
        sdist_only = [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report["install"]
                      if not i["download_info"]["url"].endswith(".whl")]
        # 2. build those here; they must be pure Python to serve another interpreter
        for req in sdist_only:
            run(pip + ["wheel", "--no-deps", "-w", str(tmp / "built"), req])
        for whl in (tmp / "built").glob("*.whl") if sdist_only else []:
            if not whl.name.endswith("-none-any.whl"):
                raise RuntimeError(f"{whl.name}: an sdist-only dependency with compiled code; it cannot be "
                                   "built here for the GPU host's Python")
        # 3. the whole dependency closure for the host's Python, binary only
        run(pip + ["download", *tag_args(args.python_version), "--find-links", str(tmp / "built"),
                   "-d", str(tmp / "all"), *roots])
        carried, provided = [], []
        for whl in sorted((tmp / "all").glob("*.whl")):
            if wheel_name(whl.name) in host:
                provided.append(whl.name)
            else:
                shutil.copy(whl, dest / "wheels" / whl.name)
                carried.append(whl.name)
    # 4. the kernels' sources (metadata preparation imports torch; no CUDA needed with SKIP_CUDA_BUILD)
    run(pip + ["download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "-d", str(dest / "sdists"),
               *[f"{n}=={pins[n]}" for n in SDISTS]],
        env={"MAMBA_SKIP_CUDA_BUILD": "TRUE", "CAUSAL_CONV1D_SKIP_CUDA_BUILD": "TRUE"})
    files = {str(p.relative_to(dest)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in sorted(dest.rglob("*")) if p.is_file() and p.name != "MANIFEST.json"}
    manifest = {"pins": pins, "python_version": args.python_version, "platforms": list(PLATFORMS),
                "host_packages": str(args.host_packages), "provided_by_host": provided,
                "built_from_sdists": sdist_only, "files": files,
                "total_mib": round(sum(f["bytes"] for f in files.values()) / 2**20, 2)}
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--dest", default=str(HERE / "prepared"))
    ap.add_argument("--host-packages", default=str(HERE / "host-packages.txt"),
                    help="distributions the GPU host already has (names, or pip list --format=freeze output)")
    ap.add_argument("--python-version", default="3.12", help="the GPU host's Python (major.minor)")
    ap.add_argument("--environment", default=str(REPO / "environment.yml"), help="where the pins are read")
    ap.add_argument("--max-mib", type=float, default=DEFAULT_MAX_MIB, help="fail if the folder is larger")
    ap.add_argument("--dry-run", action="store_true", help="print the plan; no network, no files")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        ap.error(f"--python-version {args.python_version}: expected 3.N")
    try:
        pins = read_pins(Path(args.environment).read_text())
        host = read_host_packages(Path(args.host_packages).read_text())
    except (OSError, ValueError) as err:
        print(f"prepare: error: {err}", file=sys.stderr)
        return 2
    print(f"destination: {args.dest}")
    print(f"target: CPython {args.python_version}, {', '.join(PLATFORMS[:2])}, ... (binary wheels only)")
    print("wheels: " + " ".join(f"{n}=={pins[n]}" for n in ROOTS) + " and their dependencies, less the "
          f"{len(host)} distributions in {args.host_packages}")
    print("sdists: " + " ".join(f"{n}=={pins[n]}" for n in SDISTS))
    print(f"size limit: {args.max_mib} MiB")
    if args.dry_run:
        print("would run:")
        for cmd in plan(args, pins, host):
            print("  " + " ".join(cmd))
        return 0
    try:
        manifest = prepare(args, pins, host)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as err:
        print(f"prepare: error: {err}", file=sys.stderr)
        return 1
    wheels = [f for f in manifest["files"] if f.startswith("wheels/")]
    print(f"carried: {len(wheels)} wheels, {len(manifest['files']) - len(wheels)} sdists; "
          f"{len(manifest['provided_by_host'])} wheels left out (the host has them)")
    print(f"prepared folder: {manifest['total_mib']} MiB in {args.dest}")
    if manifest["total_mib"] > args.max_mib:
        print(f"prepare: error: {manifest['total_mib']} MiB is over --max-mib {args.max_mib}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
