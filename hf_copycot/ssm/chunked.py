"""Selective scan in plain PyTorch ops, for devices the numba kernels cannot serve (GPUs without
mamba-ssm, MPS, ...). Exact (no log-space tricks): sequential inside chunks of T steps, all chunks at
once, then a carry pass over the chunks, so the Python loop runs T + L / T times instead of L.
It materialises a few (B, L, D, N) tensors: cheap on a GPU, memory-bound on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def selective_scan_chunked(
    u: torch.Tensor,
    delta: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """y_t = C_t . h_t with h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t, h_0 = 0.

    u, delta: (B, L, D); a: (D, N); b, c: (B, L, N). Returns y (B, L, D) and h_L (B, D, N).
    """
    batch, seq_len, dim = u.shape
    n_state = a.shape[-1]
    chunk = chunk or max(1, math.isqrt(seq_len))
    n_chunks = -(-seq_len // chunk)
    pad = n_chunks * chunk - seq_len
    decay = torch.exp(delta[..., None] * a)  # (B, L, D, N)
    drive = (delta * u)[..., None] * b[:, :, None, :]
    if pad:  # padded steps keep the state: decay 1, drive 0
        decay = F.pad(decay, (0, 0, 0, 0, 0, pad), value=1.0)
        drive = F.pad(drive, (0, 0, 0, 0, 0, pad))
    decay = decay.view(batch, n_chunks, chunk, dim, n_state)
    drive = drive.view(batch, n_chunks, chunk, dim, n_state)
    h = torch.zeros_like(drive[:, :, 0])
    prod = torch.ones_like(h)
    local, prods = [], []
    for i in range(chunk):  # every chunk from a zero state
        h = decay[:, :, i] * h + drive[:, :, i]
        prod = prod * decay[:, :, i]
        local.append(h)
        prods.append(prod)
    carry = torch.zeros_like(h[:, 0])
    starts = []
    for j in range(n_chunks):  # the state entering each chunk
        starts.append(carry)
        carry = local[-1][:, j] + prods[-1][:, j] * carry
    states = torch.stack(local, 2) + torch.stack(prods, 2) * torch.stack(starts, 1)[:, :, None]
    states = states.view(batch, n_chunks * chunk, dim, n_state)[:, :seq_len]
    y = (states * c[:, :, None, :]).sum(-1)
    return y, carry


def chunked_mixer_inner(
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
    """Same contract as `numba_mixer_inner`, in differentiable torch ops on any device."""
    dim = xz.shape[-1] // 2
    rank, n_state = dt_proj_w.shape[1], a_log.shape[1]
    x, z = xz.float().split(dim, dim=-1)
    seq_len = x.shape[1]
    pre = F.conv1d(
        x.transpose(1, 2),
        conv_w.float(),
        None if conv_b is None else conv_b.float(),
        padding=conv_w.shape[-1] - 1,
        groups=dim,
    )[..., :seq_len]
    u = F.silu(pre).transpose(1, 2)
    if mask is not None:
        u = u * mask[:, :, None].to(u.dtype)
    dt_low, b, c = (u @ x_proj_w.float().t()).split([rank, n_state, n_state], dim=-1)
    delta = F.softplus(dt_low @ dt_proj_w.float().t() + dt_proj_b.float())
    y, last = selective_scan_chunked(u, delta, -torch.exp(a_log.float()), b, c)
    y = (y + u * d_skip.float()) * F.silu(z)
    return y, (last if return_last_state else None)
