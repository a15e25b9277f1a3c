"""RWKV-4, trained from scratch on the synthetic tasks: a project extension (spec 3.9).

This is our own implementation of the RWKV-4 architecture (Peng et al. 2023), written for this
package.  No maintained package trains RWKV on a CPU: flash-linear-attention's layers are GPU-only
(Triton, spec 9.4), the ``rwkv`` package is inference-only, and the transformers ``RwkvModel``
falls back to a Python loop with full autograd.  So the WKV recurrence here is a custom
``torch.autograd.Function``: the forward runs the recurrence without building a graph and the
backward runs an explicit reverse-time recurrence, both in the numerically stable running-max form.
It is tested against ``wkv_reference`` (a plain per-position softmax written for clarity) to 1e-5 in
fp32 and with ``gradcheck`` in float64.

WKV (per channel c, decay w = -exp(time_decay) < 0, bonus u = time_first):

    y_t = ( sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t ) / ( sum_{i<t} e^{(t-1-i) w + k_i} + e^{u + k_t} )

i.e. a softmax-weighted average of v_0..v_t with log-weights (t-1-i) w + k_i, and u + k_t for the
current token.

Block l (pre-LayerNorm residual):  [l = 0: x <- ln0(x)];  x <- x + TimeMix(ln1(x));  x <- x + ChannelMix(ln2(x)).
Final: ln_out.  ``streams[l]`` is x after block l (before ln_out); ``final_norm`` is ln_out.

Initialisation (RWKV-4 "v4neo" recipe; ratio_0_to_1 = l / (n_layer - 1), ratio_1_to_almost0 = 1 - l / n_layer,
ddd_i = i / d):
- time_decay_i = -5 + 8 (i / (d - 1))^(0.7 + 1.3 ratio_0_to_1);  time_first_i = log 0.3 + 0.5 ((i + 1) mod 3 - 1);
- time-mix coefficients: mix_k = ddd^r1, mix_v = ddd^r1 + 0.3 r0, mix_r = ddd^(0.5 r1) (time-mix);
  mix_k = mix_r = ddd^r1 (channel-mix), with r0 = ratio_0_to_1, r1 = ratio_1_to_almost0;
- Linear weights (no biases anywhere): zero for time-mix key, receptance and output and for
  channel-mix value and receptance; orthogonal with gain 1 for time-mix value and gain
  sqrt(ffn_mult) for channel-mix key (gain sqrt(out/in) when out > in), drawn from the generator;
- LayerNorms: weight 1, bias 0.
With the zero output projections every block starts as the identity; only those projections get a
gradient on the first step, then the rest follows (as in RWKV-4 language-model training).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone
from .implementation import resolve_wkv
from .packing import per_channel

_NEG = -1e30  # stands for log(0) in the running-max states; exp(_NEG - finite) == 0 exactly


def wkv_reference(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Naive WKV straight from the definition, one position at a time (O(T^2), for tests).

    w, u: (C,); k, v: (B, T, C) -> y (B, T, C).  Differentiable by autograd.
    """
    T = k.shape[1]
    out = []
    for t in range(T):
        lag = torch.arange(t - 1, -1, -1, device=k.device, dtype=k.dtype)  # t-1-i for i = 0..t-1
        past = lag[None, :, None] * w + k[:, :t]  # (B, t, C) log-weights of earlier tokens
        cur = (u + k[:, t])[:, None]  # (B, 1, C) log-weight of the current token
        weights = torch.softmax(torch.cat([past, cur], dim=1), dim=1)
        out.append((weights * v[:, : t + 1]).sum(dim=1))
    return torch.stack(out, dim=1)


def _decayed_running_max(x: torch.Tensor, w: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """m_t = max(m_{t-1} + w, x_t) along dim 0 (m_{t+1} + w from the end if ``reverse``); x (T, B, C), w (C,).

    A loop of two in-place ops per step: much cheaper on CPU than the graph-tracked running max of the
    naive recurrence, and exactly the maxima the stable recurrence needs.
    """
    out = torch.empty_like(x)
    if x.shape[0] == 0:
        return out
    tmp = torch.empty_like(x[0])
    steps = list(range(x.shape[0] - 1, -1, -1)) if reverse else list(range(x.shape[0]))
    out[steps[0]] = x[steps[0]]
    for prev, t in zip(steps[:-1], steps[1:]):
        torch.add(out[prev], w, out=tmp)
        torch.maximum(tmp, x[t], out=out[t])
    return out


class WKV(torch.autograd.Function):
    """WKV recurrence with a graph-free forward loop and a hand-written reverse-time backward.

    Running-max form: the state before step t is A_t = aa_t e^{pp_t}, B_t = bb_t e^{pp_t} with
    A_{t+1} = e^w A_t + e^{k_t} v_t, B_{t+1} = e^w B_t + e^{k_t}, pp_t = max_{i<t} ((t-1-i) w + k_i).
    The backward accumulates G_i = sum_{t>i} e^{(t-1-i) w} dL/dA_t (and likewise for B) as ga_i e^{s_i}
    with its own running max s_i = max_{t>i} ((t-1-i) w - q_t), so every exponential taken has a
    non-positive argument (up to round-off in the maxima).

    Speed: the running maxima are computed first (two in-place ops per step), then all scaling
    factors vectorised over time, so each step of the state loops is a single fused multiply-add on
    the stacked (A, B) state; nothing is tracked by autograd.  Tensors are time-major, (T, B, C).
    """

    @staticmethod
    def forward(ctx, w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        T = k.shape[1]
        kt = k.transpose(0, 1).contiguous()  # (T, B, C)
        vt = v.transpose(0, 1).contiguous()
        pp_next = _decayed_running_max(kt, w)  # pp_{t+1} = max(pp_t + w, k_t) = max_{i<=t} ((t-i) w + k_i)
        pp = torch.cat([torch.full_like(kt[:1], _NEG), pp_next[:-1]])  # pp_t, state scale before step t
        e_decay = torch.exp(pp + w - pp_next)  # scale of the carried state, (T, B, C)
        e_new = torch.exp(kt - pp_next)  # scale of the new token
        inc = torch.stack([e_new * vt, e_new], dim=1)  # (T, 2, B, C)
        state = torch.empty_like(inc)  # (aa_t, bb_t): state before step t
        state[0].zero_()
        for t in range(T - 1):
            torch.addcmul(inc[t], e_decay[t, None], state[t], out=state[t + 1])
        aa, bb = state[:, 0], state[:, 1]
        # Outputs from the states before each step plus the current token with bonus u.
        uk = u + kt
        q = torch.maximum(pp, uk)
        e1 = torch.exp(pp - q)
        e2 = torch.exp(uk - q)
        den = e1 * bb + e2  # >= 1
        y = (e1 * aa + e2 * vt) / den  # (T, B, C)
        ctx.save_for_backward(w, kt, vt, state, pp, y, q, e2, den)
        return y.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        w, kt, vt, state, pp, y, q, e2, den = ctx.saved_tensors
        T = kt.shape[0]
        gy = grad_y.transpose(0, 1).contiguous()  # (T, B, C)
        g_den = gy / den
        # Direct dependence of y_t on (u, k_t, v_t) through the current-token term e^{u + k_t}.
        gv = e2 * g_den
        gk = e2 * (vt - y) * g_den
        gu = gk.sum(dim=(0, 1))
        # dL/dA_t = e^{-q_t} gA_t and dL/dB_t = e^{-q_t} gB_t, as D_t = B_t + e^{u + k_t} = e^{q_t} den_t.
        g_state = torch.stack([g_den, -g_den * y], dim=1)  # (T, 2, B, C): (gA_t, gB_t)
        # s_i = max_{t>i} ((t-1-i) w - q_t) = max(-q_{i+1}, s_{i+1} + w) for i <= T-2; G_{T-1} = 0.
        s = torch.empty_like(kt)
        s[:-1] = _decayed_running_max(-q[1:], w, reverse=True)
        s[-1] = _NEG
        # G_i = dL/dA_{i+1} + e^w G_{i+1}  ->  g_i = f_new_i gA_{i+1} + f_decay_i g_{i+1}, with G_i = g_i e^{s_i}
        f_new = torch.exp(-q[1:] - s[:-1])  # (T-1, B, C)
        f_decay = torch.exp(s[1:] + w - s[:-1])
        inc = f_new[:, None] * g_state[1:]  # (T-1, 2, B, C)
        g = torch.empty_like(g_state)  # (ga_i, gb_i)
        g[T - 1].zero_()
        for i in range(T - 2, -1, -1):
            torch.addcmul(inc[i], f_decay[i, None], g[i + 1], out=g[i])
        ga, gb = g[:, 0], g[:, 1]
        # State contributions: A_{i+1} gets e^{k_i} v_i, B_{i+1} gets e^{k_i}.
        c = torch.exp(kt + s)  # <= 1
        gv = gv + c * ga
        gk = gk + c * (ga * vt + gb)
        # w: dL/dw = sum_t e^w (G_t A_t + G^B_t B_t).
        cw = torch.exp(w + s + pp)  # <= 1
        gw = (cw * (ga * state[:, 0] + gb * state[:, 1])).sum(dim=(0, 1))
        return gw, gu, gk.transpose(0, 1), gv.transpose(0, 1)


def wkv(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Fast WKV: w, u (C,); k, v (B, T, C) -> (B, T, C).  Half precisions are computed in fp32. ``train.compile``
    leaves it eager (``models.keep_loops_eager``), like the own Mamba scan (its loop over time)."""
    dtype = k.dtype
    if dtype not in (torch.float32, torch.float64):
        w, u, k, v = w.float(), u.float(), k.float(), v.float()
    return per_channel(WKV.apply, w.to(k.dtype), u.to(k.dtype), k, v).to(dtype)  # a pack: runs as channels


def _token_shift(x: torch.Tensor) -> torch.Tensor:
    """x_{t-1} at position t (zeros at t = 0); x (B, T, C)."""
    return F.pad(x, (0, 0, 1, -1))


def _mix_profile(d: int) -> torch.Tensor:
    return torch.arange(d, dtype=torch.float32) / d  # ddd_i = i / d


class TimeMix(nn.Module):
    scan_kind = "RWKV"  # how implementation.set_scan and the log line find these blocks

    def __init__(self, d_model: int):
        super().__init__()
        d = d_model
        self.time_decay = nn.Parameter(torch.empty(d))
        self.time_first = nn.Parameter(torch.empty(d))
        self.time_mix_k = nn.Parameter(torch.empty(d))
        self.time_mix_v = nn.Parameter(torch.empty(d))
        self.time_mix_r = nn.Parameter(torch.empty(d))
        self.key = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(d, d, bias=False)
        self.receptance = nn.Linear(d, d, bias=False)
        self.output = nn.Linear(d, d, bias=False)
        self.scan = "auto"  # the config's scan choice: triton runs the WKV on the Triton kernel (mamba.resolve_wkv)

    def reset_parameters(self, generator: torch.Generator, layer: int, n_layer: int) -> None:
        d = self.time_decay.numel()
        r0 = layer / (n_layer - 1) if n_layer > 1 else 0.0
        r1 = 1.0 - layer / n_layer
        ddd = _mix_profile(d)
        h = torch.arange(d, dtype=torch.float32)
        with torch.no_grad():
            self.time_decay.copy_(-5 + 8 * (h / max(d - 1, 1)) ** (0.7 + 1.3 * r0))
            self.time_first.copy_(math.log(0.3) + 0.5 * ((h + 1) % 3 - 1))
            self.time_mix_k.copy_(ddd ** r1)
            self.time_mix_v.copy_(ddd ** r1 + 0.3 * r0)
            self.time_mix_r.copy_(ddd ** (0.5 * r1))
            for lin in (self.key, self.receptance, self.output):
                lin.weight.zero_()
        nn.init.orthogonal_(self.value.weight, gain=1.0, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xx = _token_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xv = x * self.time_mix_v + xx * (1 - self.time_mix_v)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k, v = self.key(xk), self.value(xv)
        r = torch.sigmoid(self.receptance(xr))
        if resolve_wkv(self.scan, k.device) == "triton":
            from .triton_wkv import wkv_triton

            return self.output(r * per_channel(wkv_triton, -torch.exp(self.time_decay), self.time_first, k, v))
        return self.output(r * wkv(-torch.exp(self.time_decay), self.time_first, k, v))


class ChannelMix(nn.Module):
    def __init__(self, d_model: int, ffn_mult: int = 4):
        super().__init__()
        d, hidden = d_model, ffn_mult * d_model
        self.time_mix_k = nn.Parameter(torch.empty(d))
        self.time_mix_r = nn.Parameter(torch.empty(d))
        self.key = nn.Linear(d, hidden, bias=False)
        self.receptance = nn.Linear(d, d, bias=False)
        self.value = nn.Linear(hidden, d, bias=False)

    def reset_parameters(self, generator: torch.Generator, layer: int, n_layer: int) -> None:
        r1 = 1.0 - layer / n_layer
        ddd = _mix_profile(self.time_mix_k.numel())
        with torch.no_grad():
            self.time_mix_k.copy_(ddd ** r1)
            self.time_mix_r.copy_(ddd ** r1)
            self.receptance.weight.zero_()
            self.value.weight.zero_()
        out_f, in_f = self.key.weight.shape
        nn.init.orthogonal_(self.key.weight, gain=math.sqrt(out_f / in_f) if out_f > in_f else 1.0,
                            generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xx = _token_shift(x)
        xk = x * self.time_mix_k + xx * (1 - self.time_mix_k)
        xr = x * self.time_mix_r + xx * (1 - self.time_mix_r)
        k = torch.square(torch.relu(self.key(xk)))
        return torch.sigmoid(self.receptance(xr)) * self.value(k)


class RWKVBlock(nn.Module):
    def __init__(self, d_model: int, ffn_mult: int, first: bool):
        super().__init__()
        self.ln0 = nn.LayerNorm(d_model) if first else None  # RWKV-4 normalises the embeddings once
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.att = TimeMix(d_model)
        self.ffn = ChannelMix(d_model, ffn_mult)

    def reset_parameters(self, generator: torch.Generator, layer: int, n_layer: int) -> None:
        for ln in (self.ln0, self.ln1, self.ln2):
            if ln is not None:
                ln.reset_parameters()
        self.att.reset_parameters(generator, layer, n_layer)
        self.ffn.reset_parameters(generator, layer, n_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ln0 is not None:
            x = self.ln0(x)
        x = x + self.att(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class RWKVBackbone(Backbone):
    """RWKV-4 blocks and a final LayerNorm ``ln_out``; (B, T, d) -> (B, T, d), causal, no length limit."""

    def __init__(self, d_model: int, n_layer: int, ffn_mult: int = 4):
        super().__init__()
        self.d_model = d_model
        self.max_tokens = None
        self.n_layer = n_layer
        self.blocks = nn.ModuleList(RWKVBlock(d_model, ffn_mult, first=(i == 0)) for i in range(n_layer))
        self.ln_out = nn.LayerNorm(d_model)

    def reset_parameters(self, generator: torch.Generator) -> None:
        for i, block in enumerate(self.blocks):
            block.reset_parameters(generator, i, self.n_layer)
        self.ln_out.reset_parameters()

    def forward(self, embeds: torch.Tensor, output_hidden_states: bool = False):
        x, streams = embeds, []
        for block in self.blocks:
            x = block(x)
            if output_hidden_states:
                streams.append(x)
        out = self.ln_out(x)
        return (out, streams) if output_hidden_states else out

    def final_norm(self, h: torch.Tensor) -> torch.Tensor:
        return self.ln_out(h)


def build_rwkv(spec: dict) -> Backbone:
    """``rwkv``: d_model, n_layer, ffn_mult (4)."""
    return RWKVBackbone(spec["d_model"], spec["n_layer"], ffn_mult=spec.get("ffn_mult", 4))
