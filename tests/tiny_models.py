"""Tiny randomly initialised Mamba and GPT-NeoX models with the character tokenizer, for tests that
need real checkpoints on disk (the arena, the inference-cost accounting) without any download."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, MambaConfig, MambaForCausalLM

from hf_copycot.tokenizer import build_char_tokenizer


def tiny_config(kind: str, tokenizer) -> MambaConfig | GPTNeoXConfig:
    special = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if kind == "mamba":
        return MambaConfig(
            hidden_size=32, num_hidden_layers=2, state_size=8, expand=2, conv_kernel=4, **special
        )
    return GPTNeoXConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        **special,
    )


def build_tiny_model(kind: str, seed: int = 0, constant: str | None = None):
    """(model, tokenizer): a tiny `kind` ("mamba" or "gpt_neox") model with seeded random weights.

    constant (GPT-NeoX only): make the model always predict this character, whatever it reads
    (the final norm outputs a fixed vector that only that character's output row aligns with), so
    a test knows where its copy goes wrong.
    """
    tokenizer = build_char_tokenizer()
    torch.manual_seed(seed)
    config = tiny_config(kind, tokenizer)
    model_class = MambaForCausalLM if kind == "mamba" else GPTNeoXForCausalLM
    model = model_class(config).eval()
    if constant is not None:
        if kind != "gpt_neox":
            raise ValueError("constant= is supported for gpt_neox only")
        with torch.no_grad():
            direction = torch.zeros(config.hidden_size)
            direction[0] = 1.0
            model.gpt_neox.final_layer_norm.weight.zero_()
            model.gpt_neox.final_layer_norm.bias.copy_(direction)
            model.get_output_embeddings().weight[:, 0] = 0.0
            model.get_output_embeddings().weight[tokenizer.convert_tokens_to_ids(constant), 0] = (
                10.0
            )
    return model, tokenizer


def save_tiny_model(kind: str, folder: Path, seed: int = 0, constant: str | None = None) -> Path:
    """Save a tiny model and its tokenizer as a checkpoint folder (safetensors) and return it."""
    model, tokenizer = build_tiny_model(kind, seed, constant)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
