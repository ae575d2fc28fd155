"""Positional encodings of the GPT-NeoX presets: RoPE (Pythia's), NoPE and Hard-ALiBi.

Jelassi et al. (2024) compare Transformers by positional encoding on copying: RoPE, NoPE (no
positional signal: the causal mask alone orders tokens) and Hard-ALiBi, their variant of ALiBi
whose bias is hard: head h attends only to the last m_h tokens (b(i, j) = -inf for j <= i - m_h,
0 otherwise), some heads are left unbounded (m_h = infinity, i.e. NoPE), and no rotary embedding
is applied. Which m_h each head gets is a choice of ours (the paper sets them per head, several
heads unbounded): `hard_alibi_windows` gives masked head k the window k + 1.

All three are ordinary `GPTNeoXForCausalLM` checkpoints. NoPE is `rotary_pct=0` and reloads with
plain transformers. Hard-ALiBi is NoPE plus the windows, stored in config.json as
`hard_alibi_windows` (0 = unbounded); the attention that reads them is registered with
transformers' `AttentionInterface` under `ATTENTION` when this module is imported. So a Hard-ALiBi
folder reloads without remote code through `hf_copycot.models.load_model_and_tokenizer`, or with
`import hf_copycot.positional` and `from_pretrained(path, attn_implementation=ATTENTION)`; a plain
`from_pretrained` without that keyword builds the NoPE model; this package's loaders pass the
keyword `attention_for` names.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, PretrainedConfig
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "copycot_hard_alibi"
WINDOWS_KEY = "hard_alibi_windows"


def hard_alibi_windows(num_heads: int, masked_heads: int) -> list[int]:
    """Per head, the number of most recent tokens it may read (0: all of them, as NoPE)."""
    if not 0 < masked_heads <= num_heads:
        raise ValueError(f"masked_heads must be in 1..{num_heads}, got {masked_heads}")
    return [k + 1 for k in range(masked_heads)] + [0] * (num_heads - masked_heads)


def window_mask(
    windows: torch.Tensor, q_length: int, kv_length: int, device: torch.device
) -> torch.Tensor:
    """(heads, q, kv) booleans: key j is visible to query i (the last q of kv positions) when it
    is not in the future and, for a head with window m > 0, fewer than m tokens back."""
    query = torch.arange(kv_length - q_length, kv_length, device=device)[:, None]
    key = torch.arange(kv_length, device=device)[None, :]
    distance = (query - key)[None]  # (1, q, kv)
    limit = windows.to(device)[:, None, None]
    return (distance >= 0) & ((limit == 0) | (distance < limit))


def hard_alibi_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """SDPA with each head's hard window folded into the (padding + causal) mask."""
    windows = torch.tensor(getattr(module.config, WINDOWS_KEY), dtype=torch.long)
    if windows.numel() != query.shape[1]:
        raise ValueError(
            f"{WINDOWS_KEY} has {windows.numel()} entries for {query.shape[1]} heads; give one "
            "window per attention head"
        )
    allowed = window_mask(windows, query.shape[2], key.shape[2], query.device)[None]
    if attention_mask is not None:
        if attention_mask.dtype != torch.bool:  # an additive float mask
            attention_mask = attention_mask == 0
        allowed = allowed & attention_mask[:, :, :, -key.shape[2] :]
    # A query that may read nothing (a left-padding position) reads everything instead: its
    # output is never used, and softmax over an empty row would be NaN.
    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
    kwargs.pop("is_causal", None)
    return sdpa_attention_forward(module, query, key, value, allowed, is_causal=False, **kwargs)


AttentionInterface.register(ATTENTION, hard_alibi_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def encoding_of(config: PretrainedConfig) -> str | None:
    """The positional encoding of a GPT-NeoX config (rope, nope, hard_alibi); None otherwise."""
    if config.model_type != "gpt_neox":
        return None
    if getattr(config, WINDOWS_KEY, None):
        return "hard_alibi"
    factor = (getattr(config, "rope_parameters", None) or {}).get("partial_rotary_factor")
    if factor is None:
        factor = getattr(config, "rotary_pct", 0.25)
    return "nope" if factor == 0 else "rope"


def attention_for(config: PretrainedConfig) -> str | None:
    """The attn_implementation a config needs: ATTENTION for Hard-ALiBi, else transformers'
    default (None)."""
    return ATTENTION if encoding_of(config) == "hard_alibi" else None
