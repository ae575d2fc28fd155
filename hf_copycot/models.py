"""Model factory shared by fine-tuning, evaluation and the Space.

`load_model_and_tokenizer` takes what a user types after `--model_name_or_path`:
- `preset:NAME` builds a randomly initialised model from a preset below, with the character-level
  tokenizer of `hf_copycot.tokenizer` (from-scratch training, as Jelassi et al. and Ren et al. did);
- a local folder or a Hub id (`state-spaces/mamba-130m-hf`, `EleutherAI/pythia-160m`) loads a
  checkpoint and its own tokenizer, safetensors only and without remote code.

Presets come in parameter-matched pairs: a Mamba layer (in/out projections, about 6 d^2) has half
the weights of a GPT-NeoX layer (attention 4 d^2 + MLP 8 d^2), so Mamba gets twice the layers at the
same width, as in the released checkpoints (mamba-130m: 24 layers of 768; pythia-160m: 12 of 768).
The large presets copy the shapes of those checkpoints; with a 99-token vocabulary instead of
50k their parameter counts are lower than the names say (the embeddings shrink), and the pair stays
matched. Every model built or loaded here carries `config.copycot`: the numbers the theory talks
about (width, state size, layers, the recurrent state a Mamba carries, the KV cache a Transformer
grows per token).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GPTNeoXConfig,
    MambaConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from hf_copycot.errors import ModelLoadError
from hf_copycot.mamba_scan import active_scan, enable_fast_mamba
from hf_copycot.positional import WINDOWS_KEY, attention_for, encoding_of, hard_alibi_windows
from hf_copycot.tokenizer import TOKENIZERS, build_char_tokenizer, build_tokenizer, tokenizer_kind

logger = logging.getLogger(__name__)

PRESET_PREFIX = "preset:"


@dataclass(frozen=True)
class MambaShape:
    hidden_size: int
    num_hidden_layers: int
    state_size: int = 16
    expand: int = 2
    conv_kernel: int = 4


@dataclass(frozen=True)
class TransformerShape:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    rotary_pct: float = 0.25
    # Hard-ALiBi (hf_copycot.positional): heads given a hard window, the rest unbounded; 0 = none.
    hard_alibi_heads: int = 0


# name -> shape. Pairs share a width; Mamba has twice the layers (see the module docstring).
PRESETS: dict[str, MambaShape | TransformerShape] = {
    # CPU, minutes: about 0.13 M parameters each.
    "mamba-tiny": MambaShape(hidden_size=64, num_hidden_layers=4),
    "pythia-tiny": TransformerShape(64, 2, num_attention_heads=4, intermediate_size=256),
    # CPU, tens of minutes / one GPU, seconds: about 0.9 M.
    "mamba-small": MambaShape(hidden_size=128, num_hidden_layers=8),
    "pythia-small": TransformerShape(128, 4, num_attention_heads=4, intermediate_size=512),
    # One GPU, minutes: about 7 M.
    "mamba-base": MambaShape(hidden_size=256, num_hidden_layers=16),
    "pythia-base": TransformerShape(256, 8, num_attention_heads=8, intermediate_size=1024),
    # The shapes of the released checkpoints the papers compare (Jelassi et al.; Ren et al.).
    "mamba-130m": MambaShape(hidden_size=768, num_hidden_layers=24),
    "pythia-160m": TransformerShape(768, 12, num_attention_heads=12, intermediate_size=3072),
    "mamba-370m": MambaShape(hidden_size=1024, num_hidden_layers=48),
    "pythia-410m": TransformerShape(1024, 24, num_attention_heads=16, intermediate_size=4096),
    "mamba-1.4b": MambaShape(hidden_size=2048, num_hidden_layers=48),
    "pythia-1.4b": TransformerShape(2048, 24, num_attention_heads=16, intermediate_size=8192),
    "mamba-2.8b": MambaShape(hidden_size=2560, num_hidden_layers=64),
    "pythia-2.8b": TransformerShape(2560, 32, num_attention_heads=32, intermediate_size=10240),
}

# Every Pythia preset also comes with Jelassi et al.'s other positional encodings: NAME-nope (no
# rotary embedding) and NAME-hard-alibi (no rotary embedding; half the heads windowed, half
# unbounded, as their experiments set it; hf_copycot.positional).
for _name, _shape in list(PRESETS.items()):
    if isinstance(_shape, TransformerShape):
        PRESETS[f"{_name}-nope"] = replace(_shape, rotary_pct=0.0)
        PRESETS[f"{_name}-hard-alibi"] = replace(
            _shape, rotary_pct=0.0, hard_alibi_heads=_shape.num_attention_heads // 2
        )

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class ModelArguments:
    """Which model, the flags `finetune.py` and `copycot evaluate` share."""

    model_name_or_path: str = field(
        metadata={"help": "Hub id (state-spaces/mamba-130m-hf), local folder, or preset:NAME."}
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": "Preset config changes, e.g. 'state_size=64'."}
    )
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision."})
    mamba_scan: str = field(
        default="auto", metadata={"help": "Mamba scan path: auto, cuda, numba, chunked, reference."}
    )
    tokenizer: str = field(
        default="char",
        metadata={"help": "A preset's tokenizer: char, or word (a token per number, as Feng)."},
    )


def check_model_name(name_or_path: str) -> None:
    """Raise ModelLoadError for a `preset:NAME` that does not exist (checked before loading)."""
    if name_or_path.startswith(PRESET_PREFIX):
        name = name_or_path[len(PRESET_PREFIX) :]
        if name not in PRESETS:
            raise ModelLoadError(
                f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)} "
                f"(written `{PRESET_PREFIX}NAME`)"
            )


def check_tokenizer(name_or_path: str, tokenizer: str) -> None:
    """Raise ModelLoadError for a --tokenizer that is unknown or given with a checkpoint."""
    if tokenizer not in TOKENIZERS:
        raise ModelLoadError(
            f"unknown --tokenizer {tokenizer!r}; choose one of: {', '.join(TOKENIZERS)}"
        )
    if tokenizer != "char" and not name_or_path.startswith(PRESET_PREFIX):
        raise ModelLoadError(
            "--tokenizer applies to presets only (`preset:NAME`); a checkpoint brings its own "
            f"tokenizer (got --tokenizer {tokenizer})"
        )


def preset_config(name: str, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """The transformers config of preset `name`, sized to `tokenizer`'s vocabulary."""
    check_model_name(PRESET_PREFIX + name)
    shape = PRESETS[name]
    special = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if isinstance(shape, MambaShape):
        return MambaConfig(
            hidden_size=shape.hidden_size,
            num_hidden_layers=shape.num_hidden_layers,
            state_size=shape.state_size,
            expand=shape.expand,
            conv_kernel=shape.conv_kernel,
            **special,
        )
    if shape.hard_alibi_heads:
        special[WINDOWS_KEY] = hard_alibi_windows(shape.num_attention_heads, shape.hard_alibi_heads)
    return GPTNeoXConfig(
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        intermediate_size=shape.intermediate_size,
        rotary_pct=shape.rotary_pct,
        max_position_embeddings=8192,
        tie_word_embeddings=False,
        **special,
    )


def architecture_numbers(config: PretrainedConfig, num_parameters: int | None = None) -> dict:
    """The quantities the theory compares, in floats (multiply by the dtype's bytes for memory).

    Mamba carries a constant state per sequence: per layer an SSM state of d_inner x d_state and a
    convolution window of d_inner x (conv_kernel - 1). A Transformer's KV cache grows by
    2 x layers x d_model floats with every token it reads or writes.
    """
    numbers: dict[str, Any] = {"model_type": config.model_type, "d_model": config.hidden_size}
    numbers["num_layers"] = config.num_hidden_layers
    if config.model_type == "mamba":
        d_inner = config.intermediate_size
        ssm = d_inner * config.state_size
        conv = d_inner * (config.conv_kernel - 1)
        numbers |= {
            "architecture": "mamba",
            "d_state": config.state_size,
            "d_inner": d_inner,
            "ssm_state_floats_per_layer": ssm,
            "conv_state_floats_per_layer": conv,
            "recurrent_state_floats": config.num_hidden_layers * (ssm + conv),
            "kv_cache_floats_per_token": 0,
        }
    elif hasattr(config, "num_attention_heads"):
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = config.hidden_size // heads
        numbers |= {
            "architecture": "transformer",
            "d_state": None,
            "num_heads": heads,
            "head_dim": head_dim,
            "recurrent_state_floats": 0,
            "kv_cache_floats_per_token": 2 * config.num_hidden_layers * kv_heads * head_dim,
            "positional_encoding": encoding_of(config),
        }
    else:
        numbers["architecture"] = config.model_type
    if num_parameters is not None:
        numbers["num_parameters"] = num_parameters
    return numbers


def count_parameters(config: PretrainedConfig) -> int:
    """Parameters of a model built from `config` (tied weights once), without allocating them."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model.num_parameters()


def apply_mamba_scan(model: PreTrainedModel, scan: str = "auto") -> None:
    """Route a Mamba model's mixers through `scan` (`hf_copycot.mamba_scan`); no-op otherwise.

    "auto" is resolved at every forward from the device, so the model may move afterwards; ask
    `scan_path(model)` for the path in use once it sits where it will run.
    """
    if getattr(model.config, "model_type", None) == "mamba":
        enable_fast_mamba(model, scan)


def scan_path(model: PreTrainedModel) -> str | None:
    """The selective-scan path a Mamba model uses where it is now; None for other models."""
    if getattr(model.config, "model_type", None) != "mamba":
        return None
    return active_scan(model)


def _resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | str:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _load_pretrained(name_or_path: str, dtype, revision: str | None):
    folder = Path(name_or_path)
    if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
        raise ModelLoadError(
            f"folder {name_or_path!r} has pickle weights only; hf-copycot loads safetensors only: "
            "re-save it with `model.save_pretrained(folder)` where you trust the file"
        )
    common = {"revision": revision, "trust_remote_code": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **common)
        config = AutoConfig.from_pretrained(name_or_path, **common)
        model = AutoModelForCausalLM.from_pretrained(
            name_or_path,
            config=config,
            dtype=dtype,
            use_safetensors=True,
            attn_implementation=attention_for(config),  # Hard-ALiBi's windows (positional.py)
            **common,
        )
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if folder.is_dir():
            raise ModelLoadError(f"cannot load folder {name_or_path!r}: {first_line}") from err
        raise ModelLoadError(
            f"cannot load {name_or_path!r}: {first_line} (not a folder; presets are written "
            f"`{PRESET_PREFIX}NAME`; a Hub id needs the network or a cached copy)"
        ) from err
    if tokenizer.pad_token is None:
        # GPT-NeoX tokenizers ship without a pad token; the EOS token is the usual stand-in, and
        # attention masks keep it from being read as content.
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_model_and_tokenizer(
    name_or_path: str,
    *,
    dtype: str | torch.dtype | None = None,
    mamba_scan: str = "auto",
    device: str | torch.device | None = None,
    revision: str | None = None,
    config_overrides: str | None = None,
    tokenizer: str = "char",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Build (`preset:NAME`) or load (folder, Hub id) a causal LM and its tokenizer.

    dtype: None means float32 (what training wants; mixed precision comes from `accelerate
    launch`); "auto" keeps a checkpoint's dtype. config_overrides: `key=value,...` applied to a
    preset's config before building it (e.g. `state_size=64,hidden_size=128`). tokenizer: a
    preset's tokenizer, "char" or "word" (hf_copycot.tokenizer); a checkpoint brings its own. Seed
    the global RNG (`accelerate.utils.set_seed`) before a preset call for reproducible weights.
    """
    torch_dtype = _resolve_dtype(dtype)
    check_tokenizer(name_or_path, tokenizer)
    if name_or_path.startswith(PRESET_PREFIX):
        preset = name_or_path[len(PRESET_PREFIX) :]
        kind, tokenizer = tokenizer, build_tokenizer(tokenizer)
        config = preset_config(preset, tokenizer)
        if config_overrides:
            try:
                config.update_from_string(config_overrides)
            except ValueError as err:
                raise ModelLoadError(f"bad --config_overrides {config_overrides!r}: {err}") from err
            if config.model_type == "mamba":  # derived fields, recomputed like MambaConfig does
                config.intermediate_size = int(config.expand * config.hidden_size)
                if "time_step_rank" not in config_overrides:
                    config.time_step_rank = math.ceil(config.hidden_size / 16)
        model = AutoModelForCausalLM.from_config(
            config, dtype=torch_dtype, attn_implementation=attention_for(config)
        )
        config.copycot = {"preset": preset, **architecture_numbers(config, model.num_parameters())}
        config.copycot["tokenizer"] = kind
    else:
        if config_overrides:
            raise ModelLoadError("--config_overrides applies to presets only (`preset:NAME`)")
        model, tokenizer = _load_pretrained(name_or_path, torch_dtype, revision)
        model.config.copycot = {
            "preset": None,
            **architecture_numbers(model.config, model.num_parameters()),
            "tokenizer": tokenizer_kind(tokenizer),
        }
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    apply_mamba_scan(model, mamba_scan)
    if device is not None:
        model.to(device)
    if (path := scan_path(model)) is not None:
        logger.info("Mamba selective scan path: %s (requested %s)", path, mamba_scan)
    return model, tokenizer


def load_from_args(
    model_args: ModelArguments, **kwargs: Any
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """`load_model_and_tokenizer` with what ModelArguments holds (finetune.py and copycot
    evaluate); `kwargs` adds the rest (dtype, device)."""
    return load_model_and_tokenizer(
        model_args.model_name_or_path,
        mamba_scan=model_args.mamba_scan,
        revision=model_args.model_revision,
        config_overrides=model_args.config_overrides,
        tokenizer=model_args.tokenizer,
        **kwargs,
    )


def preset_table() -> list[dict]:
    """One row per preset: name and the theory's numbers (parameters counted on the meta device)."""
    tokenizer = build_char_tokenizer()
    rows = []
    for name in PRESETS:
        config = preset_config(name, tokenizer)
        rows.append({"preset": name, **architecture_numbers(config, count_parameters(config))})
    return rows
