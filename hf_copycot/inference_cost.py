"""What a generation costs: the memory its cache holds and how fast it runs.

The research question is a memory trade: a Transformer keeps keys and values for every token it has
read (its KV cache grows with the sequence), a Mamba keeps a fixed recurrent state (an SSM state of
d_inner x d_state and a short convolution window per layer) whatever the length. `cache_memory`
reads those bytes off the cache object a real forward pass returned, so the number is what
transformers actually allocates, not a formula; `expected_cache_memory` is the formula for the same
layout, kept so that tests can tie the two together and studies can extrapolate to lengths not run.

`greedy_stream` is a plain greedy loop (what `generate(do_sample=False)` does) that yields each token
with its own timing and the live cache, so a caller can stream text, time the first token apart from
the rest and read the cache at any length. Used by the Space and the inference-cost study.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from transformers import PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache


@dataclass(frozen=True)
class CacheMemory:
    """Bytes a generation holds in its cache, split by how they scale with length."""

    kv_bytes: int  # attention keys and values: grow with every token read or written
    state_bytes: int  # recurrent SSM state and convolution window: constant in length

    @property
    def total_bytes(self) -> int:
        return self.kv_bytes + self.state_bytes

    @property
    def kind(self) -> str:
        """What the memory is, in the words the Space shows."""
        if self.kv_bytes and self.state_bytes:
            return "KV cache + recurrent state"
        return "recurrent state" if self.state_bytes else "KV cache"


def _storage_bytes(tensor: torch.Tensor | None, seen: set[int]) -> int:
    """Bytes of the storage behind `tensor`, counted once even if several tensors share it."""
    if tensor is None or not isinstance(tensor, torch.Tensor) or tensor.numel() == 0:
        return 0
    storage = tensor.untyped_storage()
    key = storage.data_ptr()
    if key in seen:
        return 0
    seen.add(key)
    return storage.nbytes()


def cache_memory(cache: object) -> CacheMemory:
    """Bytes held by a transformers cache (`DynamicCache` and friends, or legacy tuples).

    Attention layers contribute their `keys`/`values`; linear-attention layers (Mamba's) their
    `conv_states`/`recurrent_states`. Storage shared between tensors is counted once.
    """
    seen: set[int] = set()
    kv = state = 0
    if hasattr(cache, "layers"):
        for layer in cache.layers:
            kv += _storage_bytes(getattr(layer, "keys", None), seen)
            kv += _storage_bytes(getattr(layer, "values", None), seen)
            for name in ("conv_states", "recurrent_states"):
                for tensor in (getattr(layer, name, None) or {}).values():
                    state += _storage_bytes(tensor, seen)
    elif isinstance(cache, (tuple, list)):  # legacy ((key, value), ...) per layer
        stack = list(cache)
        while stack:
            item = stack.pop()
            if isinstance(item, (tuple, list)):
                stack.extend(item)
            else:
                kv += _storage_bytes(item, seen)
    else:
        raise TypeError(
            f"cannot read the memory of a {type(cache).__name__}; expected a transformers Cache "
            "(with .layers) or a tuple of per-layer (key, value) tensors"
        )
    return CacheMemory(kv_bytes=kv, state_bytes=state)


def expected_cache_memory(
    config: PretrainedConfig,
    num_tokens: int,
    *,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
) -> CacheMemory:
    """The bytes `cache_memory` reads after `num_tokens` tokens, from the config alone.

    Mamba (transformers' layout): per layer a (d_inner, conv_kernel) convolution window and a
    (d_inner, d_state) SSM state, whatever `num_tokens`. Attention: per layer keys and values of
    (kv_heads, num_tokens, head_dim). Note the convolution window transformers keeps is conv_kernel
    columns wide; the minimum the recurrence needs is conv_kernel - 1.
    """
    item = torch.empty((), dtype=dtype).element_size()
    layers = config.num_hidden_layers
    if config.model_type == "mamba":
        per_layer = config.intermediate_size * (config.conv_kernel + config.state_size)
        return CacheMemory(kv_bytes=0, state_bytes=batch_size * layers * per_layer * item)
    if not hasattr(config, "num_attention_heads"):
        raise ValueError(f"no cache formula for model type {config.model_type!r}")
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv = 2 * batch_size * layers * kv_heads * num_tokens * head_dim * item
    return CacheMemory(kv_bytes=kv, state_bytes=0)


@dataclass(frozen=True)
class GreedyStep:
    """One generated token: its id, the seconds its forward pass took and the cache after it."""

    token_id: int
    seconds: float
    cache: object


def _cache_argument(model: PreTrainedModel) -> str:
    """The keyword the model's forward takes its cache by.

    transformers 5.24 calls it `cache` in every model (the old `past_key_values` and Mamba's
    `cache_params` still work, with a deprecation warning); older releases only know the old names.
    """
    parameters = inspect.signature(model.forward).parameters
    for name in ("cache", "past_key_values", "cache_params"):
        if name in parameters:
            return name
    raise TypeError(f"{type(model).__name__}.forward takes no cache argument")


def output_cache(outputs: object) -> Cache | None:
    """The cache a forward returned, whatever field name this transformers version gives it.

    Looks at the values, not at named attributes: the old names are properties that warn.
    """
    values = outputs.values() if isinstance(outputs, Mapping) else outputs
    if not isinstance(values, (tuple, list)) and not isinstance(outputs, Mapping):
        return None
    return next((value for value in values if isinstance(value, Cache)), None)


@torch.inference_mode()
def greedy_stream(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | list[int] | None = None,
) -> Iterator[GreedyStep]:
    """Yield greedy tokens one by one (batch of one), stopping after an EOS or `max_new_tokens`.

    The first step's `seconds` is the prefill (time to first token); later steps are one token each.
    The same tokens as `model.generate(input_ids, do_sample=False)`.
    """
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"input_ids must have shape (1, length), got {tuple(input_ids.shape)}")
    stop = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())
    cache_argument = _cache_argument(model)
    next_input = input_ids.to(model.device)
    cache = None
    for _ in range(max_new_tokens):
        started = time.perf_counter()
        kwargs = {} if cache is None else {cache_argument: cache}
        outputs = model(next_input, use_cache=True, logits_to_keep=1, **kwargs)
        cache = output_cache(outputs)
        if cache is None:
            raise RuntimeError(
                f"{type(model).__name__} returned no cache with use_cache=True; this transformers "
                "version is not one hf-copycot supports (run `make test` to check)"
            )
        token = outputs.logits[0, -1].argmax()
        token_id = int(token.item())  # .item() waits for the device, so the timing is complete
        yield GreedyStep(token_id, time.perf_counter() - started, cache)
        if token_id in stop:
            return
        next_input = token.view(1, 1)


@dataclass(frozen=True)
class GenerationCost:
    """Speed and memory of one greedy generation."""

    token_ids: list[int]
    first_token_seconds: float
    tokens_per_second: float  # tokens after the first over the time they took (decode speed)
    memory: CacheMemory
    prompt_tokens: int


def decode_speed(step_seconds: list[float]) -> float:
    """Tokens per second after the first (prefill) step; 0.0 when there is no such token."""
    decode = step_seconds[1:]
    return len(decode) / sum(decode) if decode and sum(decode) > 0 else 0.0


def measure_generation(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | list[int] | None = None,
) -> GenerationCost:
    """Run `greedy_stream` to the end and report its speed and the bytes its cache holds."""
    token_ids: list[int] = []
    seconds: list[float] = []
    cache = None
    for step in greedy_stream(
        model, input_ids, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id
    ):
        token_ids.append(step.token_id)
        seconds.append(step.seconds)
        cache = step.cache
    memory = cache_memory(cache) if cache is not None else CacheMemory(0, 0)
    if token_ids and memory.total_bytes == 0:
        # An empty cache after a forward means the model did not fill it: a number computed
        # from 0 bytes (a ratio, a "constant state") would be meaningless, so stop here.
        raise RuntimeError(
            f"{type(model).__name__}'s cache holds 0 bytes after {len(token_ids)} generated "
            "token(s): the model did not fill its cache (a transformers version hf-copycot does "
            "not support?); run `make test` to check the installed versions"
        )
    return GenerationCost(
        token_ids=token_ids,
        first_token_seconds=seconds[0] if seconds else 0.0,
        tokens_per_second=decode_speed(seconds),
        memory=memory,
        prompt_tokens=int(input_ids.shape[1]),
    )


def format_bytes(num_bytes: float) -> str:
    """1536 -> '1.5 KiB': binary units, three significant digits."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
