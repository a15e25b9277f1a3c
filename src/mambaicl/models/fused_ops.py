"""One-kernel forms of the same math for the GPU path (issue: launch-light training).

These models are bound by kernel launches on a GPU (spec 13: 800-1,800 kernels per step), so a norm or an
activation written as five elementwise ops costs five launches. On CUDA:

- ``blocks.RMSNorm`` runs ``torch.nn.functional.rms_norm`` (x * rsqrt(mean(x^2) + eps) * w, one op);
- GPT-2's MLP activation, Hugging Face's ``gelu_new`` (tanh approximation in elementwise ops), becomes
  ``gelu_pytorch_tanh`` (``F.gelu(approximate="tanh")``: the same formula in one kernel).

On CPU nothing changes, so CPU results stay bit-identical to the unfused path; the fused forms agree with it
within float rounding (``tests/test_fused_ops.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import RMSNorm


def fuse_for_device(model: nn.Module, device: torch.device | str) -> list[str]:
    """Switch ``model``'s norms and activations to their one-kernel forms when ``device`` is CUDA.
    Returns what was switched (for the job's log); empty on other devices."""
    if torch.device(device).type != "cuda":
        return []
    switched: dict[str, int] = {}
    for module in model.modules():
        if isinstance(module, RMSNorm) and not module.fused:
            module.fused = True
            switched["RMSNorm -> F.rms_norm"] = switched.get("RMSNorm -> F.rms_norm", 0) + 1
        elif type(module).__name__ == "GPT2MLP" and type(module.act).__name__ == "NewGELUActivation":
            from transformers.activations import ACT2FN

            module.act = ACT2FN["gelu_pytorch_tanh"]
            switched["GPT-2 gelu_new -> gelu_pytorch_tanh"] = switched.get("GPT-2 gelu_new -> gelu_pytorch_tanh", 0) + 1
    return [f"{what} ({n}x)" for what, n in switched.items()]


def log_fused_ops(model: nn.Module, device: torch.device | str) -> None:
    """Switch on CUDA and say so in the job's log (on CPU: that the unfused path runs)."""
    switched = fuse_for_device(model, device)
    print("fused ops: " + ("; ".join(switched) if switched else
                           "none (the elementwise PyTorch forms; one-kernel forms are used on CUDA only)"))
