"""S4D (diagonal S4) layers and the three S4-based backbones of the two papers (spec 3.3-3.5).

Our own implementation of the S4D maths (Gu et al. 2022, "On the Parameterization and Initialization
of Diagonal State Space Models"), written for this package:

- Kernel.  A diagonal SSM per channel h with N/2 complex modes, A = -exp(log_A_real) + i*A_imag
  (S4D-Lin init: A = -0.5 + i*pi*n), step dt = exp(log_dt), discretised with zero-order hold
  (dA = exp(dt*A), dB = (exp(dt*A) - 1)/A, B = 1), so the convolution kernel is
  K[l, h] = 2 * Re( sum_n C[h,n] * dB[h,n] * exp(dt*A[h,n])^l ).  The factor 2 and the real part
  account for the conjugate modes that are not stored.
- Convolution.  y = K * u, a causal convolution along time computed with FFTs zero-padded to 2L
  (so the circular convolution equals the linear one and no future sample wraps around), plus the
  skip D*u.

Backbones (registry names in ``mambaicl.models``):

- ``s4``: Grazzi's post-norm stack (spec 3.3).  ``final_norm`` is the identity because a post-norm
  stack has no separate final norm; ``streams[l]`` is the output of layer l (after its LayerNorm).
- ``s4_park``: Park's pre-norm ``ResidualStack`` (LayerNorm) of S4D mixers (spec 3.4).
- ``s4_mamba``: Park's Mamba block with the selective scan replaced by an input-independent S4D
  convolution (spec 3.5).

Dropout follows the S4 code both papers use: it drops whole channels, with one mask per (sequence,
channel) shared over all time steps (S4's ``DropoutNd(tie=True)`` and ``nn.Dropout1d`` on (B, H, L)).
It is active in train mode only.  The per-parameter learning-rate hints of the S4 code are not
reproduced (spec 3.3: G's plain Adam ignores them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone
from .blocks import ResidualStack
from .packing import pick_run, stacked_uniform


def _uniform_(t: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    with torch.no_grad():
        t.uniform_(-bound, bound, generator=generator)


def _init_dense_(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int, generator: torch.Generator) -> None:
    """PyTorch's default Linear/Conv1d init, U(+-1/sqrt(fan_in)) for weight and bias, from ``generator``."""
    bound = 1.0 / math.sqrt(fan_in)
    _uniform_(weight, bound, generator)
    if bias is not None:
        _uniform_(bias, bound, generator)


class ChannelDropout(nn.Module):
    """Dropout of whole channels, the mask tied across time: x (B, L, H) * mask (B, 1, H) / (1 - p).

    Masks come from ``self.generator`` (set by the trainer through
    ``mambaicl.models.set_dropout_generator`` and checkpointed with it), never from the global RNG;
    without one, a generator seeded 0 on the input's device is created on first use.

    Under ``train.compile`` the masks are drawn ahead of the compiled step (``draw_ahead``, called in the forward's
    order by ``models.base.DropoutAhead``) into the buffer ``drawn``, which the forward reads: a draw from a
    ``torch.Generator`` inside the graph would break it in two at every such module. Same draws, same masks.
    """

    uses_dropout_generator = True

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None
        # In a pack of K runs (training.pack): one generator per run, set by packing.set_pack_dropout_generators
        self.pack_generators: list[torch.Generator] | None = None
        # keep masks drawn ahead of the step: (B, 1, H), (K, B, 1, H) in a pack; None: drawn in the forward
        self.register_buffer("drawn", None, persistent=False)

    def _draw(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """The keep mask of ``shape`` from the run's generator; in a pack (K, *shape), one from each run's."""
        if self.pack_generators is not None:
            return stacked_uniform(self.pack_generators, shape, device) >= self.p
        if self.generator is None:
            self.generator = torch.Generator(device=device).manual_seed(0)
        gen = self.generator
        return torch.rand(*shape, device=gen.device, generator=gen).to(device) >= self.p

    def draw_ahead(self, batch_size: int, channels: int, device: torch.device) -> None:
        """Draw the next step's keep mask into ``drawn`` (in place once allocated: a CUDA graph reads it there),
        exactly the draw the forward would make; nothing when the forward would draw nothing."""
        if not self.training or self.p == 0.0:
            return
        keep = self._draw((batch_size, 1, channels), device)
        if self.drawn is None or self.drawn.shape != keep.shape:
            self.drawn = keep
        else:
            self.drawn.copy_(keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = (x.shape[0], 1, x.shape[-1])
        keep = self._draw(shape, x.device) if self.drawn is None else self.drawn
        if self.pack_generators is not None:
            keep = pick_run(keep)
        if keep.shape != shape:  # only a mask drawn ahead can be (the draw above has the input's shape)
            raise RuntimeError(f"channel dropout: a mask of shape {tuple(keep.shape)} was drawn ahead for an "
                               f"input needing {shape}")
        return x * keep.to(x.dtype) / (1.0 - self.p)


class S4DKernel(nn.Module):
    """The S4D parameters of H channels with N/2 complex modes each; ``forward(L)`` returns K (L, H).

    Parameters (2HN + H in total): log_dt (H), C (H, N/2, 2) = real/imag parts, log_A_real (H, N/2),
    A_imag (H, N/2).
    """

    def __init__(self, d_model: int, d_state: int, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        if d_state % 2:
            raise ValueError(f"S4D needs an even d_state (N/2 complex modes), got {d_state}")
        self.h, self.n_modes = d_model, d_state // 2
        self.dt_min, self.dt_max = dt_min, dt_max
        self.log_dt = nn.Parameter(torch.empty(self.h))
        self.C = nn.Parameter(torch.empty(self.h, self.n_modes, 2))
        self.log_A_real = nn.Parameter(torch.empty(self.h, self.n_modes))
        self.A_imag = nn.Parameter(torch.empty(self.h, self.n_modes))

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            lo, hi = math.log(self.dt_min), math.log(self.dt_max)
            self.log_dt.copy_(torch.rand(self.h, generator=generator) * (hi - lo) + lo)  # log-uniform dt
            # Standard complex normal (as torch.randn(..., dtype=cfloat)): real and imag parts N(0, 1/2).
            self.C.copy_(torch.randn(self.h, self.n_modes, 2, generator=generator) * math.sqrt(0.5))
            self.log_A_real.fill_(math.log(0.5))  # S4D-Lin: Re(A) = -0.5
            self.A_imag.copy_(math.pi * torch.arange(self.n_modes, dtype=self.A_imag.dtype).expand(self.h, -1))

    def forward(self, length: int) -> torch.Tensor:
        """The ZOH-discretised convolution kernel, (L, H), real."""
        dt = torch.exp(self.log_dt)  # (H,)
        C = torch.view_as_complex(self.C.contiguous())  # (H, N/2)
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)  # (H, N/2)
        dtA = A * dt[:, None]  # (H, N/2)
        CB = C * torch.expm1(dtA) / A  # C * dB with ZOH dB = (exp(dt A) - 1) / A
        # Vandermonde: exp(dtA * l) for l = 0..L-1 -> (H, N/2, L)
        pos = torch.arange(length, device=dt.device, dtype=dt.dtype)
        vander = torch.exp(dtA[:, :, None] * pos)
        K = 2.0 * torch.einsum("hn,hnl->lh", CB, vander).real  # (L, H)
        return K


def causal_fft_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """y[b, t, h] = sum_{s <= t} k[t - s, h] * u[b, s, h]; u (B, L, H), k (L, H) -> (B, L, H).

    Zero-padding to 2L makes the FFT's circular convolution equal to the linear one, so output t never
    sees inputs after t (up to floating-point round-off). Half-precision inputs are convolved in float32 and
    the result cast back: neither cuFFT nor PyTorch's CPU FFT takes bfloat16 (the GPU device check found
    bf16 S4 training failing on this), and float16 FFTs need power-of-two lengths.
    """
    length = u.shape[-2]
    n = 2 * length
    out_dtype = u.dtype
    if u.dtype in (torch.float16, torch.bfloat16):
        u = u.float()
    if k.dtype in (torch.float16, torch.bfloat16):
        k = k.float()
    u_f = torch.fft.rfft(u, n=n, dim=-2)  # (B, L+1, H) complex
    k_f = torch.fft.rfft(k, n=n, dim=-2)  # (L+1, H)
    return torch.fft.irfft(u_f * k_f, n=n, dim=-2)[..., :length, :].to(out_dtype)


class S4DConv(nn.Module):
    """The bare S4D convolution plus skip: u (B, L, H) -> K * u + D * u.  Parameters 2HN + 2H."""

    def __init__(self, d_model: int, d_state: int):
        super().__init__()
        self.kernel = S4DKernel(d_model, d_state)
        self.D = nn.Parameter(torch.empty(d_model))

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.kernel.reset_parameters(generator)
        with torch.no_grad():
            self.D.copy_(torch.randn(self.D.shape, generator=generator))  # S4D code: D ~ N(0, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        k = self.kernel(u.shape[-2])  # float32: the convolution runs in float32 for half-precision u
        return causal_fft_conv(u, k) + u * self.D


class S4DLayer(nn.Module):
    """S4D layer: S4D conv + D skip -> GELU -> dropout -> 1x1 conv (H -> 2H) -> GLU.  (B, L, H) -> (B, L, H).

    The 1x1 Conv1d over channels is a Linear(H, 2H) applied per position (same parameters, same
    default init); GLU keeps the first half gated by the sigmoid of the second.
    Parameters: 2H^2 + 2HN + 4H.
    """

    def __init__(self, d_model: int, d_state: int, dropout: float = 0.0):
        super().__init__()
        self.ssm = S4DConv(d_model, d_state)
        self.dropout = ChannelDropout(dropout)
        self.output_linear = nn.Linear(d_model, 2 * d_model)

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.ssm.reset_parameters(generator)
        _init_dense_(self.output_linear.weight, self.output_linear.bias, self.output_linear.in_features, generator)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        y = self.dropout(F.gelu(self.ssm(u)))
        return F.glu(self.output_linear(y), dim=-1)


class GrazziS4Backbone(Backbone):
    """Grazzi's S4 (spec 3.3): per layer x <- LayerNorm(x + dropout(S4DLayer(x))), post-norm.

    ``final_norm`` is the identity (the last layer's LayerNorm already normalises the output) and
    ``streams[l]`` is the output of layer l, so ``final_norm(streams[-1]) == out``.
    """

    def __init__(self, d_model: int, n_layer: int, d_state: int = 64, dropout: float = 0.1):
        super().__init__()
        self.d_model = d_model
        self.max_tokens = None  # the kernel is generated for any length
        self.layers = nn.ModuleList(S4DLayer(d_model, d_state, dropout) for _ in range(n_layer))
        self.dropouts = nn.ModuleList(ChannelDropout(dropout) for _ in range(n_layer))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layer))

    def reset_parameters(self, generator: torch.Generator) -> None:
        for layer, norm in zip(self.layers, self.norms):
            layer.reset_parameters(generator)
            norm.reset_parameters()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        x, streams = embeds, []
        for layer, drop, norm in zip(self.layers, self.dropouts, self.norms):
            x = norm(x + drop(layer(x)))
            if output_hidden_states:
                streams.append(x)
        return (x, streams) if output_hidden_states else x

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return h


class ParkS4Backbone(Backbone):
    """Park's S4 (spec 3.4): pre-norm LayerNorm ``ResidualStack`` of S4D layers (N = 16 by default).

    Park's ``S4Wrapper`` builds its S4D with dropout 0.0, hence the default here.
    """

    def __init__(self, d_model: int, n_layer: int, d_state: int = 16, dropout: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.max_tokens = None
        mixers = [S4DLayer(d_model, d_state, dropout) for _ in range(n_layer)]
        self.stack = ResidualStack(mixers, d_model, norm="layer", residual_in_fp32=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for mixer in self.stack.mixers:
            mixer.reset_parameters(generator)
        self.stack.reset_norms()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        return self.stack(embeds, output_hidden_states=output_hidden_states)

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.stack.final_norm(h)


class S4MambaMixer(nn.Module):
    """Park's S4-Mamba mixer (spec 3.5), (B, L, d) -> (B, L, d):

    in_proj -> (x, z); x <- SiLU(causal depthwise conv(x)); y = S4DConv(x) (N = 16, + D skip, no GELU,
    no output linear); y <- dropout(y) * z (raw z, no SiLU); out_proj(y).
    Parameters: 4d^2 (in_proj) + 10d (conv, e=2) + 68d (S4D on 2d channels, N = 16) + 2d^2 (out_proj).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dropout: float = 0.1):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_conv = d_conv
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        # Depthwise conv weights (d_inner, 1, d_conv) as in nn.Conv1d(groups=d_inner); applied causally.
        self.conv_weight = nn.Parameter(torch.empty(self.d_inner, 1, d_conv))
        self.conv_bias = nn.Parameter(torch.empty(self.d_inner))
        self.ssm = S4DConv(self.d_inner, d_state)
        self.dropout = ChannelDropout(dropout)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def reset_parameters(self, generator: torch.Generator, n_layer: int) -> None:
        _init_dense_(self.in_proj.weight, None, self.in_proj.in_features, generator)
        _init_dense_(self.conv_weight, self.conv_bias, self.d_conv, generator)  # fan_in = 1 * d_conv
        self.ssm.reset_parameters(generator)
        # Mamba's model-level init: out_proj kaiming-uniform (= default bound), then / sqrt(n_layer).
        _init_dense_(self.out_proj.weight, None, self.out_proj.in_features, generator)
        with torch.no_grad():
            self.out_proj.weight.div_(math.sqrt(n_layer))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        length = hidden.shape[1]
        x, z = self.in_proj(hidden).chunk(2, dim=-1)  # (B, L, d_inner) each
        # Causal depthwise conv: pad d_conv - 1 zeros on the left of time, in (B, d_inner, L) layout.
        xc = F.conv1d(F.pad(x.transpose(1, 2), (self.d_conv - 1, 0)), self.conv_weight, self.conv_bias,
                      groups=self.d_inner)
        x = F.silu(xc).transpose(1, 2)[:, :length]  # (B, L, d_inner)
        y = self.dropout(self.ssm(x)) * z
        return self.out_proj(y)


class S4MambaBackbone(Backbone):
    """Park's S4-Mamba (spec 3.5): pre-norm LayerNorm ``ResidualStack`` of ``S4MambaMixer``s."""

    def __init__(self, d_model: int, n_layer: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.d_model = d_model
        self.max_tokens = None
        self.n_layer = n_layer
        mixers = [S4MambaMixer(d_model, d_state, d_conv, expand, dropout) for _ in range(n_layer)]
        self.stack = ResidualStack(mixers, d_model, norm="layer", residual_in_fp32=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for mixer in self.stack.mixers:
            mixer.reset_parameters(generator, self.n_layer)
        self.stack.reset_norms()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        return self.stack(embeds, output_hidden_states=output_hidden_states)

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.stack.final_norm(h)


def build_s4(spec: dict) -> Backbone:
    """``s4``: d_model, n_layer, d_state (64), dropout (0.1)."""
    return GrazziS4Backbone(spec["d_model"], spec["n_layer"], d_state=spec.get("d_state", 64),
                            dropout=spec.get("dropout", 0.1))


def build_s4_park(spec: dict) -> Backbone:
    """``s4_park``: d_model, n_layer, d_state (16), dropout (0.0)."""
    return ParkS4Backbone(spec["d_model"], spec["n_layer"], d_state=spec.get("d_state", 16),
                          dropout=spec.get("dropout", 0.0))


def build_s4_mamba(spec: dict) -> Backbone:
    """``s4_mamba``: d_model, n_layer, d_state (16), d_conv (4), expand (2), dropout (0.1)."""
    return S4MambaBackbone(spec["d_model"], spec["n_layer"], d_state=spec.get("d_state", 16),
                           d_conv=spec.get("d_conv", 4), expand=spec.get("expand", 2),
                           dropout=spec.get("dropout", 0.1))
