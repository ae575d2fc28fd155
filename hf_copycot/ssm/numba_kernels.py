"""CPU kernels for a Mamba mixer's causal depthwise conv and selective scan, compiled by numba.

Why hand-written: a scan written in tensor ops materialises (B, L, D, N) floats and is
memory-bound (docs/BENCHMARKS.md). These kernels keep one block of W channels' N-float states in
L1, read the inputs of a token once and write its output once; the backward recomputes the states
of one segment of S steps from a checkpoint the forward saved (the trade mamba-ssm's CUDA kernel
makes). Channels are the SIMD axis: W = 16 floats is one AVX-512 vector (two AVX2 ones), so the
state update has no cross-lane work. The dt projection (rank R, tiny), softplus, the D skip term
and the silu(z) gate are fused into the scan; the conv, its bias, silu and the padding mask into
the conv kernel.

Layout: every (B, L, D) tensor is viewed as (B, L, D / W, W) and indexed `row[j]` with j from
`range(WIDTH)` (numba emits negative-index checks for any index it cannot prove >= 0, and those
stop LLVM from vectorising). numba has no vectorised exp on most installs (no SVML), hence the
branch-free `_exp` and `_softplus_sigmoid`. What they promise, in float32 epsilons (eps = 2**-23):
exp within 4 eps relative, softplus within 16 eps relative, sigmoid within 4 eps absolute; each is
a handful of float32 operations (about 1, 2 and 1 eps measured) and the margin covers rounding that
differs between CPUs (`contract` lets LLVM fuse a*b + c into an FMA where the CPU has one).

Threads: a call runs its items [item_lo, item_hi) one after another on the calling thread
(numba_mixer._launch splits the items over threads, numba's own count set to 1), with one set of
scratch it reuses: each item zeroes its accumulators first, so it computes exactly what it would
alone. The loop over items sits inside a one-iteration prange, which only makes the scratch
noalias arguments of the loop body. (Scratch per item, up to 256 sets of a few KB, came to MBs
of fresh memory at every call, and touching it cost as much as the backward's arithmetic.)

Shapes (float32, C-contiguous): u, y, du: (B, L, K, W) with K = D / W; xz, dxz: (B, L, 2K, W), the
gate z = xz[:, :, K:]; x_dbl: (B, L, R + 2N) = [dt_low | B | C]; w_dt: (R, K, W) = dt_proj.weight.T;
dt_bias, d_skip: (K, W); a: (N, K, W) = A.T; conv_w: (KW, K, W); conv_b: (K, W); mask: (B, L).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Every flag but `reassoc`: reassociation could undo the two-step range reduction in `_exp`.
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
WIDTH = 16  # channels per SIMD block; the channel count is padded to a multiple of it
SEGMENT = 16  # scan steps between state checkpoints; the backward recomputes one segment at a time

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693145751953125)
_LN2_LO = _F(1.4286067653302226e-06)
_EXP_LO = _F(-87.0)
_EXP_HI = _F(88.0)
# exp(r) on [-ln2/2, ln2/2], fitted for relative error (numpy Lawson iterations), degree 6
_E2 = _F(0.49999991059303284)
_E3 = _F(0.16666419804096222)
_E4 = _F(0.04166822507977486)
_E5 = _F(0.008374814875423908)
_E6 = _F(0.0013836834114044905)
_ZERO = _F(0.0)
_HALF = _F(0.5)
_ONE = _F(1.0)
_TWO = _F(2.0)


def _kernel(**options):
    """njit with an on-disk cache where numba can write one (pays the ~10 s JIT once)."""

    def wrap(fn):
        # error_model="numpy": no ZeroDivisionError checks, which would stop vectorisation
        opts = {"error_model": "numpy", **options}
        try:
            return njit(cache=True, **opts)(fn)
        except RuntimeError:  # no writable cache location: compile per process instead
            return njit(cache=False, **opts)(fn)

    return wrap


@_kernel(inline="always", fastmath=FASTMATH)
def _exp(x):
    """exp(x) for float32 x, clamped to [-87, 88]; vectorisable (no calls, no branches)."""
    x = min(max(x, _EXP_LO), _EXP_HI)
    k = np.floor(x * _LOG2E + _HALF)  # float32; math.floor would return int64 and upcast
    r = x - k * _LN2_HI
    r = r - k * _LN2_LO
    p = _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + _ONE
    p = p * r + _ONE
    scale = np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)
    return p * scale


@_kernel(inline="always", fastmath=FASTMATH)
def _softplus_sigmoid(x):
    """(log(1 + e^x), 1 / (1 + e^-x)) via v = e^-|x| and log1p(v) = 2 atanh(v / (2 + v))."""
    v = _exp(-abs(x))
    s = v / (_TWO + v)
    s2 = s * s
    p = _F(1.0 / 15.0)
    p = p * s2 + _F(1.0 / 13.0)
    p = p * s2 + _F(1.0 / 11.0)
    p = p * s2 + _F(1.0 / 9.0)
    p = p * s2 + _F(1.0 / 7.0)
    p = p * s2 + _F(1.0 / 5.0)
    p = p * s2 + _F(1.0 / 3.0)
    p = p * s2 + _ONE
    softplus = max(x, _ZERO) + _TWO * s * p
    inv = _ONE / (_ONE + v)
    sigmoid = inv if x >= _ZERO else v * inv
    return softplus, sigmoid


@_kernel(nogil=True, fastmath=FASTMATH)
def exp_array(x, out):
    """`_exp` over a flat array (for the accuracy test)."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


@_kernel(nogil=True, fastmath=FASTMATH)
def softplus_sigmoid_array(x, softplus, sigmoid):
    """`_softplus_sigmoid` over a flat array (for the accuracy test)."""
    for i in range(x.shape[0]):
        softplus[i], sigmoid[i] = _softplus_sigmoid(x[i])


@_kernel(nogil=True, parallel=True, fastmath=FASTMATH)
def conv_forward(xz, conv_w, conv_b, mask, u, item_lo, item_hi):
    """u = silu(causal depthwise conv(x) + bias) * mask, x = xz[:, :, :K]; items (b, k)."""
    _, seq_len, n_blocks, _ = u.shape
    width = conv_w.shape[0]
    # scratch (one set, see the module doc), allocated here so numba passes it to the loop body
    # as noalias arguments (LLVM vectorises nothing it cannot prove alias-free)
    acc = np.empty((1, WIDTH), np.float32)
    for it in prange(1):
        for item in range(item_lo, item_hi):
            b = item // n_blocks
            k = item % n_blocks
            for t in range(seq_len):
                for j in range(WIDTH):
                    acc[it, j] = conv_b[k, j]
                for i in range(max(0, width - 1 - t), width):
                    s = t - width + 1 + i
                    for j in range(WIDTH):
                        acc[it, j] += conv_w[i, k, j] * xz[b, s, k, j]
                m = mask[b, t]
                for j in range(WIDTH):
                    v = acc[it, j]
                    u[b, t, k, j] = v / (_ONE + _exp(-v)) * m


@_kernel(nogil=True, parallel=True, fastmath=FASTMATH)
def conv_backward(xz, conv_w, conv_b, mask, du, dxz, d_conv_w, d_conv_b, item_lo, item_hi):
    """Gradients of `conv_forward`; items (b, k). Writes dxz[:, :, :K]; d_conv_w (B, KW, K, W)
    and d_conv_b (B, K, W) get per-batch-row sums for the caller to add up."""
    _, seq_len, n_blocks, _ = du.shape
    width = conv_w.shape[0]
    # scratch (one set, see the module doc), allocated here so numba passes it to the loop body
    # as noalias arguments (LLVM vectorises nothing it cannot prove alias-free)
    dpre = np.zeros((1, seq_len + width - 1, WIDTH), np.float32)  # zero tail: none after L
    acc = np.empty((1, WIDTH), np.float32)
    dw = np.zeros((1, width, WIDTH), np.float32)
    db = np.zeros((1, WIDTH), np.float32)
    for it in prange(1):
        for item in range(item_lo, item_hi):
            # dw and db sum per item; dpre is rewritten below L and stays zero after it
            dw[it] = _ZERO
            db[it] = _ZERO
            b = item // n_blocks
            k = item % n_blocks
            for t in range(seq_len):
                for j in range(WIDTH):
                    acc[it, j] = conv_b[k, j]
                for i in range(max(0, width - 1 - t), width):
                    s = t - width + 1 + i
                    for j in range(WIDTH):
                        acc[it, j] += conv_w[i, k, j] * xz[b, s, k, j]
                m = mask[b, t]
                for j in range(WIDTH):
                    v = acc[it, j]
                    sig = _ONE / (_ONE + _exp(-v))
                    g = du[b, t, k, j] * m * sig * (_ONE + v * (_ONE - sig))
                    dpre[it, t, j] = g
                    db[it, j] += g
                for i in range(max(0, width - 1 - t), width):
                    s = t - width + 1 + i
                    for j in range(WIDTH):
                        dw[it, i, j] += dpre[it, t, j] * xz[b, s, k, j]
            for t in range(seq_len):
                for j in range(WIDTH):
                    acc[it, j] = _ZERO
                for i in range(width):
                    s = t + width - 1 - i
                    for j in range(WIDTH):
                        acc[it, j] += conv_w[i, k, j] * dpre[it, s, j]
                for j in range(WIDTH):
                    dxz[b, t, k, j] = acc[it, j]
            for i in range(width):
                for j in range(WIDTH):
                    d_conv_w[b, i, k, j] = dw[it, i, j]
            for j in range(WIDTH):
                d_conv_b[b, k, j] = db[it, j]


@_kernel(nogil=True, parallel=True, fastmath=FASTMATH)
def scan_forward(
    u, x_dbl, w_dt, dt_bias, a, d_skip, xz, y, checkpoints, last_state, save, item_lo, item_hi
):
    """y = (C_t . h_t + D u_t) silu(z_t), h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t,
    dt_t = softplus(w_dt . dt_low_t + dt_bias); items (b, k).

    save & 1: store the state before every SEGMENT-th step in checkpoints (B, n_seg, N, K, W);
    save & 2: store the final state in last_state (B, N, K, W).
    """
    _, seq_len, n_blocks, lanes = u.shape  # lanes == WIDTH, unknown to LLVM: see module doc
    rank = w_dt.shape[0]
    n_state = a.shape[0]
    b_off = rank
    c_off = rank + n_state
    # scratch (one set, see the module doc), allocated here so numba passes it to the loop body
    # as noalias arguments (LLVM vectorises nothing it cannot prove alias-free)
    h = np.zeros((1, n_state, WIDTH), np.float32)
    draw = np.empty((1, SEGMENT, WIDTH), np.float32)
    dl = np.empty((1, WIDTH), np.float32)
    dlu = np.empty((1, WIDTH), np.float32)
    acc = np.empty((1, WIDTH), np.float32)
    for it in prange(1):
        for item in range(item_lo, item_hi):
            h[it] = _ZERO
            b = item // n_blocks
            k = item % n_blocks
            kz = n_blocks + k
            for t in range(seq_len):
                if (save & 1) and t % SEGMENT == 0:
                    seg = t // SEGMENT
                    for n in range(n_state):
                        for j in range(WIDTH):
                            checkpoints[b, seg, n, k, j] = h[it, n, j]
                i = t % SEGMENT
                if i == 0:  # dt before softplus for the next SEGMENT steps (r outermost vectorises)
                    steps = min(SEGMENT, seq_len - t)
                    for ii in range(steps):
                        for j in range(WIDTH):
                            draw[it, ii, j] = dt_bias[k, j]
                    for r in range(rank):
                        for ii in range(steps):
                            xr = x_dbl[b, t + ii, r]
                            for j in range(lanes):
                                draw[it, ii, j] += xr * w_dt[r, k, j]
                for j in range(WIDTH):
                    sp, _ = _softplus_sigmoid(draw[it, i, j])
                    dl[it, j] = sp
                    dlu[it, j] = sp * u[b, t, k, j]
                    acc[it, j] = _ZERO
                for n in range(n_state):
                    bn = x_dbl[b, t, b_off + n]
                    cn = x_dbl[b, t, c_off + n]
                    for j in range(WIDTH):
                        hn = _exp(dl[it, j] * a[n, k, j]) * h[it, n, j] + dlu[it, j] * bn
                        h[it, n, j] = hn
                        acc[it, j] += hn * cn
                for j in range(WIDTH):
                    z = xz[b, t, kz, j]
                    ys = acc[it, j] + d_skip[k, j] * u[b, t, k, j]
                    y[b, t, k, j] = ys * (z / (_ONE + _exp(-z)))
            if save & 2:
                for n in range(n_state):
                    for j in range(WIDTH):
                        last_state[b, n, k, j] = h[it, n, j]


@_kernel(nogil=True, parallel=True, fastmath=FASTMATH)
def scan_backward(
    u,
    x_dbl,
    w_dt,
    dt_bias,
    a,
    d_skip,
    xz,
    checkpoints,
    dy,
    n_groups,
    du,
    dxz,
    d_x_dbl,
    d_w_dt,
    d_dt_bias,
    d_a,
    d_d_skip,
    item_lo,
    item_hi,
):
    """Gradients of `scan_forward` (without a final state).

    Items are (batch row b, channel group g). Written: du, dxz[:, :, K:] (the gate).
    Partial sums for the caller to add up: d_x_dbl (B, G, L, R + 2N) sums over the group's
    channels; d_w_dt (B, G, R, K, W), d_dt_bias, d_d_skip (B, G, K, W) and d_a (B, G, N, K, W)
    over the batch row's tokens (entries of other groups' channels are left untouched).
    """
    _, seq_len, n_blocks, lanes = u.shape  # lanes == WIDTH, unknown to LLVM: see module doc
    rank = w_dt.shape[0]
    n_state = a.shape[0]
    b_off = rank
    c_off = rank + n_state
    per_group = (n_blocks + n_groups - 1) // n_groups
    n_seg = (seq_len + SEGMENT - 1) // SEGMENT
    # scratch (one set, see the module doc), allocated here so numba passes it to the loop body
    # as noalias arguments (LLVM vectorises nothing it cannot prove alias-free)
    hs = np.empty((1, SEGMENT + 1, n_state, WIDTH), np.float32)
    decay = np.empty((1, SEGMENT, n_state, WIDTH), np.float32)
    dl_seg = np.empty((1, SEGMENT, WIDTH), np.float32)
    sg_seg = np.empty((1, SEGMENT, WIDTH), np.float32)
    ys_seg = np.empty((1, SEGMENT, WIDTH), np.float32)
    h_run = np.empty((1, n_state, WIDTH), np.float32)
    # dL/d(dt_low, B, C) summed over this item's channels block by block, one array each: two
    # rows of one array at a runtime distance would stop LLVM vectorising
    acc_r = np.empty((1, SEGMENT, rank, WIDTH), np.float32)
    acc_b = np.empty((1, SEGMENT, n_state, WIDTH), np.float32)
    acc_c = np.empty((1, SEGMENT, n_state, WIDTH), np.float32)
    draw = np.empty((1, SEGMENT, WIDTH), np.float32)
    dlu = np.empty((1, WIDTH), np.float32)
    dyy = np.empty((1, WIDTH), np.float32)
    duu = np.empty((1, WIDTH), np.float32)
    ddl = np.empty((1, WIDTH), np.float32)
    # per-block accumulators that live across segments
    dh = np.zeros((1, per_group, n_state, WIDTH), np.float32)
    da = np.zeros((1, per_group, n_state, WIDTH), np.float32)
    dwdt = np.zeros((1, per_group, rank, WIDTH), np.float32)
    dbias = np.zeros((1, per_group, WIDTH), np.float32)
    dd = np.zeros((1, per_group, WIDTH), np.float32)
    for it in prange(1):
        for item in range(item_lo, item_hi):
            dh[it] = _ZERO
            da[it] = _ZERO
            dwdt[it] = _ZERO
            dbias[it] = _ZERO
            dd[it] = _ZERO
            b = item // n_groups
            g = item % n_groups
            k_lo = min(n_blocks, g * per_group)
            k_hi = min(n_blocks, k_lo + per_group)
            n_mine = k_hi - k_lo
            for seg in range(n_seg - 1, -1, -1):
                t0 = seg * SEGMENT
                steps = min(SEGMENT, seq_len - t0)
                acc_r[it] = _ZERO
                acc_b[it] = _ZERO
                acc_c[it] = _ZERO
                for kk in range(n_mine):
                    k = k_lo + kk
                    kz = n_blocks + k
                    # 1. recompute this segment's dt and states from its checkpoint
                    for n in range(n_state):
                        for j in range(WIDTH):
                            h_run[it, n, j] = checkpoints[b, seg, n, k, j]
                            hs[it, 0, n, j] = checkpoints[b, seg, n, k, j]
                    for i in range(steps):
                        for j in range(WIDTH):
                            draw[it, i, j] = dt_bias[k, j]
                    for r in range(rank):
                        for i in range(steps):
                            xr = x_dbl[b, t0 + i, r]
                            for j in range(lanes):
                                draw[it, i, j] += xr * w_dt[r, k, j]
                    for i in range(steps):
                        t = t0 + i
                        for j in range(WIDTH):
                            sp, sg = _softplus_sigmoid(draw[it, i, j])
                            dl_seg[it, i, j] = sp
                            sg_seg[it, i, j] = sg
                            dlu[it, j] = sp * u[b, t, k, j]
                            ys_seg[it, i, j] = _ZERO
                        for n in range(n_state):
                            bn = x_dbl[b, t, b_off + n]
                            cn = x_dbl[b, t, c_off + n]
                            for j in range(WIDTH):
                                e = _exp(dl_seg[it, i, j] * a[n, k, j])
                                h = e * h_run[it, n, j] + dlu[it, j] * bn
                                decay[it, i, n, j] = e
                                h_run[it, n, j] = h
                                hs[it, i + 1, n, j] = h
                                ys_seg[it, i, j] += h * cn
                    # 2. reverse sweep over the segment
                    for i in range(steps - 1, -1, -1):
                        t = t0 + i
                        for j in range(WIDTH):
                            z = xz[b, t, kz, j]
                            uj = u[b, t, k, j]
                            go = dy[b, t, k, j]
                            sig = _ONE / (_ONE + _exp(-z))
                            y_ssm = ys_seg[it, i, j] + d_skip[k, j] * uj
                            dxz[b, t, kz, j] = go * y_ssm * sig * (_ONE + z * (_ONE - sig))
                            gy = go * z * sig
                            dyy[it, j] = gy
                            dd[it, kk, j] += gy * uj
                            duu[it, j] = gy * d_skip[k, j]
                            ddl[it, j] = _ZERO
                            dlu[it, j] = dl_seg[it, i, j] * uj
                        for n in range(n_state):
                            cn = x_dbl[b, t, c_off + n]
                            bn = x_dbl[b, t, b_off + n]
                            for j in range(WIDTH):
                                uj = u[b, t, k, j]
                                dht = dh[it, kk, n, j] + dyy[it, j] * cn
                                acc_c[it, i, n, j] += dyy[it, j] * hs[it, i + 1, n, j]
                                e = decay[it, i, n, j]
                                hpe = hs[it, i, n, j] * e
                                ddl[it, j] += dht * (hpe * a[n, k, j] + bn * uj)
                                da[it, kk, n, j] += dht * hpe * dl_seg[it, i, j]
                                duu[it, j] += dht * dl_seg[it, i, j] * bn
                                acc_b[it, i, n, j] += dht * dlu[it, j]
                                dh[it, kk, n, j] = dht * e
                        for j in range(WIDTH):
                            du[b, t, k, j] = duu[it, j]
                            graw = ddl[it, j] * sg_seg[it, i, j]
                            draw[it, i, j] = graw  # now d loss / d dt before softplus
                            dbias[it, kk, j] += graw
                    for r in range(rank):
                        for i in range(steps):
                            for j in range(lanes):
                                acc_r[it, i, r, j] += draw[it, i, j] * w_dt[r, k, j]
                    for i in range(steps):
                        for r in range(rank):
                            xr = x_dbl[b, t0 + i, r]
                            for j in range(lanes):
                                dwdt[it, kk, r, j] += draw[it, i, j] * xr
                for i in range(steps):
                    for r in range(rank):
                        s = _ZERO
                        for j in range(WIDTH):
                            s += acc_r[it, i, r, j]
                        d_x_dbl[b, g, t0 + i, r] = s
                    for n in range(n_state):
                        sb = _ZERO
                        sc = _ZERO
                        for j in range(WIDTH):
                            sb += acc_b[it, i, n, j]
                            sc += acc_c[it, i, n, j]
                        d_x_dbl[b, g, t0 + i, b_off + n] = sb
                        d_x_dbl[b, g, t0 + i, c_off + n] = sc
            for kk in range(n_mine):
                k = k_lo + kk
                for j in range(WIDTH):
                    d_dt_bias[b, g, k, j] = dbias[it, kk, j]
                    d_d_skip[b, g, k, j] = dd[it, kk, j]
                for r in range(rank):
                    for j in range(WIDTH):
                        d_w_dt[b, g, r, k, j] = dwdt[it, kk, r, j]
                for n in range(n_state):
                    for j in range(WIDTH):
                        d_a[b, g, n, k, j] = da[it, kk, n, j]
