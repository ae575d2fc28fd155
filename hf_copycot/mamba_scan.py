"""Fast selective scan for transformers' Mamba models, without mamba-ssm's CUDA kernels.

`enable_fast_mamba(model)` swaps the class of every `MambaMixer` in a model to `FastMambaMixer`, a
subclass with no new parameters or buffers, whose training and prompt forward runs on

- "cuda": mamba-ssm's kernels (transformers' own forward uses them when they import),
- "numba": our CPU kernels (hf_copycot.ssm.numba_kernels): conv, dt, scan and gate fused,
- "chunked": a pure-PyTorch chunked scan, for other devices (GPUs without mamba-ssm, MPS),
- "reference": transformers' own forward, unpatched.

One-token decoding with a cache (every step of `generate` after the prompt) runs, on the numba
path, a fused step that updates transformers' cache tensors in place (`hf_copycot.ssm.numba_decode`):
all layers in one kernel call, through `FastMambaModel`, the backbone's class swapped in the same
way; on the other paths transformers' own recurrent step. The model stays a plain
MambaForCausalLM: state dict, config and `save_pretrained` output are unchanged.

The patch relies on transformers' internals (the mixer's cache keyword, the cache's conv and
recurrent state API), which change between releases (5.24 renamed `cache_params` to `cache`). So
a patched model checks after every forward that returned a cache that each layer's states are in
it, and raises `MambaCacheError` naming the transformers version and the way out otherwise: a
drift can make the fast path fail loudly, never silently wrong or silently quadratic.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import sys

import torch
import transformers
from transformers.cache_utils import Cache
from transformers.integrations.accelerate import force_accelerate_hooks
from transformers.models.mamba.modeling_mamba import (
    MambaMixer,
    MambaModel,
    MambaOutput,
    apply_mask_to_padding_states,
)

from .inference_cost import output_cache
from .ssm.chunked import chunked_mixer_inner

logger = logging.getLogger(__name__)

SCAN_CHOICES = ("auto", "cuda", "numba", "chunked", "reference")
_logged: set[str] = set()
# The keyword MambaMixer.forward takes its cache by: `cache` from transformers 5.24, before that
# `cache_params` (5.24 still accepts the old name with a deprecation warning).
CACHE_KEYWORD = (
    "cache" if "cache" in inspect.signature(MambaMixer.forward).parameters else "cache_params"
)


# Set on a fused step's output: every layer's states were in its cache (see `_check_cache_filled`).
_CHECKED = "_copycot_cache_checked"


class MambaCacheError(RuntimeError):
    """The fast path did not leave the generation cache as transformers' decoding expects."""


def _log_once(level: int, message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        logger.log(level, message)


@functools.cache
def cuda_kernels_available() -> bool:
    """Whether mamba-ssm's and causal-conv1d's kernels import (they build only with CUDA)."""
    if importlib.util.find_spec("mamba_ssm") is None:
        return False
    try:
        import causal_conv1d  # noqa: F401
        from mamba_ssm.ops.selective_scan_interface import mamba_inner_fn  # noqa: F401
    except Exception:  # a broken build raises anything from ImportError to OSError
        return False
    return True


@functools.cache
def numba_available() -> bool:
    """Whether our CPU kernels import (numba is a dependency, but may lack a platform build)."""
    try:
        from .ssm import numba_mixer  # noqa: F401
    except Exception:
        return False
    return True


class FastMambaMixer(MambaMixer):
    """MambaMixer whose full-sequence forward runs on the path `self.copycot_scan` asks for.

    copycot_scan is "auto", "cuda", "numba" or "chunked"; the path is resolved per call from the
    input's device (`path_for`), so a model patched on CPU and then moved to a GPU (what the model
    factory does) uses the GPU's path. One-token decoding steps on the numba path take the fused
    step of `hf_copycot.ssm.numba_decode` (unless copycot_fused_decode is False); other decoding
    steps go to transformers' MambaMixer.forward unchanged, as does the "cuda" path
    (transformers' forward calls mamba-ssm).
    """

    copycot_scan: str = "auto"
    copycot_fused_decode: bool = True

    def forward(self, hidden_states, cache=None, attention_mask=None, **kwargs):
        _forget_packed_weights(self)
        if cache is None:
            cache = kwargs.pop("cache_params", None)
        stray = [key for key, value in kwargs.items() if isinstance(value, Cache)]
        if stray:  # a cache under a name we do not know: a transformers rename
            raise MambaCacheError(_drift_message(f"the mixer received its cache as {stray[0]!r}"))
        decoding = cache is not None and (
            cache.get_conv_state(self.layer_idx) is not None
            or cache.get_recurrent_state(self.layer_idx) is not None
            or cache.is_recording_past(self.layer_idx)
        )
        if decoding:
            out = self._fused_step(hidden_states, cache, attention_mask)
            if out is not None:
                return out
        path = "decoding" if decoding else self._path(hidden_states.device)
        if path in ("decoding", "cuda"):
            return super().forward(
                hidden_states, attention_mask=attention_mask, **{CACHE_KEYWORD: cache}, **kwargs
            )
        return self._fast_forward(hidden_states, cache, attention_mask, path)

    def _fused_step(self, hidden_states, cache, attention_mask) -> torch.Tensor | None:
        """One decoding token through `numba_decode.mixer_decode`; None where it does not apply.

        It applies on the numba path, with grad off (the kernel records no autograd graph), to
        one float32 token on a cache holding this layer's states, as transformers' step would
        take it (not recording past states for a later crop).
        """
        batch, seq_len, _ = hidden_states.shape
        if seq_len != 1 or torch.is_grad_enabled() or not self._numba_decodes(hidden_states):
            return None
        mask = _step_mask(attention_mask, batch)
        conv_state = cache.get_conv_state(self.layer_idx)
        ssm_state = cache.get_recurrent_state(self.layer_idx)
        if mask is None or conv_state is None or ssm_state is None:
            return None
        if cache.is_recording_past(self.layer_idx):
            return None
        from .ssm import numba_decode

        out = numba_decode.mixer_decode(self, hidden_states[:, 0], mask, conv_state, ssm_state)
        return None if out is None else out.unsqueeze(1)

    def _numba_decodes(self, hidden_states: torch.Tensor) -> bool:
        return (
            self.copycot_fused_decode
            and hidden_states.dtype == torch.float32
            and path_for(self.copycot_scan, hidden_states.device)[0] == "numba"
        )

    def _path(self, device: torch.device) -> str:
        path, why = path_for(self.copycot_scan, device)
        level = logging.WARNING if why.startswith("cannot") else logging.INFO
        _log_once(level, _choice_message(path, device, why))
        return path

    @force_accelerate_hooks(["conv1d", "x_proj", "dt_proj"])
    def _fast_forward(self, hidden_states, cache, attention_mask, path):
        if path == "numba":
            from .ssm.numba_mixer import numba_mixer_inner as inner
        else:
            inner = chunked_mixer_inner
        dtype = hidden_states.dtype
        xz = self.in_proj(apply_mask_to_padding_states(hidden_states, attention_mask))
        if cache is not None:  # prefill: the conv cache keeps the last inputs of the conv
            cache.update_conv_state(
                xz[..., : self.intermediate_size].transpose(1, 2),
                self.layer_idx,
                conv_kernel_size=self.conv_kernel_size,
            )
        y, last_state = inner(
            xz,
            self.conv1d.weight,
            self.conv1d.bias if self.use_conv_bias else None,
            self.x_proj.weight,
            self.dt_proj.weight,
            self.dt_proj.bias,
            self.A_log,
            self.D,
            attention_mask,
            return_last_state=cache is not None,
        )
        if cache is not None:  # contiguous: the cache allocates its state like the first one
            cache.update_recurrent_state(last_state.contiguous(), self.layer_idx)
        return self.out_proj(y.to(dtype))


def _forget_packed_weights(module: torch.nn.Module) -> None:
    """Before a forward that records a graph (training), drop the fused decoding step's packed
    copy of the module's weights: the optimizer step that follows may not bump the version
    counters the copy is checked against (torch's fused AdamW does not)."""
    if torch.is_grad_enabled():
        decode = sys.modules.get(f"{__package__}.ssm.numba_decode")
        if decode is not None:  # not imported: nothing packed yet
            decode.forget(module)


def _step_mask(attention_mask: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    """A decoding step's padding mask as (B,) float32; None for a mask of another shape."""
    if attention_mask is None:
        return torch.ones(batch)
    if attention_mask.shape != (batch, 1):
        return None
    return attention_mask.reshape(batch).to(device="cpu", dtype=torch.float32)


class FastMambaModel(MambaModel):
    """MambaModel whose one-token decoding steps run all layers in one numba call.

    Where it applies (the mixers on the numba path, grad off, one token, float32 weights and
    cache, model small enough to pack: `numba_decode.backbone_decode`), a step costs one kernel
    call instead of a dozen torch ops and several module calls per layer; everything else goes to
    transformers' MambaModel.forward, whose mixers are FastMambaMixers. No parameters of its own.
    """

    def forward(
        self,
        input_ids=None,
        inputs_embeds=None,
        cache=None,
        use_cache=None,
        output_hidden_states=None,
        return_dict=None,
        attention_mask=None,
        **kwargs,
    ):
        _forget_packed_weights(self)
        hidden = None
        plain = not (kwargs or output_hidden_states or self.config.output_hidden_states)
        if cache is not None and plain and not torch.is_grad_enabled():
            hidden = self._fused_step(input_ids, inputs_embeds, cache, attention_mask)
        if hidden is None:
            args = (input_ids, inputs_embeds, cache, use_cache, output_hidden_states, return_dict)
            return super().forward(*args, attention_mask=attention_mask, **kwargs)
        # what MambaModel.forward returns, without hidden states
        if use_cache is None:
            use_cache = self.config.use_cache if not self.training else False
        if self.gradient_checkpointing and self.training:
            use_cache = False
        if not (return_dict if return_dict is not None else self.config.return_dict):
            return (hidden, cache)
        output = MambaOutput(last_hidden_state=hidden, cache=cache if use_cache else None)
        # The fused step ran only with every layer's states in the cache, so `_check_cache_filled`
        # need not look again (as many cache lookups as the step's own check).
        setattr(output, _CHECKED, True)
        return output

    def _fused_step(self, input_ids, inputs_embeds, cache, attention_mask):
        mixer = self.layers[0].mixer
        ids_or_embeds = input_ids if input_ids is not None else inputs_embeds
        if (
            not isinstance(mixer, FastMambaMixer)
            or (input_ids is None) == (inputs_embeds is None)
            or ids_or_embeds.shape[1] != 1
            or path_for(mixer.copycot_scan, ids_or_embeds.device)[0] != "numba"
        ):
            return None
        batch = ids_or_embeds.shape[0]
        mask = _step_mask(attention_mask, batch)
        if mask is None:
            return None
        if input_ids is not None:
            hidden = self.embeddings.weight[input_ids[:, 0]]
        else:
            hidden = inputs_embeds[:, 0]
        if hidden.dtype != torch.float32:
            return None
        from .ssm.numba_decode import backbone_decode

        out = backbone_decode(self, hidden.contiguous(), mask, cache)
        return None if out is None else out.unsqueeze(1)


def _drift_message(what: str) -> str:
    return (
        f"fast Mamba path: {what} (transformers {transformers.__version__}; hf-copycot is tested "
        "with the versions in requirements.lock); rerun with --mamba_scan reference "
        "(enable_fast_mamba(model, 'reference')) or install the locked versions"
    )


def _check_cache_filled(backbone: MambaModel, args, output) -> None:
    """Forward hook: a returned cache must hold every layer's conv and recurrent state.

    Two dict lookups per layer and forward (the cost is not measurable next to a decoding step).
    Without it a cache the mixers never saw reads as empty, and `generate` silently re-reads the
    whole sequence at every token (right tokens, quadratic time) while a hand-written loop that
    feeds one token at a time gets wrong ones.
    """
    if getattr(output, _CHECKED, False):
        return
    cache = output_cache(output)
    if cache is None:
        return
    for block in backbone.layers:
        idx = block.mixer.layer_idx
        if cache.get_conv_state(idx) is None or cache.get_recurrent_state(idx) is None:
            raise MambaCacheError(_drift_message(f"layer {idx} left the generation cache empty"))


def _choice_message(path: str, device: torch.device, why: str) -> str:
    return f"Mamba scan: {path} on {device.type} ({why})"


def _model_device(mixers: list[MambaMixer]) -> torch.device:
    return mixers[0].A_log.device


def path_for(scan: str, device: torch.device) -> tuple[str, str]:
    """(path, why) that `scan` ("auto" | "cuda" | "numba" | "chunked") takes on `device`.

    Raises ValueError for "cuda" off a CUDA device: mamba-ssm's kernels take CUDA tensors only.
    """
    if scan == "auto":
        if device.type == "cuda" and cuda_kernels_available():
            return "cuda", "auto: mamba-ssm kernels import and the model is on CUDA"
        if device.type == "cpu" and numba_available():
            return "numba", "auto: our CPU kernels"
        return "chunked", f"auto: pure-PyTorch chunked scan on {device.type}"
    if scan == "cuda" and device.type != "cuda":
        raise ValueError(
            f"mamba scan 'cuda' runs mamba-ssm's kernels on CUDA tensors but the model is on "
            f"{device}; move it to a GPU or use --mamba_scan auto"
        )
    if scan == "numba" and device.type != "cpu":
        return "chunked", f"cannot run numba on {device.type}; using chunked"
    return scan, "forced"


def resolve_scan(scan: str, device: torch.device) -> tuple[str, str]:
    """(path, why) for a requested `scan` on `device`; raises ValueError if it cannot run.

    A forced "cuda" needs mamba-ssm importable but may be set on a CPU model that moves to a GPU
    before its first forward (the path is resolved again at every call).
    """
    if scan not in SCAN_CHOICES:
        raise ValueError(f"mamba scan {scan!r} is not one of {', '.join(SCAN_CHOICES)}")
    if scan == "reference":
        return "reference", "forced: transformers' own forward"
    if scan == "cuda" and not cuda_kernels_available():
        raise ValueError(
            "mamba scan 'cuda' needs mamba-ssm and causal-conv1d importable (pip install "
            "hf-copycot[gpu] on a CUDA machine); use --mamba_scan auto to pick what works"
        )
    if scan == "numba" and device.type != "cpu":
        raise ValueError(
            f"mamba scan 'numba' runs on CPU tensors but the model is on {device}; "
            "use 'chunked' or 'auto'"
        )
    if scan == "numba" and not numba_available():
        raise ValueError("mamba scan 'numba' needs numba importable (pip install numba)")
    if scan == "cuda" and device.type != "cuda":
        return "cuda", "forced; runs once the model is on a CUDA device"
    return path_for(scan, device)


def enable_fast_mamba(
    model: torch.nn.Module, scan: str = "auto", *, fused_decode: bool = True
) -> str:
    """Route every Mamba mixer of `model` through `scan`; returns the path in use.

    "auto" picks mamba-ssm's kernels when they import and the model is on CUDA, our CPU kernels on
    CPU, the chunked PyTorch scan elsewhere, resolved again at each forward from the input's device
    (so the model may move after this call). Idempotent. "reference" restores transformers' own
    forward. The choice is logged once (and again if a move changes it).

    On the numba path, one-token decoding steps run fused (`hf_copycot.ssm.numba_decode`: all
    layers in one kernel call where the model is small enough, else one per mixer);
    fused_decode=False keeps transformers' step for them (to compare, or to rule the fused step
    out when debugging).
    """
    mixers = [m for m in model.modules() if isinstance(m, MambaMixer)]
    if not mixers:
        raise ValueError(
            f"{type(model).__name__} has no transformers MambaMixer; enable_fast_mamba patches "
            "MambaForCausalLM / MambaModel"
        )
    foreign = {type(m).__name__ for m in mixers if type(m) not in (MambaMixer, FastMambaMixer)}
    if foreign:
        raise ValueError(f"cannot patch mixer subclasses {sorted(foreign)}; only MambaMixer")
    choice, why = resolve_scan(scan, _model_device(mixers))
    for backbone in (m for m in model.modules() if isinstance(m, MambaModel)):
        # Looked up by value, not by a stored handle: a deep copy keeps the hook but a handle
        # would still point at the original's hook table.
        for key in [
            k for k, hook in backbone._forward_hooks.items() if hook is _check_cache_filled
        ]:
            del backbone._forward_hooks[key]
        if scan != "reference":
            backbone.register_forward_hook(_check_cache_filled)
    fused = fused_decode and scan != "reference"
    for backbone in (m for m in model.modules() if type(m) in (MambaModel, FastMambaModel)):
        backbone.__class__ = FastMambaModel if fused else MambaModel
    for mixer in mixers:
        if scan == "reference":
            mixer.__class__ = MambaMixer
            mixer.__dict__.pop("copycot_scan", None)
            mixer.__dict__.pop("copycot_fused_decode", None)
        else:
            mixer.__class__ = FastMambaMixer
            mixer.copycot_scan = scan
            mixer.copycot_fused_decode = fused_decode
    _log_once(logging.INFO, _choice_message(choice, _model_device(mixers), why))
    return choice


def active_scan(model: torch.nn.Module) -> str:
    """The path the model's mixers use now: "numba" | "chunked" | "cuda" | "reference"."""
    mixers = [m for m in model.modules() if isinstance(m, MambaMixer)]
    if not mixers:
        raise ValueError(f"{type(model).__name__} has no transformers MambaMixer")
    first = mixers[0]
    if isinstance(first, FastMambaMixer):
        return path_for(first.copycot_scan, first.A_log.device)[0]
    return "cuda" if first.A_log.device.type == "cuda" and cuda_kernels_available() else "reference"
