"""Make mamba-ssm's and causal-conv1d's setup.py compile for the GPU targets you name, and only those.

Both setup scripts (mamba-ssm 2.3.2.post1, causal-conv1d 1.7.0) append a hard-coded list of ``-gencode``
flags: nine targets under CUDA 13 (sm_75, 80, 87, 90, 100, 103, 110, 120, 121). Because those flags name
architectures, ``torch.utils.cpp_extension`` adds none of its own, so ``TORCH_CUDA_ARCH_LIST`` has no
effect on these two packages (spec 13), and a build compiles every kernel nine times. This script inserts,
right before the scripts' compile-argument block, a few lines that replace the list with the targets named
here. It changes nothing else, is idempotent (patching again replaces the earlier choice) and stops with
an error if a setup.py does not have the expected shape (another release, say).

    python benchmarks/gpu/cuda_archs.py --archs "8.0;9.0" mamba_ssm-2.3.2.post1 causal_conv1d-1.7.0
    python benchmarks/gpu/cuda_archs.py --archs native SRC_DIR ...   # the visible GPU's target (needs torch)
    python benchmarks/gpu/cuda_archs.py --show SRC_DIR ...            # print the targets a setup.py builds

Targets use ``TORCH_CUDA_ARCH_LIST``'s syntax: compute capabilities separated by ';', ',' or spaces, e.g.
"8.0;9.0"; a suffix "a" or "f" selects the architecture-specific variant ("9.0a" -> sm_90a); "+PTX" also
embeds PTX, which the driver compiles for newer GPUs at load time ("9.0+PTX"). Standard library only, so
it runs in a Docker build before anything else is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ANCHOR = re.compile(r"^(?P<indent>[ \t]*)# HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI", re.M)
HARD_CODED = re.compile(r'cc_flag\.append\("arch=compute_(\w+),code=sm_\w+"\)')
BEGIN = "# mambaicl cuda_archs.py: begin"
END = "# mambaicl cuda_archs.py: end"
PATCHED = re.compile(rf"^[ \t]*{re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*\n", re.M | re.S)
ARCH = re.compile(r"^(\d+)\.(\d+)([af]?)(\+PTX)?$", re.I)


def parse_archs(text: str) -> list[str]:
    """'8.0;9.0+PTX' -> ['8.0', '9.0+PTX'] (validated, duplicates dropped, order kept)."""
    items = [t for t in re.split(r"[;,\s]+", text.strip()) if t]
    if not items:
        raise ValueError("no GPU target given (e.g. --archs '8.0;9.0')")
    out = []
    for item in items:
        m = ARCH.match(item)
        if not m:
            raise ValueError(f"GPU target '{item}' is not a compute capability like 8.0, 9.0a or 9.0+PTX")
        norm = f"{m.group(1)}.{m.group(2)}{m.group(3).lower()}{'+PTX' if m.group(4) else ''}"
        if norm not in out:
            out.append(norm)
    return out


def gencode_flags(archs: list[str]) -> list[str]:
    """nvcc flags for the targets: '9.0' -> -gencode arch=compute_90,code=sm_90; '+PTX' adds code=compute_XX."""
    flags = []
    for arch in archs:
        m = ARCH.match(arch)
        cc = f"{m.group(1)}{m.group(2)}{m.group(3).lower()}"
        flags += ["-gencode", f"arch=compute_{cc},code=sm_{cc}"]
        if m.group(4):
            flags += ["-gencode", f"arch=compute_{cc},code=compute_{cc}"]
    return flags


def native_archs() -> list[str]:
    """The compute capability of every visible GPU (needs torch with CUDA and a GPU)."""
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("--archs native: PyTorch sees no CUDA GPU on this machine; name the targets instead")
    caps = {torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())}
    return [f"{major}.{minor}" for major, minor in sorted(caps)]


def patch_text(text: str, archs: list[str], name: str = "setup.py") -> str:
    """The setup.py text with its GPU target list replaced by ``archs``."""
    text = PATCHED.sub("", text)  # an earlier patch: replace it
    m = ANCHOR.search(text)
    if m is None or not HARD_CODED.search(text):
        raise ValueError(f"{name}: not the expected mamba-ssm / causal-conv1d setup.py (no hard-coded "
                         "'-gencode' list followed by the '# HACK: The compiler flag -D_GLIBCXX_USE_CXX11_ABI' "
                         "comment); check the package version")
    indent = m.group("indent")
    block = (f"{indent}{BEGIN} (replaces the hard-coded GPU targets above)\n"
             f"{indent}if not HIP_BUILD:\n"
             f"{indent}    cc_flag = {gencode_flags(archs)!r}\n"
             f"{indent}{END}\n")
    return text[:m.start()] + block + text[m.start():]


def targets_of(text: str) -> list[str]:
    """The sm_/compute_ targets a (patched or original) setup.py compiles for, as 'sm_90'-style names."""
    m = PATCHED.search(text)
    if m:
        return re.findall(r"code=((?:sm|compute)_\w+)", m.group(0))
    return [f"sm_{cc}" for cc in HARD_CODED.findall(text)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="unpacked source trees (holding setup.py), or setup.py files")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--archs", help="targets, e.g. '8.0;9.0' or 'native' (the visible GPUs)")
    group.add_argument("--show", action="store_true", help="print the targets each setup.py compiles for")
    args = ap.parse_args(argv)
    try:
        archs = None if args.show else (native_archs() if args.archs == "native" else parse_archs(args.archs))
        for d in args.dirs:
            path = d if d.name == "setup.py" else d / "setup.py"
            text = path.read_text()
            if archs is not None:
                text = patch_text(text, archs, str(path))
                path.write_text(text)
            print(f"{path}: {' '.join(targets_of(text))}")
    except (OSError, ValueError, RuntimeError) as err:
        print(f"cuda_archs.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
