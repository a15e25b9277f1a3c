"""A fused RWKV-4 WKV recurrence in Triton, forward and backward (``rwkv.WKV``'s math, one launch per direction).

Per channel, with decay w < 0 and bonus u (see ``rwkv.py``):

    y_t = ( sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t ) / ( sum_{i<t} e^{(t-1-i) w + k_i} + e^{u + k_t} )

computed in the running-max form: the state before step t is A_t = aa_t e^{pp_t}, B_t = bb_t e^{pp_t}, with
pp_0 = -inf, aa_0 = bb_0 = 0; q_t = max(pp_t, u + k_t), den_t = e^{pp_t - q_t} bb_t + e^{u + k_t - q_t},
y_t = (e^{pp_t - q_t} aa_t + e^{u + k_t - q_t} v_t) / den_t; then pp_{t+1} = max(pp_t + w, k_t) and
aa_{t+1} = e^{pp_t + w - pp_{t+1}} aa_t + e^{k_t - pp_{t+1}} v_t (bb likewise with 1 for v_t).

The backward is ``rwkv.WKV.backward``'s reverse recurrence written per position: with g = dL/dy / den,
gA_t = g_t, gB_t = -g_t y_t, the adjoint of the state G_i = (ga_i, gb_i) e^{s_i}, s_i = max(-q_{i+1}, s_{i+1} + w),
(ga, gb)_i = e^{-q_{i+1} - s_i} (gA, gB)_{i+1} + e^{s_{i+1} + w - s_i} (ga, gb)_{i+1}; so every exponential has
a non-positive argument. Forward pass 1 of the backward stores (aa, bb, pp) per position in fp32 scratch.

Layouts: w, u: (C,); k, v, y: (B, T, C), any strides. One program per (sequence, block of channels); fp32
arithmetic whatever the input dtype; dw, du go to per-sequence partials summed afterwards (deterministic).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton import knobs
from triton.runtime.interpreter import InterpretedFunction

# Whether these kernels run in Triton's interpreter: TRITON_INTERPRET=1 must have been set both when triton was
# imported (its own jit helpers, tl.sigmoid among them) and when this module was (triton.jit reads it then).
INTERPRETED = bool(knobs.runtime.interpret) and isinstance(tl.standard.sigmoid, InterpretedFunction)
_NEG = tl.constexpr(-1e30)  # log(0) in the running maxima, as rwkv._NEG: exp(_NEG - finite) == 0 exactly


@triton.jit
def _wkv_fwd(w_ptr, u_ptr, k_ptr, v_ptr, y_ptr, C, sk_b, sk_t, sk_c, sv_b, sv_t, sv_c, sy_b, sy_t, sy_c,
             T: tl.constexpr, BLOCK_C: tl.constexpr):
    pid_b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = offs < C
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    aa = tl.zeros((BLOCK_C,), dtype=tl.float32)
    bb = tl.zeros((BLOCK_C,), dtype=tl.float32)
    pp = tl.full((BLOCK_C,), _NEG, dtype=tl.float32)
    for t in tl.range(0, T):
        k = tl.load(k_ptr + pid_b * sk_b + t * sk_t + offs * sk_c, mask=mask, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + pid_b * sv_b + t * sv_t + offs * sv_c, mask=mask, other=0.0).to(tl.float32)
        uk = u + k
        q = tl.maximum(pp, uk)
        e1 = tl.exp(pp - q)
        e2 = tl.exp(uk - q)
        y = (e1 * aa + e2 * v) / (e1 * bb + e2)
        tl.store(y_ptr + pid_b * sy_b + t * sy_t + offs * sy_c, y.to(y_ptr.dtype.element_ty), mask=mask)
        pn = tl.maximum(pp + w, k)
        ed = tl.exp(pp + w - pn)
        en = tl.exp(k - pn)
        aa = ed * aa + en * v
        bb = ed * bb + en
        pp = pn


@triton.jit
def _wkv_bwd(w_ptr, u_ptr, k_ptr, v_ptr, gy_ptr, st_ptr, gk_ptr, gv_ptr, gw_ptr, gu_ptr, C,
             sk_b, sk_t, sk_c, sv_b, sv_t, sv_c, sg_b, sg_t, sg_c,
             T: tl.constexpr, BLOCK_C: tl.constexpr):
    # st: (3, B, T, C) fp32 scratch (aa, bb, pp before each step); gk, gv: (B, T, C) fp32; gw, gu: (B, C) partials
    pid_b = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = offs < C
    nb = tl.num_programs(0)
    w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    row = pid_b * T * C + offs  # (BLOCK_C,) offsets into the contiguous (B, T, C) buffers at t = 0
    plane = nb * T * C  # distance between the aa, bb and pp planes of the scratch

    # pass 1: the states before each step
    aa = tl.zeros((BLOCK_C,), dtype=tl.float32)
    bb = tl.zeros((BLOCK_C,), dtype=tl.float32)
    pp = tl.full((BLOCK_C,), _NEG, dtype=tl.float32)
    for t in tl.range(0, T):
        tl.store(st_ptr + row + t * C, aa, mask=mask)
        tl.store(st_ptr + plane + row + t * C, bb, mask=mask)
        tl.store(st_ptr + 2 * plane + row + t * C, pp, mask=mask)
        k = tl.load(k_ptr + pid_b * sk_b + t * sk_t + offs * sk_c, mask=mask, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + pid_b * sv_b + t * sv_t + offs * sv_c, mask=mask, other=0.0).to(tl.float32)
        pn = tl.maximum(pp + w, k)
        ed = tl.exp(pp + w - pn)
        en = tl.exp(k - pn)
        aa = ed * aa + en * v
        bb = ed * bb + en
        pp = pn
    tl.debug_barrier()

    # pass 2: reverse time; "next" values belong to position i + 1 (neutral beyond the end: G_{T-1} = 0)
    nq_next = tl.full((BLOCK_C,), _NEG, dtype=tl.float32)  # -q_{i+1}
    s_next = tl.full((BLOCK_C,), _NEG, dtype=tl.float32)
    gA_next = tl.zeros((BLOCK_C,), dtype=tl.float32)
    gB_next = tl.zeros((BLOCK_C,), dtype=tl.float32)
    ga = tl.zeros((BLOCK_C,), dtype=tl.float32)
    gb = tl.zeros((BLOCK_C,), dtype=tl.float32)
    gw_acc = tl.zeros((BLOCK_C,), dtype=tl.float32)
    gu_acc = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for j in tl.range(0, T):
        i = T - 1 - j
        aa = tl.load(st_ptr + row + i * C, mask=mask, other=0.0)
        bb = tl.load(st_ptr + plane + row + i * C, mask=mask, other=0.0)
        pp = tl.load(st_ptr + 2 * plane + row + i * C, mask=mask, other=_NEG)
        k = tl.load(k_ptr + pid_b * sk_b + i * sk_t + offs * sk_c, mask=mask, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + pid_b * sv_b + i * sv_t + offs * sv_c, mask=mask, other=0.0).to(tl.float32)
        gy = tl.load(gy_ptr + pid_b * sg_b + i * sg_t + offs * sg_c, mask=mask, other=0.0).to(tl.float32)
        uk = u + k
        q = tl.maximum(pp, uk)
        e1 = tl.exp(pp - q)
        e2 = tl.exp(uk - q)
        den = e1 * bb + e2
        y = (e1 * aa + e2 * v) / den
        g = gy / den
        # the state's adjoint at i from the one at i + 1
        s = tl.maximum(nq_next, s_next + w)
        f_new = tl.exp(nq_next - s)
        f_decay = tl.exp(s_next + w - s)
        ga = f_new * gA_next + f_decay * ga
        gb = f_new * gB_next + f_decay * gb
        # direct path through e^{u + k_i} v_i, then the state's path through e^{k_i} (v_i, 1)
        gk_dir = e2 * (v - y) * g
        c = tl.exp(k + s)
        tl.store(gv_ptr + row + i * C, e2 * g + c * ga, mask=mask)
        tl.store(gk_ptr + row + i * C, gk_dir + c * (ga * v + gb), mask=mask)
        gu_acc += gk_dir
        gw_acc += tl.exp(w + s + pp) * (ga * aa + gb * bb)
        nq_next = -q
        s_next = s
        gA_next = g
        gB_next = -g * y
    tl.store(gw_ptr + pid_b * C + offs, gw_acc, mask=mask)
    tl.store(gu_ptr + pid_b * C + offs, gu_acc, mask=mask)


def _block_c(c: int) -> int:
    return min(64, triton.next_power_of_2(c))


class TritonWKV(torch.autograd.Function):
    """Autograd wrapper: (w, u, k, v) -> y, gradients for all four."""

    @staticmethod
    def forward(ctx, w, u, k, v):
        B, T, C = k.shape
        w32, u32 = w.float().contiguous(), u.float().contiguous()
        y = torch.empty_like(k)
        BC = _block_c(C)
        _wkv_fwd[(B, triton.cdiv(C, BC))](w32, u32, k, v, y, C, *k.stride(), *v.stride(), *y.stride(),
                                          T=T, BLOCK_C=BC)
        ctx.save_for_backward(w32, u32, k, v)
        ctx.dtypes = (w.dtype, u.dtype)
        return y

    @staticmethod
    def backward(ctx, gy):
        w32, u32, k, v = ctx.saved_tensors
        B, T, C = k.shape
        f32 = dict(device=k.device, dtype=torch.float32)
        st = torch.empty(3, B, T, C, **f32)
        gk, gv = torch.empty(B, T, C, **f32), torch.empty(B, T, C, **f32)
        gw, gu = torch.empty(B, C, **f32), torch.empty(B, C, **f32)
        BC = _block_c(C)
        _wkv_bwd[(B, triton.cdiv(C, BC))](w32, u32, k, v, gy, st, gk, gv, gw, gu, C,
                                          *k.stride(), *v.stride(), *gy.stride(), T=T, BLOCK_C=BC)
        return gw.sum(0).to(ctx.dtypes[0]), gu.sum(0).to(ctx.dtypes[1]), gk.to(k.dtype), gv.to(v.dtype)


def wkv_triton(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``rwkv.wkv`` on the Triton kernels: w, u (C,); k, v (B, T, C) -> (B, T, C) in k's dtype."""
    return TritonWKV.apply(w, u, k, v)
