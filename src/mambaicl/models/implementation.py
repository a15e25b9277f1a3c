"""Which kernels the Mamba and RWKV blocks run: the config's ``scan`` key (auto | kernels | triton | torch).

- mamba-ssm's and causal-conv1d's fused CUDA kernels, imported here when installed (CUDA hosts only);
- the package's Triton kernels (``triton_scan``, ``triton_wkv``), imported only when chosen: triton is optional;
- the PyTorch path (``mamba.selective_scan_time_major``, ``rwkv.wkv``), always available.

``resolve_scan`` / ``resolve_wkv`` answer per device which one a block runs; a choice that cannot run is a
``ConfigError`` naming the install step. ``set_scan`` sets the choice on a model's blocks, ``scan_implementation``
writes the job's log lines.
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

from ..errors import ConfigError

_KERNEL_IMPORT_ERRORS: dict[str, str] = {}  # package -> why it did not import, for the jobs' logs
try:  # the fused kernels exist only on CUDA hosts; on CPU the import fails with a missing extension
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _kernel_scan
except Exception as e:  # noqa: BLE001 - ImportError, or any error raised while loading the extension
    _kernel_scan = None
    _KERNEL_IMPORT_ERRORS["mamba-ssm"] = f"{type(e).__name__}: {e}"
try:
    from causal_conv1d import causal_conv1d_fn as _kernel_conv
except Exception as e:  # noqa: BLE001
    _kernel_conv = None
    _KERNEL_IMPORT_ERRORS["causal-conv1d"] = f"{type(e).__name__}: {e}"


def kernels_available() -> bool:
    """True when mamba-ssm's selective scan and causal-conv1d both imported and CUDA is present."""
    return _kernel_scan is not None and _kernel_conv is not None and torch.cuda.is_available()


# ----------------------------------------------------------------------------------------------------------
# Which implementation runs: the config's ``scan`` key
# ----------------------------------------------------------------------------------------------------------

# auto: mamba-ssm's kernels on CUDA when they import, else the Triton kernels on CUDA when triton imports, else
# the PyTorch path (loudly on CUDA); kernels / triton: that one or a ConfigError; torch: the PyTorch path.
SCAN_CHOICES = ("auto", "kernels", "triton", "torch")
_KERNELS_HINT = ("install mamba-ssm and causal-conv1d on the CUDA host (`pip install -e .[cuda]`, README \"GPU "
                 "install\") or use the container image")
_TRITON_HINT = "install Triton (`pip install triton`, or `pip install -e .[triton]`)"


def triton_unavailable(device: torch.device | str) -> str | None:
    """Why the package's Triton kernels cannot run on ``device``; None when they can.

    They run on CUDA when triton imports, and on CPU only in Triton's interpreter: TRITON_INTERPRET=1 set before
    anything imports triton and still set when they run (the tests do this)."""
    try:
        import triton  # noqa: F401 - optional: the package works without it
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
        return f"triton did not import ({type(e).__name__}: {str(e)[:160]}); {_TRITON_HINT}"
    if torch.device(device).type == "cuda":
        return None
    # the interpreter reads the variable when decorating and again at launch; kernels built for a GPU stay so
    built = [m.INTERPRETED for name in ("triton_scan", "triton_wkv")
             if (m := sys.modules.get(f"{__package__}.{name}")) is not None]
    if os.environ.get("TRITON_INTERPRET") == "1" and all(built):
        return None
    return (f"the Triton kernels need a CUDA device, not {torch.device(device).type} (on CPU only Triton's "
            "interpreter runs them: set TRITON_INTERPRET=1 before anything imports triton)")


def _scan_error(scan: str, why: str) -> ConfigError:
    return ConfigError(f"config error: 'scan' = {scan} cannot run here: {why}; or set scan: auto")


def resolve_scan(scan: str, device: torch.device | str) -> str:
    """The selective scan a Mamba block runs on ``device`` under the config's ``scan`` choice: "kernels",
    "triton" or "torch". A requested implementation that cannot run is a ``ConfigError`` naming the install
    step, never a silent fallback."""
    if scan not in SCAN_CHOICES:
        raise ConfigError(f"config error: 'scan' = {scan!r} is not one of {', '.join(SCAN_CHOICES)}")
    cuda = torch.device(device).type == "cuda"
    if scan == "kernels":
        if not cuda:
            raise _scan_error(scan, f"mamba-ssm's kernels need a CUDA device, not {torch.device(device).type}")
        if not kernels_available():
            why = "; ".join(f"{k}: {v[:160]}" for k, v in _KERNEL_IMPORT_ERRORS.items()) or "not importable"
            raise _scan_error(scan, f"the kernels did not import ({why}); {_KERNELS_HINT}")
        return "kernels"
    if scan == "triton":
        why = triton_unavailable(device)
        if why is not None:
            raise _scan_error(scan, why)
        return "triton"
    if scan == "auto" and cuda:
        if kernels_available():
            return "kernels"
        if triton_unavailable(device) is None:
            return "triton"
    return "torch"


def resolve_wkv(scan: str, device: torch.device | str) -> str:
    """The WKV an RWKV block runs on ``device``: "triton" under scan: triton, and under auto on CUDA when triton
    imports; else "torch" (mamba-ssm has no WKV kernel, so scan: kernels keeps RWKV on PyTorch)."""
    if scan not in SCAN_CHOICES:
        raise ConfigError(f"config error: 'scan' = {scan!r} is not one of {', '.join(SCAN_CHOICES)}")
    if scan == "triton":
        why = triton_unavailable(device)
        if why is not None:
            raise _scan_error(scan, why)
        return "triton"
    if scan == "auto" and torch.device(device).type == "cuda" and triton_unavailable(device) is None:
        return "triton"
    return "torch"


def check_scan(scan: str, device: torch.device | str) -> None:
    """Raise ``ConfigError`` when ``scan`` names an implementation that cannot run on ``device`` (the workflow
    runs this before any job, the jobs again when they build their model)."""
    resolve_scan(scan, device)
    resolve_wkv(scan, device)


def _sequence_mixers(model: nn.Module):
    """(Mamba blocks, RWKV time-mix blocks) of ``model``, found by their ``scan_kind`` (no import of their modules,
    which import this one)."""
    mods = list(model.modules())
    return ([m for m in mods if getattr(m, "scan_kind", None) == "Mamba"],
            [m for m in mods if getattr(m, "scan_kind", None) == "RWKV"])


def set_scan(model: nn.Module, scan: str, device: torch.device | str | None = None) -> nn.Module:
    """Make every Mamba and RWKV block of ``model`` follow the config's ``scan`` choice; with ``device``,
    check first that the choice can run there (``ConfigError`` otherwise). Returns ``model``."""
    if device is not None:
        check_scan(scan, device)
    elif scan not in SCAN_CHOICES:
        raise ConfigError(f"config error: 'scan' = {scan!r} is not one of {', '.join(SCAN_CHOICES)}")
    for m in (*_sequence_mixers(model)[0], *_sequence_mixers(model)[1]):
        m.scan = scan
    return model


def scan_implementation(model: nn.Module, device: torch.device | str) -> str | None:
    """The lines for a job's log saying which selective scan ``model``'s Mamba blocks and which WKV its RWKV
    blocks run on ``device`` (one line per kind, joined by newlines); None for a model with neither. On CUDA
    on the PyTorch path under scan: auto a line starts with WARNING: that path is correct but roughly ten times
    slower per step there (README "GPU device check"). Raises ``ConfigError`` as ``resolve_scan`` does."""
    mambas, rwkvs = _sequence_mixers(model)
    dev = torch.device(device)
    on = "CPU path" if dev.type != "cuda" else "CUDA"
    interp = " in Triton's interpreter on CPU" if dev.type != "cuda" else ""
    lines = []
    if mambas:
        n, scan = len(mambas), mambas[0].scan
        impl = resolve_scan(scan, dev)
        if impl == "kernels":
            lines.append(f"implementation: {n} Mamba blocks on mamba-ssm's and causal-conv1d's fused CUDA kernels")
        elif impl == "triton":
            why = ""
            if scan == "auto":
                why = "; ".join(f"{k}: {v[:160]}" for k, v in _KERNEL_IMPORT_ERRORS.items()) or "not importable"
                why = f", because mamba-ssm's kernels did not import ({why})"
            lines.append(f"implementation: {n} Mamba blocks on the package's Triton selective scan{interp} (scan: "
                         f"{scan}; causal conv and projections in PyTorch){why}")
        elif dev.type != "cuda":
            lines.append(f"implementation: {n} Mamba blocks on the package's own PyTorch scan (CPU path)")
        elif scan == "torch":
            lines.append(f"implementation: {n} Mamba blocks on the package's own PyTorch scan (kernels switched off, "
                         "scan: torch)")
        else:
            why = "; ".join(f"{k}: {v[:160]}" for k, v in _KERNEL_IMPORT_ERRORS.items()) or "not importable"
            lines.append(f"WARNING implementation: {n} Mamba blocks fall back to the package's own PyTorch scan on "
                         f"CUDA, about ten times slower per step, because the kernels did not import ({why}) and "
                         f"neither did triton; install mamba-ssm and causal-conv1d (README, GPU install), or "
                         f"triton (`pip install triton`), or use the container image")
    if rwkvs:
        n, scan = len(rwkvs), rwkvs[0].scan
        if resolve_wkv(scan, dev) == "triton":
            lines.append(f"implementation: {n} RWKV blocks on the package's Triton WKV kernel{interp} (scan: {scan})")
        elif dev.type == "cuda" and scan == "auto":
            lines.append(f"WARNING implementation: {n} RWKV blocks run the package's own PyTorch WKV on CUDA, a "
                         f"Python loop over time (launch-bound), because {triton_unavailable(dev)}")
        else:
            lines.append(f"implementation: {n} RWKV blocks on the package's own PyTorch WKV ({on}, scan: {scan})")
    return "\n".join(lines) if lines else None


def log_scan_implementation(model: nn.Module, device: torch.device | str) -> None:
    """Print ``scan_implementation``'s lines into the job's log (WARNING lines to stderr); nothing for a model
    without Mamba or RWKV blocks."""
    text = scan_implementation(model, device)
    for line in (text.splitlines() if text is not None else []):
        print(line, file=sys.stderr if line.startswith("WARNING") else sys.stdout)
