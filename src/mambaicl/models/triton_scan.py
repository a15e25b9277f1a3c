"""A fused Mamba-1 selective scan in Triton, forward and backward (mamba-ssm's ``selective_scan_fn`` semantics).

Math, per sequence and channel d (state n = 1..N):

    dt_t  = softplus(delta_t + delta_bias)           (or delta_t + delta_bias without softplus)
    h_t   = exp(dt_t A) * h_{t-1} + dt_t u_t B_t     h: (N,), h_{-1} = 0
    y_t   = <C_t, h_t> + D u_t
    out_t = y_t * silu(z_t)                           (y_t without z)

Backward, with g_t = dL/dh_t = dy_t C_t + exp(dt_{t+1} A) g_{t+1} and m_t = g_t h_{t-1} exp(dt_t A):
dL/d dt_t = sum_n m_t A + u_t <g_t, B_t>,  dL/dA = sum_t m_t dt_t,  dL/du_t = dt_t <g_t, B_t> + dy_t D,
dL/dB_t = sum_d g_t dt_t u_t,  dL/dC_t = sum_d dy_t h_t,  dL/dD = sum_t dy_t u_t.

Layouts as mamba-ssm: u, delta, z: (b, d, L); A: (d, N); B, C: (b, N, L), or grouped (b, G, N, L) with channel c
reading group c // (d / G) (a pack's K runs folded into the channels, ``packing.fold_runs``); D, delta_bias: (d,).
Any strides are accepted (the mixer passes time-major views without copying). One program per (sequence, group,
block of the group's channels; a block never straddles two groups) keeps its channels' N states in registers
and loops over time inside the kernel: one launch per direction instead of the PyTorch path's few launches per
time step. L is a compile-time constant: Triton
3.6's interpreter cannot loop to a runtime bound under NumPy 2, and on a GPU it costs one compile per
sequence length (the curriculum has about 16). Arithmetic is fp32 whatever the input
dtype. The backward first recomputes the states into an fp32 scratch buffer (b, d, L, N), then runs the
reverse recurrence. Reductions across programs (dB, dC over a group's channel blocks; dA, dD, d delta_bias
over sequences) go to per-program partial buffers summed afterwards, not atomics, so the result is deterministic.

Importing this module imports triton; for the kernels to run on CPU tensors ``TRITON_INTERPRET=1`` must be set
before anything imports triton (``INTERPRETED`` records which way they were built).
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


@triton.jit
def _log1p(e):
    # log(1 + e) accurate for small e (Goldberg's trick): the plain form loses dt's small values at init
    # (delta + bias near -7 gives softplus ~ 1e-3, where fp32 log(1 + e) keeps only ~4 digits)
    one_p = 1.0 + e
    safe = tl.where(one_p == 1.0, 1.0, one_p - 1.0)
    return tl.where(one_p == 1.0, e, tl.log(one_p) * (e / safe))


@triton.jit
def _softplus(x):
    # torch's F.softplus: identity above 20
    return tl.where(x > 20.0, x, _log1p(tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _scan_fwd(u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr,
              d_inner, d_group, N,
              su_b, su_d, su_l, sdl_b, sdl_d, sdl_l, sB_b, sB_g, sB_n, sB_l, sC_b, sC_g, sC_n, sC_l,
              sz_b, sz_d, sz_l, so_b, so_d, so_l,
              L: tl.constexpr, HAS_Z: tl.constexpr, SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    pid_b = tl.program_id(0)
    pid_g = tl.program_id(1)  # the group (a packed run) whose B, C these channels read
    offs_g = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)  # (BLOCK_D,) channels within the group
    offs_d = pid_g * d_group + offs_g
    offs_n = tl.arange(0, BLOCK_N)  # (BLOCK_N,)
    mask_d = offs_g < d_group
    B_ptr += pid_g * sB_g
    C_ptr += pid_g * sC_g
    mask_n = offs_n < N
    mask_dn = mask_d[:, None] & mask_n[None, :]
    A = tl.load(A_ptr + offs_d[:, None] * N + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
    Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    for t in tl.range(0, L):
        u = tl.load(u_ptr + pid_b * su_b + offs_d * su_d + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        pre = tl.load(dl_ptr + pid_b * sdl_b + offs_d * sdl_d + t * sdl_l, mask=mask_d, other=0.0).to(tl.float32)
        dt = _softplus(pre + bias) if SOFTPLUS else pre + bias
        Bt = tl.load(B_ptr + pid_b * sB_b + offs_n * sB_n + t * sB_l, mask=mask_n, other=0.0).to(tl.float32)
        Ct = tl.load(C_ptr + pid_b * sC_b + offs_n * sC_n + t * sC_l, mask=mask_n, other=0.0).to(tl.float32)
        h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
        y = tl.sum(h * Ct[None, :], axis=1) + Dv * u  # (BLOCK_D,)
        if HAS_Z:
            z = tl.load(z_ptr + pid_b * sz_b + offs_d * sz_d + t * sz_l, mask=mask_d, other=0.0).to(tl.float32)
            y = y * z * tl.sigmoid(z)
        tl.store(out_ptr + pid_b * so_b + offs_d * so_d + t * so_l, y.to(out_ptr.dtype.element_ty), mask=mask_d)


@triton.jit
def _scan_bwd(u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, dout_ptr, hs_ptr,
              du_ptr, ddl_ptr, dz_ptr, dA_ptr, dB_ptr, dC_ptr, dD_ptr, dbias_ptr,
              batch, d_inner, d_group, n_groups, N,
              su_b, su_d, su_l, sdl_b, sdl_d, sdl_l, sB_b, sB_g, sB_n, sB_l, sC_b, sC_g, sC_n, sC_l,
              sz_b, sz_d, sz_l, sg_b, sg_d, sg_l,
              L: tl.constexpr, HAS_Z: tl.constexpr, SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    # du, ddl, dz: contiguous (b, d, L) fp32; hs: (b, d, L, BLOCK_N) fp32 scratch;
    # dA: (b, d, N), dD, dbias: (b, d) per-sequence partials; dB, dC: (blocks per group, b, G, N, L) partials
    pid_b = tl.program_id(0)
    pid_g = tl.program_id(1)
    pid_d = tl.program_id(2)
    offs_g = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_d = pid_g * d_group + offs_g
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_g < d_group
    B_ptr += pid_g * sB_g
    C_ptr += pid_g * sC_g
    mask_n = offs_n < N
    mask_dn = mask_d[:, None] & mask_n[None, :]
    A = tl.load(A_ptr + offs_d[:, None] * N + offs_n[None, :], mask=mask_dn, other=0.0).to(tl.float32)
    Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    row = (pid_b * d_inner + offs_d) * L  # (BLOCK_D,) rows of the contiguous gradient buffers
    hrow = row[:, None] * BLOCK_N + offs_n[None, :]  # (BLOCK_D, BLOCK_N) scratch offsets at t = 0
    bc = (((pid_d * batch + pid_b) * n_groups + pid_g) * N + offs_n) * L  # (BLOCK_N,) this program's dB, dC rows

    # pass 1: recompute the states h_t into the scratch buffer
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    for t in tl.range(0, L):
        u = tl.load(u_ptr + pid_b * su_b + offs_d * su_d + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        pre = tl.load(dl_ptr + pid_b * sdl_b + offs_d * sdl_d + t * sdl_l, mask=mask_d, other=0.0).to(tl.float32)
        dt = _softplus(pre + bias) if SOFTPLUS else pre + bias
        Bt = tl.load(B_ptr + pid_b * sB_b + offs_n * sB_n + t * sB_l, mask=mask_n, other=0.0).to(tl.float32)
        h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
        tl.store(hs_ptr + hrow + t * BLOCK_N, h, mask=mask_dn)
    tl.debug_barrier()  # each thread reads back states other threads of the program stored

    # pass 2: reverse time, carrying g = dL/dh_t and exp(dt_{t+1} A)
    g = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    decay_next = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)  # zero beyond the end
    dA_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for i in tl.range(0, L):
        t = L - 1 - i
        u = tl.load(u_ptr + pid_b * su_b + offs_d * su_d + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        pre = tl.load(dl_ptr + pid_b * sdl_b + offs_d * sdl_d + t * sdl_l, mask=mask_d, other=0.0).to(tl.float32)
        pre = pre + bias
        dt = _softplus(pre) if SOFTPLUS else pre
        Bt = tl.load(B_ptr + pid_b * sB_b + offs_n * sB_n + t * sB_l, mask=mask_n, other=0.0).to(tl.float32)
        Ct = tl.load(C_ptr + pid_b * sC_b + offs_n * sC_n + t * sC_l, mask=mask_n, other=0.0).to(tl.float32)
        dout = tl.load(dout_ptr + pid_b * sg_b + offs_d * sg_d + t * sg_l, mask=mask_d, other=0.0).to(tl.float32)
        h = tl.load(hs_ptr + hrow + t * BLOCK_N, mask=mask_dn, other=0.0)
        # the step condition as a boolean block: triton 3.9's interpreter refuses a mask widened by a scalar
        not_first = tl.full((BLOCK_D, BLOCK_N), t, tl.int32) > 0
        h_prev = tl.load(hs_ptr + hrow + (t - 1) * BLOCK_N, mask=mask_dn & not_first, other=0.0)
        if HAS_Z:
            z = tl.load(z_ptr + pid_b * sz_b + offs_d * sz_d + t * sz_l, mask=mask_d, other=0.0).to(tl.float32)
            sz = tl.sigmoid(z)
            y = tl.sum(h * Ct[None, :], axis=1) + Dv * u
            dy = dout * z * sz
            tl.store(dz_ptr + row + t, dout * y * sz * (1.0 + z * (1.0 - sz)), mask=mask_d)
        else:
            dy = dout
        g = dy[:, None] * Ct[None, :] + decay_next * g
        decay = tl.exp(dt[:, None] * A)
        m = g * h_prev * decay  # (BLOCK_D, BLOCK_N)
        gB = tl.sum(g * Bt[None, :], axis=1)  # (BLOCK_D,)
        ddt = tl.sum(m * A, axis=1) + u * gB
        dpre = ddt * tl.sigmoid(pre) if SOFTPLUS else ddt
        dA_acc += m * dt[:, None]
        dD_acc += dy * u
        dbias_acc += dpre
        tl.store(du_ptr + row + t, dt * gB + dy * Dv, mask=mask_d)
        tl.store(ddl_ptr + row + t, dpre, mask=mask_d)
        dBt = tl.sum(tl.where(mask_dn, g * (dt * u)[:, None], 0.0), axis=0)  # (BLOCK_N,)
        dCt = tl.sum(tl.where(mask_dn, h * dy[:, None], 0.0), axis=0)
        tl.store(dB_ptr + bc + t, dBt, mask=mask_n)
        tl.store(dC_ptr + bc + t, dCt, mask=mask_n)
        decay_next = decay
    tl.store(dA_ptr + (pid_b * d_inner + offs_d[:, None]) * N + offs_n[None, :], dA_acc, mask=mask_dn)
    tl.store(dD_ptr + pid_b * d_inner + offs_d, dD_acc, mask=mask_d)
    tl.store(dbias_ptr + pid_b * d_inner + offs_d, dbias_acc, mask=mask_d)


def _blocks(d: int, n: int) -> tuple[int, int]:
    # 32 channels x 16 states per program keeps the state tile in registers on a GPU; d: channels per group
    return min(32, triton.next_power_of_2(d)), triton.next_power_of_2(n)


def _grouped(B: torch.Tensor, C: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """B, C as (b, G, N, L) views (a 3-D one gets G = 1) and G; grouped ones must agree and divide the channels."""
    if B.dim() != C.dim() or B.dim() not in (3, 4):
        raise ValueError(f"selective_scan_triton: B and C must both be (b, N, L) or both (b, G, N, L), got "
                         f"{tuple(B.shape)} and {tuple(C.shape)}")
    if B.dim() == 3:
        return B.unsqueeze(1), C.unsqueeze(1), 1
    G = B.shape[1]
    if C.shape[1] != G or d % G:
        raise ValueError(f"selective_scan_triton: grouped B {tuple(B.shape)} and C {tuple(C.shape)} need one group "
                         f"count dividing the {d} channels")
    return B, C, G


class TritonSelectiveScan(torch.autograd.Function):
    """Autograd wrapper of the two kernels; returns gradients for (u, delta, A, B, C, D, z, delta_bias)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        b, d, L = u.shape
        N = A.shape[1]
        A32 = A.float().contiguous()
        D32 = (D.float() if D is not None else u.new_zeros(d, dtype=torch.float32)).contiguous()
        bias32 = (delta_bias.float() if delta_bias is not None else u.new_zeros(d, dtype=torch.float32)).contiguous()
        out = torch.empty_like(u)  # u's strides (a time-major view stays time-major)
        zz = z if z is not None else u  # any pointer; HAS_Z switches its use off
        B4, C4, G = _grouped(B, C, d)
        BD, BN = _blocks(d // G, N)
        _scan_fwd[(b, G, triton.cdiv(d // G, BD))](
            u, delta, A32, B4, C4, D32, zz, bias32, out, d, d // G, N,
            *u.stride(), *delta.stride(), *B4.stride(), *C4.stride(), *zz.stride(), *out.stride(),
            L=L, HAS_Z=z is not None, SOFTPLUS=bool(delta_softplus), BLOCK_D=BD, BLOCK_N=BN)
        ctx.save_for_backward(u, delta, A32, B, C, D32, z, bias32)
        ctx.flags = (A.dtype, D is not None and D.dtype, delta_bias is not None and delta_bias.dtype,
                     bool(delta_softplus))
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A32, B, C, D32, z, bias32 = ctx.saved_tensors
        A_dtype, D_dtype, bias_dtype, softplus = ctx.flags
        b, d, L = u.shape
        N = A32.shape[1]
        B4, C4, G = _grouped(B, C, d)
        BD, BN = _blocks(d // G, N)
        nblk = triton.cdiv(d // G, BD)  # channel blocks per group
        f32 = dict(device=u.device, dtype=torch.float32)
        hs = torch.empty(b, d, L, BN, **f32)
        du, ddl, dz = (torch.empty(b, d, L, **f32) for _ in range(3))
        dA, dB, dC = (torch.empty(b, d, N, **f32), torch.empty(nblk, b, G, N, L, **f32),
                      torch.empty(nblk, b, G, N, L, **f32))
        dD, dbias = torch.empty(b, d, **f32), torch.empty(b, d, **f32)
        zz = z if z is not None else u
        _scan_bwd[(b, G, nblk)](
            u, delta, A32, B4, C4, D32, zz, bias32, dout, hs, du, ddl, dz, dA, dB, dC, dD, dbias,
            b, d, d // G, G, N,
            *u.stride(), *delta.stride(), *B4.stride(), *C4.stride(), *zz.stride(), *dout.stride(),
            L=L, HAS_Z=z is not None, SOFTPLUS=softplus, BLOCK_D=BD, BLOCK_N=BN)
        # the per-block partials summed in block order (deterministic); a 3-D B, C gets its 3-D gradient back
        dB, dC = dB.sum(0).view(B.shape), dC.sum(0).view(C.shape)
        return (du.to(u.dtype), ddl.to(delta.dtype), dA.sum(0).to(A_dtype), dB.to(B.dtype),
                dC.to(C.dtype), dD.sum(0).to(D_dtype) if D_dtype else None,
                dz.to(z.dtype) if z is not None else None, dbias.sum(0).to(bias_dtype) if bias_dtype else None,
                None)


def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Drop-in for mamba-ssm's ``selective_scan_fn`` (no return_last_state): out (b, d, L) in u's dtype. B, C:
    (b, N, L), or (b, G, N, L) grouped, channel c reading group c // (d / G), as mamba-ssm's."""
    return TritonSelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
