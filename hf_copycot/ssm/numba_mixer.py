"""The inner part of a Mamba mixer (conv, x_proj, dt_proj, scan, D skip, gate) on the CPU kernels.

One autograd.Function from the in_proj output `xz` to the gated scan output `y` (the input of
out_proj): the kernels in `numba_kernels` do the element-wise and sequential work, torch's BLAS
the one matmul that mixes channels (x_proj). Saved for the backward: xz, u = conv output, x_dbl and
state checkpoints every SEGMENT steps (1/SEGMENT of the (B, L, D, N) state tensor).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import torch

from . import numba_kernels as kernels
from .omp_team import run_on_torch_team

WIDTH = kernels.WIDTH
# The backward's work items are (batch row, channel group) with enough groups for at least this
# many items. A constant, not the thread count, so that the partial sums (one per item, added up
# in a fixed order) and hence the gradients are bit for bit the same for any number of threads.
BACKWARD_ITEMS = 64
# Split kernels over torch's own OpenMP threads where torch runs on GNU OpenMP (omp_team.py);
# False: always our own thread pool (a test compares the two).
use_torch_team = True
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_this_thread = threading.local()
_numba_started = False


def _threads() -> int:
    """As many threads as torch uses: torch.set_num_threads is the one knob."""
    return max(1, torch.get_num_threads())


def _start_numba_threads() -> None:
    """Start numba's thread layer once, keeping torch's thread count.

    numba starts its OpenMP threads on first use, and that resets the OpenMP thread count torch
    uses to all cores (torch 2.13, numba 0.68): a `torch.set_num_threads(1)` made before (one per
    process under DDP, say) would silently stop holding.
    """
    global _numba_started
    with _pool_lock:
        if not _numba_started:
            threads = torch.get_num_threads()
            numba.get_num_threads()  # starts the layer
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            _numba_started = True


def _run_on_this_thread(kernel, args, lo: int, hi: int) -> None:
    if not getattr(_this_thread, "single", False):  # set_num_threads costs ~1 ms a call
        numba.set_num_threads(1)  # thread-local: the kernel's prange runs on the calling thread
        _this_thread.single = True
    kernel(*args, lo, hi)


def _launch(kernel, n_items: int, *args) -> None:
    """Run `kernel(*args, lo, hi)` over item ranges split across `_threads()` threads.

    The kernels release the GIL. They are compiled parallel=True only for what numba then knows
    (their scratch arrays reach the loop body as noalias arguments, which LLVM needs to vectorise)
    and run with one numba thread each, on torch's own OpenMP threads where possible
    (`omp_team`), else on this pool: numba's OpenMP pool and torch's spin-wait against each other
    (measured: AdamW steps 100x slower after a kernel), and numba's workqueue layer aborts on
    concurrent calls (e.g. a Space serving two users).
    """
    global _pool
    if not _numba_started:
        _start_numba_threads()
    n_threads = min(_threads(), n_items)
    if n_threads <= 1:
        _run_on_this_thread(kernel, args, 0, n_items)
        return
    if use_torch_team and run_on_torch_team(kernel, n_items, args, n_threads):
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="copycot-scan")
    bounds = [n_items * i // n_threads for i in range(n_threads + 1)]
    futures = [
        _pool.submit(_run_on_this_thread, kernel, args, bounds[i], bounds[i + 1])
        for i in range(1, n_threads)
    ]
    _run_on_this_thread(kernel, args, bounds[0], bounds[1])
    for future in futures:
        future.result()


def _blocks(t: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D / W, W) numpy view, the layout the kernels index."""
    return t.detach().reshape(*t.shape[:-1], t.shape[-1] // WIDTH, WIDTH).numpy()


def _pad_channels(t: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad the last dim to `width` (padded channels stay exactly zero through the mixer)."""
    if t.shape[-1] == width:
        return t.contiguous()
    return torch.nn.functional.pad(t, (0, width - t.shape[-1])).contiguous()


def _padded_xz(xz: torch.Tensor, dim: int, dim_p: int) -> torch.Tensor:
    if dim == dim_p:
        return xz.contiguous()
    x, z = xz.split(dim, dim=-1)
    return torch.cat([_pad_channels(x, dim_p), _pad_channels(z, dim_p)], dim=-1)


class _Params:
    """The mixer's float32 parameters in the kernels' layout, channel dim padded to dim_p."""

    def __init__(self, conv_w, conv_b, x_proj_w, dt_proj_w, dt_proj_b, a_log, d_skip, dim_p):
        self.x_proj_w = _pad_channels(x_proj_w, dim_p)  # (R + 2N, Dp)
        self.conv_w = _pad_channels(conv_w[:, 0, :].t(), dim_p)  # (KW, Dp)
        self.conv_b = _pad_channels(conv_b, dim_p)
        self.w_dt = _pad_channels(dt_proj_w.t(), dim_p)  # (R, Dp)
        self.dt_b = _pad_channels(dt_proj_b, dim_p)
        self.a = _pad_channels(-torch.exp(a_log).t(), dim_p)  # (N, Dp)
        self.d_skip = _pad_channels(d_skip, dim_p)


def _forward(xz, p: _Params, mask, dim_p, save_checkpoints, want_last_state):
    batch, seq_len, _ = xz.shape
    n_state = p.a.shape[0]
    n_blocks = dim_p // WIDTH
    u = torch.empty(batch, seq_len, dim_p)
    _launch(
        kernels.conv_forward,
        batch * n_blocks,
        _blocks(xz),
        _blocks(p.conv_w),
        _blocks(p.conv_b),
        mask.numpy(),
        _blocks(u),
    )
    x_dbl = (u.view(-1, dim_p) @ p.x_proj_w.t()).view(batch, seq_len, -1)
    y = torch.empty(batch, seq_len, dim_p)
    n_seg = -(-seq_len // kernels.SEGMENT)
    checkpoints = torch.empty(
        (batch, n_seg, n_state, dim_p) if save_checkpoints else (1, 1, 1, WIDTH)
    )
    last_state = torch.empty((batch, n_state, dim_p) if want_last_state else (1, 1, WIDTH))
    _launch(
        kernels.scan_forward,
        batch * n_blocks,
        _blocks(u),
        x_dbl.numpy(),
        _blocks(p.w_dt),
        _blocks(p.dt_b),
        _blocks(p.a),
        _blocks(p.d_skip),
        _blocks(xz),
        _blocks(y),
        _blocks(checkpoints),
        _blocks(last_state),
        int(save_checkpoints) | (2 * int(want_last_state)),
    )
    return u, x_dbl, y, checkpoints, last_state


class NumbaMambaInner(torch.autograd.Function):
    """xz (B, L, 2D) -> (gated scan output (B, L, D), final state (B, D, N) or an empty tensor).

    The final state (for a generation cache) is not differentiable.
    """

    @staticmethod
    def forward(
        ctx, xz, conv_w, conv_b, x_proj_w, dt_proj_w, dt_proj_b, a_log, d_skip, mask, want_last
    ):
        dim = xz.shape[-1] // 2
        dim_p = -(-dim // WIDTH) * WIDTH
        p = _Params(conv_w, conv_b, x_proj_w, dt_proj_w, dt_proj_b, a_log, d_skip, dim_p)
        xz_p = _padded_xz(xz.detach(), dim, dim_p)
        u, x_dbl, y, checkpoints, last = _forward(xz_p, p, mask, dim_p, True, want_last)
        ctx.save_for_backward(xz_p, u, x_dbl, checkpoints, mask)
        ctx.params = p
        ctx.dims = (dim, dim_p)
        last = last[..., :dim].transpose(1, 2) if want_last else xz.new_empty(0)
        ctx.mark_non_differentiable(last)
        return (y[..., :dim] if dim != dim_p else y), last

    @staticmethod
    def backward(ctx, dy, _d_last):
        xz, u, x_dbl, checkpoints, mask = ctx.saved_tensors
        p: _Params = ctx.params
        dim, dim_p = ctx.dims
        batch, seq_len, _ = xz.shape
        rank, n_state = p.w_dt.shape[0], p.a.shape[0]
        n_blocks = dim_p // WIDTH
        n_groups = max(1, min(n_blocks, -(-BACKWARD_ITEMS // batch)))
        dy = _pad_channels(dy.float(), dim_p)
        du = torch.empty(batch, seq_len, dim_p)
        dxz = torch.empty(batch, seq_len, 2 * dim_p)
        d_x_dbl = torch.empty(batch, n_groups, seq_len, rank + 2 * n_state)
        d_w_dt = torch.zeros(batch, n_groups, rank, dim_p)
        d_dt_b = torch.zeros(batch, n_groups, dim_p)
        d_a = torch.zeros(batch, n_groups, n_state, dim_p)
        d_d_skip = torch.zeros(batch, n_groups, dim_p)
        _launch(
            kernels.scan_backward,
            batch * n_groups,
            _blocks(u),
            x_dbl.numpy(),
            _blocks(p.w_dt),
            _blocks(p.dt_b),
            _blocks(p.a),
            _blocks(p.d_skip),
            _blocks(xz),
            _blocks(checkpoints),
            _blocks(dy),
            n_groups,
            _blocks(du),
            _blocks(dxz),
            d_x_dbl.numpy(),
            _blocks(d_w_dt),
            _blocks(d_dt_b),
            _blocks(d_a),
            _blocks(d_d_skip),
        )
        d_x_dbl = d_x_dbl.sum(1) if n_groups > 1 else d_x_dbl[:, 0]
        d_x_dbl = d_x_dbl.reshape(-1, rank + 2 * n_state)
        du2 = du.view(-1, dim_p)
        du2.addmm_(d_x_dbl, p.x_proj_w)
        d_x_proj_w = d_x_dbl.t() @ u.view(-1, dim_p)
        d_conv_w = torch.empty(batch, p.conv_w.shape[0], dim_p)
        d_conv_b = torch.empty(batch, dim_p)
        _launch(
            kernels.conv_backward,
            batch * n_blocks,
            _blocks(xz),
            _blocks(p.conv_w),
            _blocks(p.conv_b),
            mask.numpy(),
            _blocks(du),
            _blocks(dxz),
            _blocks(d_conv_w),
            _blocks(d_conv_b),
        )
        if dim != dim_p:
            dxz = torch.cat([dxz[..., :dim], dxz[..., dim_p : dim_p + dim]], dim=-1)
        d_a = d_a.sum((0, 1))[:, :dim].t() * (p.a[:, :dim].t())  # dL/dA_log = dL/dA * A
        return (
            dxz,
            d_conv_w.sum(0)[:, :dim].t().unsqueeze(1),
            d_conv_b.sum(0)[:dim],
            d_x_proj_w[:, :dim],
            d_w_dt.sum((0, 1))[:, :dim].t(),
            d_dt_b.sum((0, 1))[:dim],
            d_a,
            d_d_skip.sum((0, 1))[:dim],
            None,
            None,
        )


def numba_mixer_inner(
    xz: torch.Tensor,
    conv_w: torch.Tensor,
    conv_b: torch.Tensor | None,
    x_proj_w: torch.Tensor,
    dt_proj_w: torch.Tensor,
    dt_proj_b: torch.Tensor,
    a_log: torch.Tensor,
    d_skip: torch.Tensor,
    mask: torch.Tensor | None,
    return_last_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gated scan output (B, L, D) in float32 and, if asked, the final state (B, D, N).

    Differentiable w.r.t. xz and every parameter (not through the final state, which only fills a
    generation cache). conv_b None means a conv without bias.
    """
    dim = xz.shape[-1] // 2
    if conv_b is None:
        conv_b = conv_w.new_zeros(dim)
    params = (conv_w, conv_b, x_proj_w, dt_proj_w, dt_proj_b, a_log, d_skip)
    params = tuple(t.float() for t in params)
    xz = xz.float()
    batch, seq_len, _ = xz.shape
    mask = (
        torch.ones(batch, seq_len)
        if mask is None
        else mask.to(dtype=torch.float32, device="cpu").contiguous()
    )
    if torch.is_grad_enabled() and any(t.requires_grad for t in (xz, *params)):
        y, last = NumbaMambaInner.apply(xz, *params, mask, return_last_state)
        return y, (last if return_last_state else None)
    dim_p = -(-dim // WIDTH) * WIDTH
    with torch.no_grad():
        p = _Params(*params, dim_p)
        xz_p = _padded_xz(xz, dim, dim_p)
        _, _, y, _, last = _forward(xz_p, p, mask, dim_p, False, return_last_state)
    y = y[..., :dim] if dim != dim_p else y
    last = last[..., :dim].transpose(1, 2) if return_last_state else None
    return y, last
