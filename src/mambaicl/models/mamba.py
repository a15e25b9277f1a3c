"""Mamba-1 (mamba-ssm 1.1.1 semantics, spec 3.2): selective scan, mixer and backbone.

Three implementations of the selective scan share one signature (mamba-ssm's ``selective_scan_fn``;
u, delta: (batch, d_inner, L); A: (d_inner, d_state); B, C: (batch, d_state, L), or grouped
(batch, G, d_state, L), channel c reading group c // (d_inner / G): the layout a pack folds its runs into):

- ``selective_scan_ref`` (``mamba_reference``): a plain loop over time with autograd; the tests' ground truth;
- ``selective_scan_cpu``: a custom autograd Function (``_SelectiveScanFn``) whose forward runs the recurrence
  without building a graph and whose backward is an explicit reverse-time recurrence (spec 9.3);
- mamba-ssm's fused CUDA kernel, used by ``selective_scan`` only for CUDA tensors when ``mamba_ssm`` imports;
- the package's Triton kernel (``triton_scan.selective_scan_triton``, optional: imported only when chosen).

Which one a mixer runs follows the config's ``scan`` key (``implementation.resolve_scan``; ``set_scan`` sets it).
In a pack (``training.pack``'s vmapped forward) the Triton and kernels paths fold the K runs into one causal-conv
and one scan call per layer (``packing.fold_runs``, B and C grouped per run); the CPU path runs the scan per run.

The mixer's parameter names and shapes equal mamba-ssm's ``Mamba`` module, so a state dict moves between them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .base import Backbone
from .blocks import ResidualStack
from .mamba_reference import (  # noqa: F401 - the references re-exported: the tests and benchmarks use them here
    _gate,
    _prepare_delta,
    causal_conv1d_ref,
    selective_scan_ref,
)
from .packing import GROUP, fold_runs, per_run

from .implementation import (  # noqa: F401 - re-exported: the jobs, tests and the image's check use them here
    SCAN_CHOICES,
    _KERNEL_IMPORT_ERRORS,
    _kernel_conv,
    _kernel_scan,
    check_scan,
    kernels_available,
    log_scan_implementation,
    resolve_scan,
    resolve_wkv,
    scan_implementation,
    set_scan,
    triton_unavailable,
)


# ----------------------------------------------------------------------------------------------------------
# Selective scan
# ----------------------------------------------------------------------------------------------------------

class _SelectiveScanFn(torch.autograd.Function):
    """Core scan in time-major layout, state kept as (T, batch, d_state, d_inner) so d_inner is innermost.

    u, delta: (L, b, d); A: (d, n); B, C: (L, b, n); D: (d,) -> y: (L, b, d) = scan + D u.
    Time is processed in chunks. On CPU their (T, b, n, d) work buffers stay well under glibc's 32 MB mmap
    threshold (a fresh large allocation costs page faults on every call); on CUDA, where every chunk costs kernel
    launches, a chunk is a whole sequence up to 1 GiB per buffer (spec 13: 38,915 launches per standard Mamba step
    with 4 MB chunks, 9,155 with one chunk per sequence). Only the state at each chunk end is saved; the backward
    recomputes a chunk's states from it, so memory stays O(L b d) rather than O(L b d n). Chunking leaves the output
    exactly as it is (every time step runs the same ops); the gradients summed over time (A's) round differently.
    """

    chunk_bytes = 4 << 20       # CPU
    chunk_bytes_cuda = 1 << 30  # CUDA

    @staticmethod
    def _chunk(u, n):
        L, b, d = u.shape
        limit = _SelectiveScanFn.chunk_bytes_cuda if u.is_cuda else _SelectiveScanFn.chunk_bytes
        return max(1, min(L, limit // (b * d * n * u.element_size())))

    @staticmethod
    def _states(delta_c, du_c, At2, B_c, h0, dA, H):
        """Fill dA[:T] = exp(delta A) and H[:T] = states for one chunk starting after state h0 (None: zero).

        ``At2`` is A^T log2(e): exp2 is about twice as fast as exp on CPU and gives the same value."""
        T = delta_c.shape[0]
        torch.exp2(torch.mul(delta_c[:, :, None, :], At2, out=dA[:T]), out=dA[:T])
        torch.mul(du_c[:, :, None, :], B_c[:, :, :, None], out=H[:T])  # delta u B: (T, b, n, d)
        hs, dAs = H[:T].unbind(0), dA[:T].unbind(0)
        prev = h0
        for t in range(T):
            if prev is not None:
                hs[t].addcmul_(dAs[t], prev)
            prev = hs[t]

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D):
        L, b, d = u.shape
        n = A.shape[1]
        At = A.t().contiguous()  # (n, d)
        At2 = At * math.log2(math.e)
        tc = _SelectiveScanFn._chunk(u, n)
        starts = list(range(0, L, tc))
        ends = torch.empty(len(starts), b, n, d, dtype=u.dtype, device=u.device)  # state after each chunk
        dA = torch.empty(tc, b, n, d, dtype=u.dtype, device=u.device)
        H = torch.empty_like(dA)
        y = torch.empty_like(u)
        du = delta * u
        for k, s in enumerate(starts):
            e = min(L, s + tc)
            T = e - s
            _SelectiveScanFn._states(delta[s:e], du[s:e], At2, B[s:e], ends[k - 1] if k else None, dA, H)
            # y_t = <C_t, h_t>: (T b, 1, n) @ (T b, n, d)
            torch.bmm(C[s:e].reshape(T * b, 1, n), H[:T].view(T * b, n, d), out=y[s:e].view(T * b, 1, d))
            ends[k].copy_(H[T - 1])
        y.addcmul_(u, D)
        ctx.save_for_backward(u, delta, At, B, C, D, ends)
        ctx.tc = tc
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        u, delta, At, B, C, D, ends = ctx.saved_tensors
        tc = ctx.tc
        L, b, d = u.shape
        n = At.shape[0]
        dy = dy.contiguous()
        du, ddelta = torch.empty_like(u), torch.empty_like(delta)
        dB, dC = torch.empty_like(B), torch.empty_like(C)
        dAt = torch.zeros_like(At)
        At2 = At * math.log2(math.e)
        dD = (dy * u).sum((0, 1))
        dlt_u = delta * u
        dA = torch.empty(tc, b, n, d, dtype=u.dtype, device=u.device)
        H, G = torch.empty_like(dA), torch.empty_like(dA)
        carry = None  # exp(delta_e A) * g_e from the chunk after this one: what flows back into g_{e-1}
        starts = list(range(0, L, tc))
        for k in reversed(range(len(starts))):
            s = starts[k]
            e = min(L, s + tc)
            T = e - s
            h0 = ends[k - 1] if k else None
            _SelectiveScanFn._states(delta[s:e], dlt_u[s:e], At2, B[s:e], h0, dA, H)
            # g_t = dL/dh_t = dy_t C_t + exp(delta_{t+1} A) g_{t+1}
            g = G[:T]
            torch.mul(dy[s:e, :, None, :], C[s:e, :, :, None], out=g)
            if carry is not None:
                g[T - 1] += carry
            gs, dAs = g.unbind(0), dA[:T].unbind(0)
            for t in range(T - 2, -1, -1):
                gs[t].addcmul_(dAs[t + 1], gs[t + 1])
            carry = dA[0] * g[0]
            # dC_t = sum_d h_t dy_t ; computed before H is reused as scratch
            dC[s:e] = (H[:T] * dy[s:e, :, None, :]).sum(-1)
            # M_t = g_t * h_{t-1} * exp(delta_t A): the gradient reaching exp(delta_t A) times its derivative's
            # common factor; then dL/d delta_t = sum_n M_t A and dL/dA = sum_{t,b} M_t delta_t
            m = dA[:T]
            if T > 1:
                m[1:].mul_(H[: T - 1])
            if h0 is None:
                m[0].zero_()
            else:
                m[0].mul_(h0)
            m.mul_(g)
            ddelta_c = torch.mul(m, At, out=H[:T]).sum(2)  # (T, b, d)
            dAt += m.mul_(delta[s:e, :, None, :]).sum((0, 1))
            # path through delta u B: gB_t = sum_n g_t B_t
            gB = torch.bmm(B[s:e].reshape(T * b, 1, n), g.view(T * b, n, d)).view(T, b, d)
            ddelta[s:e] = ddelta_c.addcmul_(u[s:e], gB)
            du[s:e] = torch.mul(delta[s:e], gB).addcmul_(dy[s:e], D)
            dB[s:e] = (g * dlt_u[s:e, :, None, :]).sum(-1)
        return du, ddelta, dAt.t(), dB, dC, dD


def selective_scan_time_major(u, delta, A, B, C, D):
    """CPU-path scan in time-major layout: u, delta (L, b, d); B, C (L, b, n) -> (L, b, d). Computes in
    float32 (float64 if any input is float64), returns u's dtype. ``train.compile`` leaves it eager
    (``models.keep_loops_eager``; it fuses what is around it): traced, its loop over time would become one graph
    node per step, slow to compile and to run."""
    dtype = torch.promote_types(torch.promote_types(u.dtype, A.dtype), torch.float32)
    if D is None:
        D = torch.zeros(A.shape[0], dtype=dtype, device=u.device)
    args = [t.to(dtype).contiguous() for t in (u, delta, A, B, C, D)]
    return per_run(_SelectiveScanFn.apply, *args).to(u.dtype)  # per run in a pack (models.packing)


def selective_scan_cpu(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The pure-PyTorch scan with mamba-ssm's signature and layouts (works on any device). Like the kernel, it
    computes in float32 (float64 for float64 inputs) and returns u's dtype."""
    dtype = torch.promote_types(torch.promote_types(u.dtype, A.dtype), torch.float32)
    out_dtype, u, delta = u.dtype, u.to(dtype), delta.to(dtype)
    delta = _prepare_delta(delta, None if delta_bias is None else delta_bias.to(dtype), delta_softplus)
    y = selective_scan_time_major(u.permute(2, 0, 1), delta.permute(2, 0, 1), A, B.permute(2, 0, 1),
                                  C.permute(2, 0, 1), D).permute(1, 2, 0)
    return _gate(y, u, None, None if z is None else z.to(dtype)).to(out_dtype)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """mamba-ssm's fused kernel for CUDA tensors when available, else ``selective_scan_cpu``."""
    if u.is_cuda and _kernel_scan is not None:
        return _kernel_scan(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)
    return selective_scan_cpu(u, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus)


# ----------------------------------------------------------------------------------------------------------
# Mixer and backbone
# ----------------------------------------------------------------------------------------------------------

class MambaMixer(nn.Module):
    """Mamba-1 mixer (spec 3.2): (b, L, d_model) -> (b, L, d_model), causal.

    Parameters (names and shapes as mamba-ssm's ``Mamba``): in_proj.weight (2 d_inner, d), conv1d.weight
    (d_inner, 1, d_conv), conv1d.bias (d_inner), x_proj.weight (dt_rank + 2 d_state, d_inner),
    dt_proj.weight (d_inner, dt_rank), dt_proj.bias (d_inner), A_log (d_inner, d_state), D (d_inner),
    out_proj.weight (d, d_inner).
    """

    scan_kind = "Mamba"  # how implementation.set_scan and the log line find these blocks

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, dt_init_floor: float = 1e-4):
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.expand = d_model, d_state, d_conv, expand
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.dt_min, self.dt_max, self.dt_init_floor = dt_min, dt_max, dt_init_floor
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.d_inner, d_state))
        self.D = nn.Parameter(torch.empty(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.scan = "auto"  # the config's scan choice (SCAN_CHOICES); set_scan sets it for a whole model

    @property
    def use_kernels(self) -> bool:
        """False forces the pure-PyTorch path even where faster kernels are available (scan: torch)."""
        return self.scan != "torch"

    @use_kernels.setter
    def use_kernels(self, on: bool) -> None:
        self.scan = "auto" if on else "torch"

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator, n_layer: int = 1) -> None:
        """mamba-ssm's init, every draw from ``generator`` (spec 3.2)."""
        kaiming = dict(a=math.sqrt(5), generator=generator)  # PyTorch's default Linear/Conv weight init
        nn.init.kaiming_uniform_(self.in_proj.weight, **kaiming)
        nn.init.kaiming_uniform_(self.conv1d.weight, **kaiming)
        bound = 1.0 / math.sqrt(self.d_conv)  # Conv1d default bias init (fan_in = 1 * d_conv); not zeroed
        self.conv1d.bias.uniform_(-bound, bound, generator=generator)
        nn.init.kaiming_uniform_(self.x_proj.weight, **kaiming)
        std = self.dt_rank ** -0.5
        self.dt_proj.weight.uniform_(-std, std, generator=generator)
        u = torch.rand(self.d_inner, generator=generator, dtype=torch.float64)
        dt = torch.exp(u * (math.log(self.dt_max) - math.log(self.dt_min)) + math.log(self.dt_min))
        dt = dt.clamp(min=self.dt_init_floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log.copy_(torch.log(torch.arange(1, self.d_state + 1, dtype=torch.float64)).repeat(self.d_inner, 1))
        self.D.fill_(1.0)
        nn.init.kaiming_uniform_(self.out_proj.weight, **kaiming)
        self.out_proj.weight.div_(math.sqrt(n_layer))  # prenorm-residual rescale, one residual per block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        impl = resolve_scan(self.scan, x.device)
        if impl == "kernels":
            return self._forward_kernels(x)
        L = x.shape[1]
        xz = self.in_proj(x.transpose(0, 1))  # time-major (L, b, 2 d_inner)
        xs, z = xz.chunk(2, dim=-1)
        # causal depthwise conv, time-major: out_t = bias + sum_k w_k x_{t - (d_conv - 1) + k}, zeros before t = 0
        w = self.conv1d.weight[:, 0, :]  # (d_inner, d_conv)
        xpad = torch.cat([xs.new_zeros(self.d_conv - 1, *xs.shape[1:]), xs], dim=0)  # (L + d_conv - 1, b, d_inner)
        xc = self.conv1d.bias + xpad[self.d_conv - 1:] * w[:, -1]
        for k in range(self.d_conv - 1):
            xc = xc + xpad[k:k + L] * w[:, k]
        xc = F.silu(xc)
        dt, Bm, Cm = self.x_proj(xc).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        if impl == "triton":
            return self._forward_triton(xc, z, dt, Bm, Cm)
        delta = F.softplus(self.dt_proj(dt))  # (L, b, d_inner)
        y = selective_scan_time_major(xc, delta, -torch.exp(self.A_log), Bm, Cm, self.D)
        return self.out_proj(y * F.silu(z)).transpose(0, 1)

    def _forward_triton(self, xc, z, dt, Bm, Cm) -> torch.Tensor:
        """The Triton scan on the PyTorch path's time-major tensors (xc, z: (L, b, d_inner); dt: (L, b, r);
        Bm, Cm: (L, b, n)), passed as (b, channels, L) views without copies; softplus, bias, D and the silu
        gate are fused into the kernel as in mamba-ssm. In a pack: one call for all runs (``_SCAN_FOLD``)."""
        from .triton_scan import selective_scan_triton

        delta = F.linear(dt, self.dt_proj.weight)  # bias is added inside the kernel
        cl = (1, 2, 0)  # time-major (L, b, c) -> (b, c, L) view
        y = fold_runs(selective_scan_triton, _SCAN_FOLD, 1, xc.permute(cl), delta.permute(cl),
                      -torch.exp(self.A_log.float()), Bm.permute(cl), Cm.permute(cl), self.D.float(), z.permute(cl),
                      self.dt_proj.bias.float(), True)
        return self.out_proj(y.permute(2, 0, 1)).transpose(0, 1)

    def _forward_kernels(self, x: torch.Tensor) -> torch.Tensor:
        """mamba-ssm's unfused-projection path with the CUDA kernels (layouts: (b, channels, L)). In a pack the
        projections stay vmapped (batched matmuls) and the conv and the scan run once for all K runs, folded into
        the channels (``packing.fold_runs``; B, C grouped per run)."""
        b, length, _ = x.shape
        di, r, n = self.d_inner, self.dt_rank, self.d_state

        def time_last(t):  # (c, b L) -> (b, c, L), a view with time contiguous
            return t.view(t.shape[0], b, length).transpose(0, 1)

        # The projections as W @ x^T, as mamba-ssm's unfused path computes them: (b, c, L) views with time contiguous
        # that the conv and the scan take as they are (a (b, L, c) output needed a copy each, two in a pack, where the
        # K runs now fold into the channels as views); in_proj as two products so that x and z each fold whole.
        x_t = x.reshape(b * length, -1).t()  # (d, b L), a view
        w_x, w_z = self.in_proj.weight.chunk(2)  # chunk, not slices: one cat in the backward, not a zero fill each
        xs, z = time_last(w_x @ x_t), time_last(w_z @ x_t)  # (b, d_inner, L)
        xs = fold_runs(_conv_silu, (1, 0, 0), 1, xs, self.conv1d.weight[:, 0, :], self.conv1d.bias)
        x_dbl = self.x_proj.weight @ xs.transpose(0, 1).reshape(di, b * length)  # (r + 2n, b L): one copy of xs
        dt, Bm, Cm = x_dbl.split([r, n, n])
        dt = time_last(self.dt_proj.weight @ dt)  # (b, d_inner, L); the bias is added inside the kernel
        Bm, Cm = time_last(Bm), time_last(Cm)  # (b, n, L)
        A = -torch.exp(self.A_log.float())
        y = fold_runs(_scan_softplus, _SCAN_FOLD[:-1], 1, xs, dt, A, Bm, Cm, self.D.float(), z,
                      self.dt_proj.bias.float())
        return self.out_proj(y.transpose(1, 2))


# How a pack folds the scan's arguments (u, delta, A, B, C, D, z, delta_bias, delta_softplus): channels of u, delta,
# z at dim 1, of A, D, delta_bias at dim 0; B and C grouped per run (packing.fold_runs).
_SCAN_FOLD = (1, 1, 0, GROUP, GROUP, 0, 1, 0, None)


def _conv_silu(x, weight, bias):
    # looked up at call time: the module-level names are what tests replace with CPU stand-ins
    return _kernel_conv(x, weight, bias, activation="silu")


def _scan_softplus(u, delta, A, B, C, D, z, delta_bias):
    # a folded B, C is a strided (b, K, N, L) view; made contiguous, the layout mamba-ssm's own callers pass
    return _kernel_scan(u, delta, A, B.contiguous(), C.contiguous(), D, z=z, delta_bias=delta_bias,
                        delta_softplus=True)


class MambaBackbone(Backbone):
    """Mamba blocks in the shared pre-norm residual stack; no MLP, no positional encoding (spec 3.2)."""

    max_tokens = None

    def __init__(self, d_model: int, n_layer: int, norm: str = "rms", residual_in_fp32: bool = True,
                 d_state: int = 16, d_conv: int = 4, expand: int = 2):
        super().__init__()
        self.d_model, self.n_layer = d_model, n_layer
        mixers = [MambaMixer(d_model, d_state=d_state, d_conv=d_conv, expand=expand) for _ in range(n_layer)]
        self.stack = ResidualStack(mixers, d_model, norm=norm, residual_in_fp32=residual_in_fp32)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for mixer in self.stack.mixers:
            mixer.reset_parameters(generator, n_layer=self.n_layer)
        self.stack.reset_norms()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        return self.stack(embeds, output_hidden_states=output_hidden_states)

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.stack.final_norm(h)


def from_mamba_ssm_state_dict(state_dict: dict) -> dict:
    """Rename a mamba-ssm ``MixerModel`` (or ``MambaLMHeadModel``'s ``backbone.``) state dict to
    ``MambaBackbone`` keys: ``layers.i.mixer.*`` -> ``stack.mixers.i.*``, ``layers.i.norm.*`` ->
    ``stack.norms.i.*``, ``norm_f.*`` -> ``stack.norm_f.*``. Other keys (embeddings, lm_head) are dropped."""
    out = {}
    for key, value in state_dict.items():
        key = key.removeprefix("backbone.")
        parts = key.split(".")
        if parts[0] == "layers" and parts[2] in ("mixer", "norm"):
            group = "mixers" if parts[2] == "mixer" else "norms"
            out[".".join(["stack", group, parts[1], *parts[3:]])] = value
        elif parts[0] == "norm_f":
            out["stack." + key] = value
    return out


def build_mamba(spec: dict) -> MambaBackbone:
    """Registry builder ("mamba"): reads d_model, n_layer and optional norm ("rms", Grazzi; "layer", Park),
    residual_in_fp32 (default True), d_state (16), d_conv (4), expand (2)."""
    return MambaBackbone(
        d_model=spec["d_model"],
        n_layer=spec["n_layer"],
        norm=spec.get("norm", "rms"),
        residual_in_fp32=spec.get("residual_in_fp32", True),
        d_state=spec.get("d_state", 16),
        d_conv=spec.get("d_conv", 4),
        expand=spec.get("expand", 2),
    )
