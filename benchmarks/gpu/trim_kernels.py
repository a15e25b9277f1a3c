"""Device check only: trim mamba-ssm's and causal-conv1d's sources to the dtypes mambaicl uses (about 3x less to compile).

mambaicl calls the selective scan with a real float32 A (never complex) and causal-conv1d with a float32
weight, whatever the activations' dtype (float32, or bfloat16/float16 under autocast). This keeps every
input dtype and drops
- mamba-ssm: complex A (three backward translation units, half of each forward one);
- causal-conv1d: float16 and bfloat16 weights (two thirds of its instantiations, the critical path of
  the build: causal_conv1d_bwd.cu alone is about 307 CPU-seconds per GPU target untrimmed, 90 trimmed).
A call outside that set fails with "not implemented ... (trimmed build)". The image (Dockerfile) builds the
packages untrimmed; the device check trims so that the build finishes while other phases run.

    python benchmarks/gpu/trim_kernels.py MAMBA_SSM_SRC CAUSAL_CONV1D_SRC

Stops with an error, changing nothing further, if a source does not have the expected shape.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TRIMMED = "(trimmed build)"


def _float_only_dispatch(text: str, macro: str, name: str) -> str:
    """Replace the weight-type dispatch macro ``macro`` by one that accepts float weights only."""
    start = text.find(f"#define {macro}(")
    if start < 0:
        raise ValueError(f"{name}: macro {macro} not found")
    end = text.find("\n\n", start)
    new = "\n".join([
        f"#define {macro}(WTYPE, NAME, ...) \\",
        "    if (WTYPE == at::ScalarType::Float) { \\",
        "        using weight_t = float; \\",
        "        __VA_ARGS__(); \\",
        "    } else { \\",
        f"        AT_ERROR(#NAME, \" not implemented for weight type '\", toString(WTYPE), \"' {TRIMMED}\"); \\",
        "    }",
    ])
    return text[:start] + new + text[end:]


def trim_mamba_ssm(src: Path) -> dict:
    cpp = src / "csrc/selective_scan/selective_scan.cpp"
    text = cpp.read_text()
    if TRIMMED in text:
        return {"package": "mamba_ssm", "already_trimmed": True}
    cpp.write_text(_float_only_dispatch(text, "DISPATCH_WTYPE_FLOAT_AND_COMPLEX", str(cpp)))
    dropped = 0
    for f in sorted((src / "csrc/selective_scan").glob("selective_scan_fwd_*.cu")):
        lines = f.read_text().splitlines()
        keep = [line for line in lines if "complex_t>" not in line]
        dropped += len(lines) - len(keep)
        f.write_text("\n".join(keep) + "\n")
    setup = src / "setup.py"
    lines = setup.read_text().splitlines()
    keep = [line for line in lines if not re.search(r"selective_scan_bwd_\w+_complex\.cu", line)]
    if len(lines) - len(keep) != 3 or dropped != 3:
        raise ValueError(f"{src}: expected 3 complex forward instantiations and 3 complex backward sources, "
                         f"found {dropped} and {len(lines) - len(keep)}")
    setup.write_text("\n".join(keep) + "\n")
    return {"package": "mamba_ssm", "complex_fwd_instantiations_dropped": dropped,
            "complex_bwd_sources_dropped": len(lines) - len(keep)}


def trim_causal_conv1d(src: Path) -> dict:
    cpp = src / "csrc/causal_conv1d.cpp"
    text = cpp.read_text()
    if TRIMMED in text:
        return {"package": "causal_conv1d", "already_trimmed": True}
    cpp.write_text(_float_only_dispatch(text, "DISPATCH_WTYPE_FLOAT_AND_HALF_AND_BF16", str(cpp)))
    kept = {}
    for f in sorted((src / "csrc").glob("causal_conv1d_*.cu")):
        lines = f.read_text().splitlines()
        keep = [line for line in lines
                if not (line.startswith("template void") and not re.search(r",\s*float>\(", line))]
        n_before = sum(line.startswith("template void") for line in lines)
        n_after = sum(line.startswith("template void") for line in keep)
        if n_before and n_after * 3 != n_before:
            raise ValueError(f"{f}: expected a third of {n_before} instantiations to have float weights, "
                             f"found {n_after}")
        f.write_text("\n".join(keep) + "\n")
        kept[f.name] = f"{n_after} of {n_before}"
    return {"package": "causal_conv1d", "instantiations_kept": kept}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.split("\n\n")[3].strip(), file=sys.stderr)
        return 2
    try:
        for result in (trim_mamba_ssm(Path(argv[0])), trim_causal_conv1d(Path(argv[1]))):
            print(result)
    except (OSError, ValueError) as err:
        print(f"trim_kernels.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
