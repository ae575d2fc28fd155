"""Mamba's one-token decoding step on the CPU, fused, with the state updated in place.

transformers' step for a new token runs, per layer, a dozen small torch ops and two Python
fallbacks (causal_conv1d_update, selective_state_update); for the small models this project trains
that is all overhead: a layer's arithmetic is ~0.1 MFLOP, a few microseconds. Two levels here:

- `mixer_step`: one mixer (conv window shift and dot, x_proj, dt_proj, softplus, state update,
  D skip, silu gate) in one kernel, between the module's own in_proj and out_proj. Used when a
  mixer decodes on its own (`FastMambaMixer`) and for models too large for the next level.
- `backbone_step`: the whole backbone (per layer: RMSNorm, in_proj, the mixer row above, out_proj,
  residual; then the final norm) in one kernel call per token. It reads a float32 copy of the
  weights in the layouts the kernel wants (`BackbonePack`: matrices transposed so every product is
  a vectorised axpy along contiguous memory), rebuilt whenever a parameter changes.

Both update transformers' own cache tensors in place (conv window (B, D, K), SSM state (B, D, N)),
so the cache stays a plain transformers cache holding the values transformers' step would leave,
within float32 rounding: sums run in a different order, and exp / softplus are the kernels'
(`numba_kernels`, within a few float32 epsilons).

Batch rows are independent through the whole step: rows are split across threads (the pool of
`numba_mixer`) when there is enough work, and any split gives the same bits.
"""

from __future__ import annotations

import operator
import weakref

import numpy as np
import torch

from .numba_kernels import _ONE, _ZERO, FASTMATH, _exp, _kernel, _softplus_sigmoid
from .numba_mixer import _launch, _run_on_this_thread

# Multiply-adds per thread below which splitting batch rows over threads costs more than it saves
# (a pool round trip is tens of microseconds; a row of mamba-small is ~1 M multiply-adds).
MIN_WORK_PER_THREAD = 1_000_000
# Above this many bytes of packed weights the whole-backbone step is not used: its copy of the
# weights would cost real memory, and per-token arithmetic then dwarfs the Python overhead it saves
# (the per-layer step runs instead, between torch's own in_proj and out_proj).
MAX_PACK_BYTES = 256 * 2**20


@_kernel(inline="always", fastmath=FASTMATH)
def _matvec_t(x, wt, out):
    """out = x @ wt for wt (I, O): axpys along contiguous rows of wt, four inputs at a time (a
    quarter of the loads and stores of `out` that one at a time would cost), vectorised along O."""
    n_in, n_out = wt.shape
    for o in range(n_out):
        out[o] = _ZERO
    full = n_in - n_in % 4
    for i in range(0, full, 4):
        x0 = x[i]
        x1 = x[i + 1]
        x2 = x[i + 2]
        x3 = x[i + 3]
        for o in range(n_out):
            out[o] += (x0 * wt[i, o] + x1 * wt[i + 1, o]) + (x2 * wt[i + 2, o] + x3 * wt[i + 3, o])
    for i in range(full, n_in):
        xi = x[i]
        for o in range(n_out):
            out[o] += xi * wt[i, o]


@_kernel(inline="always", fastmath=FASTMATH)
def _mixer_row(
    xz, m, conv_w, conv_b, xp_wt, dt_wt, dt_b, a, d_skip, conv_state, ssm_state, u, x_dbl, dt, hc, y
):
    """One row of a mixer's step: xz (2D,) = [x | z] -> y (D,); states (D, K), (D, N) in place.

    m is the row's padding mask (1 or 0), applied to the conv output as transformers does.
    Scratch: u (D,), x_dbl (R + 2N,), dt (D,), hc (D, N). Loops are split so that each either
    vectorises (contiguous, no reduction) or is short.
    """
    dim, width = conv_state.shape
    rank = dt_wt.shape[0]
    n_state = a.shape[1]
    for d in range(dim):  # conv window: shift left, append x, dot with the kernel
        acc = conv_b[d]
        for i in range(width - 1):
            v = conv_state[d, i + 1]
            conv_state[d, i] = v
            acc += conv_w[d, i] * v
        x = xz[d]
        conv_state[d, width - 1] = x
        u[d] = acc + conv_w[d, width - 1] * x
    for d in range(dim):
        v = u[d]
        u[d] = v / (_ONE + _exp(-v)) * m
    _matvec_t(u, xp_wt, x_dbl)  # x_dbl = x_proj(u) = [dt_low | B | C]
    _matvec_t(x_dbl[:rank], dt_wt, dt)  # dt = softplus(dt_proj(dt_low) + bias)
    for d in range(dim):
        dt[d], _ = _softplus_sigmoid(dt[d] + dt_b[d])
    for d in range(dim):  # h = exp(dt A) h + dt u B, hc = h C (vectorised over n)
        dd = dt[d]
        du = dd * u[d]
        for n in range(n_state):
            h = _exp(dd * a[d, n]) * ssm_state[d, n] + du * x_dbl[rank + n]
            ssm_state[d, n] = h
            hc[d, n] = h * x_dbl[rank + n_state + n]
    for d in range(dim):  # y = (sum_n hc + D u) silu(z); sums run across channels, no chain
        y[d] = d_skip[d] * u[d]
    for n in range(n_state):
        for d in range(dim):
            y[d] += hc[d, n]
    for d in range(dim):
        z = xz[dim + d]
        y[d] *= z / (_ONE + _exp(-z))


@_kernel(nogil=True, fastmath=FASTMATH)
def mixer_step(
    xz, mask, conv_w, conv_b, xp_wt, dt_wt, dt_b, a, d_skip, conv_state, ssm_state, y, lo, hi
):
    """`_mixer_row` for batch rows lo..hi: xz (B, 2D), mask (B,), states (B, D, K), (B, D, N)."""
    dim = conv_state.shape[1]
    u = np.empty(dim, np.float32)
    x_dbl = np.empty(xp_wt.shape[1], np.float32)
    dt = np.empty(dim, np.float32)
    hc = np.empty(a.shape, np.float32)
    for b in range(lo, hi):
        _mixer_row(
            xz[b], mask[b], conv_w, conv_b, xp_wt, dt_wt, dt_b, a, d_skip,
            conv_state[b], ssm_state[b], u, x_dbl, dt, hc, y[b],
        )  # fmt: skip


@_kernel(inline="always", fastmath=FASTMATH)
def _rms_norm(x, weight, eps, out):
    """out = weight * x / sqrt(mean(x^2) + eps) (MambaRMSNorm in float32)."""
    n = x.shape[0]
    ss = _ZERO
    for i in range(n):
        ss += x[i] * x[i]
    scale = _ONE / np.sqrt(ss / np.float32(n) + eps)
    for i in range(n):
        out[i] = weight[i] * (x[i] * scale)


@_kernel(inline="always", fastmath=FASTMATH)
def _affine(x, wt, bias, out):
    """out = x @ wt + bias for wt (I, O)."""
    _matvec_t(x, wt, out)
    for o in range(out.shape[0]):
        out[o] += bias[o]


@_kernel(nogil=True, fastmath=FASTMATH)
def backbone_step(
    hidden,
    mask,
    norm_w,
    eps,
    in_wt,
    in_b,
    conv_w,
    conv_b,
    xp_wt,
    dt_wt,
    dt_b,
    a,
    d_skip,
    out_wt,
    out_b,
    norm_f_w,
    eps_f,
    conv_states,
    ssm_states,
    out,
    lo,
    hi,
):
    """Every layer of a MambaModel for one token, batch rows lo..hi.

    hidden (B, H): the embeddings in; out (B, H): the final norm's output. mask (B,): padding mask
    of this token. Weights stacked over layers (L, ...); conv_states / ssm_states: tuples of the
    cache's per-layer (B, D, K) / (B, D, N) tensors, updated in place.
    """
    n_layers, n_hidden, two_dim = in_wt.shape
    dim = two_dim // 2
    res = np.empty(n_hidden, np.float32)
    normed = np.empty(n_hidden, np.float32)
    mixed = np.empty(n_hidden, np.float32)
    xz = np.empty(two_dim, np.float32)
    u = np.empty(dim, np.float32)
    x_dbl = np.empty(xp_wt.shape[2], np.float32)
    dt = np.empty(dim, np.float32)
    hc = np.empty(a.shape[1:], np.float32)
    y = np.empty(dim, np.float32)
    for b in range(lo, hi):
        m = mask[b]
        for i in range(n_hidden):
            res[i] = hidden[b, i]
        for layer in range(n_layers):
            _rms_norm(res, norm_w[layer], eps[layer], normed)
            for i in range(n_hidden):
                normed[i] *= m
            _affine(normed, in_wt[layer], in_b[layer], xz)
            _mixer_row(
                xz, m, conv_w[layer], conv_b[layer], xp_wt[layer], dt_wt[layer], dt_b[layer],
                a[layer], d_skip[layer], conv_states[layer][b], ssm_states[layer][b],
                u, x_dbl, dt, hc, y,
            )  # fmt: skip
            _affine(y, out_wt[layer], out_b[layer], mixed)
            for i in range(n_hidden):
                res[i] += mixed[i]
        _rms_norm(res, norm_f_w, eps_f, out[b])


def run_rows(kernel, batch: int, work_per_row: int, *args) -> None:
    """`kernel(*args, lo, hi)` over batch rows, split across threads only when it pays."""
    if batch * work_per_row < 2 * MIN_WORK_PER_THREAD:
        _run_on_this_thread(kernel, args, 0, batch)
    else:
        _launch(kernel, batch, *args)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


_version = operator.attrgetter("_version")


def _weights_key(params: list[torch.Tensor]) -> tuple[list[int], list[int]]:
    """What changes when a parameter's data is replaced (data_ptr) or written in place (_version).

    Checked at every step: a few microseconds for a hundred parameters (map, no Python loop).
    """
    return list(map(torch.Tensor.data_ptr, params)), list(map(_version, params))


def _mixer_params(mixer: torch.nn.Module) -> list[torch.Tensor]:
    params = [mixer.conv1d.weight, mixer.x_proj.weight, mixer.dt_proj.weight, mixer.dt_proj.bias]
    params += [mixer.A_log, mixer.D]
    return params if mixer.conv1d.bias is None else [*params, mixer.conv1d.bias]


def float32_on_cpu(tensors: list[torch.Tensor | None]) -> bool:
    """What the kernels take (None entries, absent biases, pass)."""
    return all(t is None or (t.dtype == torch.float32 and t.device.type == "cpu") for t in tensors)


def _bias(linear: torch.nn.Linear) -> torch.Tensor:
    if linear.bias is not None:
        return linear.bias
    return linear.weight.new_zeros(linear.weight.shape[0])


def mixer_tensors(mixer: torch.nn.Module) -> list[torch.Tensor]:
    """A mixer's step parameters in `_mixer_row`'s layouts and argument order (float32)."""
    conv_b = mixer.conv1d.bias
    return [
        mixer.conv1d.weight[:, 0, :],  # (D, K)
        conv_b if conv_b is not None else mixer.D.new_zeros(mixer.intermediate_size),
        mixer.x_proj.weight.t(),  # (D, R + 2N)
        mixer.dt_proj.weight.t(),  # (R, D)
        mixer.dt_proj.bias,
        -torch.exp(mixer.A_log.float()),  # (D, N)
        mixer.D,
    ]


class _Pack:
    """Arrays derived from a module's parameters, valid while `params` are unchanged."""

    def __init__(self, params: list[torch.Tensor], arrays: tuple):
        self.params = params
        self.key = _weights_key(params)
        self.arrays = arrays

    def fresh(self, params: list[torch.Tensor] | None = None) -> bool:
        """Still valid: same parameter objects (when given) holding the same data."""
        if params is not None and (
            len(params) != len(self.params)
            or any(a is not b for a, b in zip(params, self.params, strict=True))
        ):
            return False
        return _weights_key(self.params) == self.key


# Packs by module, weakly: a pack dies with its model and is never saved or deep-copied with it.
_packs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forget(module: torch.nn.Module) -> None:
    """Drop the pack of `module`'s weights; its next decoding step packs them afresh.

    Called before every forward that records a graph (mamba_scan): an optimizer step follows it,
    and a fused optimizer (torch's fused AdamW) writes parameters without bumping the version
    counters `_Pack.fresh` checks.
    """
    _packs.pop(module, None)


def _contiguous_arrays(tensors) -> tuple:
    with torch.no_grad():
        return tuple(t.detach().float().contiguous().numpy() for t in tensors)


def mixer_pack(mixer: torch.nn.Module) -> _Pack:
    """The mixer's step parameters for `mixer_step`, rebuilt when a parameter changes."""
    params = _mixer_params(mixer)
    pack = _packs.get(mixer)
    if pack is None or not pack.fresh(params):
        pack = _Pack(params, _contiguous_arrays(mixer_tensors(mixer)))
        _packs[mixer] = pack
    return pack


def mixer_decode(
    mixer: torch.nn.Module,
    hidden: torch.Tensor,
    mask: torch.Tensor,
    conv_state: torch.Tensor,
    ssm_state: torch.Tensor,
) -> torch.Tensor | None:
    """One token through a mixer: its input (B, H) -> its output (B, H), torch's in_proj and
    out_proj around `mixer_step`.

    conv_state (B, D, K) and ssm_state (B, D, N) (the cache's tensors) are updated in place;
    mask (B,) float32. None (nothing done) unless weights, input and states are float32 on the
    CPU and the states contiguous.
    """
    states = (conv_state, ssm_state)
    if not float32_on_cpu([hidden, *states, *_mixer_params(mixer)]):
        return None
    if not (conv_state.is_contiguous() and ssm_state.is_contiguous()):
        return None
    batch = hidden.shape[0]
    xz = mixer.in_proj(hidden * mask[:, None]).contiguous()
    y = torch.empty(batch, mixer.intermediate_size)
    work = mixer.intermediate_size * (3 * mixer.ssm_state_size + 2 * mixer.time_step_rank + 8)
    arrays = (*mixer_pack(mixer).arrays, _np(conv_state), _np(ssm_state), _np(y))
    run_rows(mixer_step, batch, work, _np(xz), _np(mask), *arrays)
    return mixer.out_proj(y)


class BackbonePack(_Pack):
    """A MambaModel's weights in `backbone_step`'s layouts, stacked over layers (a float32 copy)."""

    def __init__(self, backbone: torch.nn.Module):
        blocks = list(backbone.layers)
        mixers = [block.mixer for block in blocks]
        per_layer = [mixer_tensors(mixer) for mixer in mixers]

        def stacked(tensors) -> torch.Tensor:
            return torch.stack([t.detach().float() for t in tensors])

        arrays = _contiguous_arrays(
            [
                stacked([block.norm.weight for block in blocks]),
                torch.tensor([block.norm.variance_epsilon for block in blocks]),
                stacked([m.in_proj.weight.t() for m in mixers]),
                stacked([_bias(m.in_proj) for m in mixers]),
                *(stacked(column) for column in zip(*per_layer, strict=True)),
                stacked([m.out_proj.weight.t() for m in mixers]),
                stacked([_bias(m.out_proj) for m in mixers]),
                backbone.norm_f.weight,
            ]
        )
        super().__init__(
            list(backbone.parameters()), (*arrays, np.float32(backbone.norm_f.variance_epsilon))
        )
        self.layer_ids = [m.layer_idx for m in mixers]
        m = mixers[0]
        self.shapes = (m.intermediate_size, m.conv_kernel_size, m.ssm_state_size)
        self.work_per_row = len(mixers) * (
            3 * m.hidden_size * m.intermediate_size
            + m.intermediate_size * (3 * m.time_step_rank + 6 * m.ssm_state_size + 8)
        )
        self.checked_cache = None  # weakref to the cache the parameter objects were checked for

    @staticmethod
    def fits(backbone: torch.nn.Module) -> bool:
        """Float32 on the CPU and small enough for a copy (`MAX_PACK_BYTES`)."""
        params = list(backbone.parameters())
        return float32_on_cpu(params) and 4 * sum(p.numel() for p in params) <= MAX_PACK_BYTES


def backbone_pack(backbone: torch.nn.Module, cache: object) -> BackbonePack | None:
    """The backbone's pack, rebuilt when a parameter changed; None when it should not be packed.

    Parameter objects (a `load_state_dict(assign=True)` replaces them) are compared once per cache,
    that is per generation (walking the modules costs more than the step); their data pointers and
    version counters, which move with `.to()` and every in-place write, at every step.
    """
    pack = _packs.get(backbone)
    if pack is not None and pack.checked_cache is not None and pack.checked_cache() is cache:
        if pack.fresh():
            return pack
    elif pack is not None and pack.fresh(list(backbone.parameters())):
        pack.checked_cache = weakref.ref(cache)
        return pack
    if not BackbonePack.fits(backbone):
        return None
    pack = BackbonePack(backbone)
    pack.checked_cache = weakref.ref(cache)
    _packs[backbone] = pack
    return pack


class _StateViews:
    """numpy views of a cache's per-layer state tensors, kept while the same tensors hold the
    same memory (transformers updates them in place; a reorder or offload replaces them)."""

    def __init__(self, tensors: list[torch.Tensor]):
        self.tensors = tensors
        self.pointers = list(map(torch.Tensor.data_ptr, tensors))
        half = len(tensors) // 2
        self.conv = tuple(_np(t) for t in tensors[:half])
        self.ssm = tuple(_np(t) for t in tensors[half:])

    def still(self, tensors: list[torch.Tensor | None]) -> bool:
        return (
            len(tensors) == len(self.tensors)
            and all(a is b for a, b in zip(tensors, self.tensors, strict=True))
            and list(map(torch.Tensor.data_ptr, tensors)) == self.pointers
        )


_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state_views(pack: BackbonePack, cache, batch: int) -> _StateViews | None:
    """The cache's states as numpy views, or None if some layer cannot take the fused step."""
    tensors = []
    for idx in pack.layer_ids:
        if cache.is_recording_past(idx):
            return None
        tensors.append(cache.get_conv_state(idx))
    tensors += [cache.get_recurrent_state(idx) for idx in pack.layer_ids]
    views = _views.get(cache)
    if views is not None and views.still(tensors):
        return views
    dim, width, n_state = pack.shapes
    half = len(tensors) // 2
    for i, t in enumerate(tensors):
        shape = (batch, dim, width if i < half else n_state)
        if t is None or t.shape != shape or not t.is_contiguous() or not float32_on_cpu([t]):
            return None
    views = _StateViews(tensors)
    _views[cache] = views
    return views


def backbone_decode(
    backbone: torch.nn.Module, hidden: torch.Tensor, mask: torch.Tensor, cache
) -> torch.Tensor | None:
    """One token through every layer and the final norm: embeddings (B, H) -> (B, H).

    The cache's states are updated in place. None (nothing done) when the backbone is not float32
    on the CPU, too large to pack, or the cache holds states the step cannot take (the caller then
    runs the layers one by one).
    """
    pack = backbone_pack(backbone, cache)
    if pack is None:
        return None
    batch = hidden.shape[0]
    views = _state_views(pack, cache, batch)
    if views is None:
        return None
    out = torch.empty_like(hidden)
    run_rows(
        backbone_step,
        batch,
        pack.work_per_row,
        _np(hidden),
        _np(mask),
        *pack.arrays,
        views.conv,
        views.ssm,
        _np(out),
    )
    return out
