"""Tokenizer and model factory: presets, theory numbers, loading folders, one-line errors."""

import logging

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

from hf_copycot.models import (
    PRESETS,
    ModelLoadError,
    architecture_numbers,
    load_model_and_tokenizer,
    preset_table,
    scan_path,
)
from hf_copycot.tokenizer import CHARACTERS, build_char_tokenizer


def test_char_tokenizer_covers_formats_and_round_trips(tmp_path):
    tokenizer = build_char_tokenizer()
    assert len(tokenizer) == 3 + 1 + 95
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    text = "Ada Lovelace: 6123456789\n\nm=3:1 -2 3|" + CHARACTERS
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id and len(ids) == 1 + len(text)
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer("ab|", add_special_tokens=False).input_ids == [69, 70, 96]
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text).input_ids == ids
    assert reloaded.decode([*ids, reloaded.eos_token_id], skip_special_tokens=True) == text


def test_presets_come_in_parameter_matched_pairs():
    rows = {row["preset"]: row for row in preset_table()}
    mambas = [name for name in PRESETS if name.startswith("mamba-")]
    pythias = [name for name in PRESETS if name.startswith("pythia-") and "-nope" not in name]
    pythias = [name for name in pythias if not name.endswith("-hard-alibi")]
    assert len(mambas) == len(pythias) >= 6
    for pythia in pythias:  # the positional-encoding variants have the same weights' shapes
        for variant in (f"{pythia}-nope", f"{pythia}-hard-alibi"):
            assert rows[variant]["num_parameters"] == rows[pythia]["num_parameters"]
    for mamba, pythia in zip(mambas, pythias, strict=True):
        m, p = rows[mamba], rows[pythia]
        assert m["d_model"] == p["d_model"]
        assert 0.8 < m["num_parameters"] / p["num_parameters"] < 1.25, (mamba, pythia)
        assert m["recurrent_state_floats"] > 0 and m["kv_cache_floats_per_token"] == 0
        assert p["kv_cache_floats_per_token"] == 2 * p["num_layers"] * p["d_model"]
    # The checkpoint shapes: mamba-130m has 24 layers of 768 with d_state 16.
    assert rows["mamba-130m"]["num_layers"] == 24 and rows["mamba-130m"]["d_state"] == 16
    assert rows["mamba-130m"]["recurrent_state_floats"] == 24 * 1536 * (16 + 3)


@pytest.mark.parametrize("preset", ["mamba-tiny", "pythia-tiny"])
def test_preset_saves_and_reloads_with_auto_classes(preset, tmp_path):
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(f"preset:{preset}")
    assert model.config.copycot["preset"] == preset
    assert model.config.copycot["num_parameters"] == model.num_parameters()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.config.copycot == model.config.copycot
    inputs = reloaded_tokenizer(["abc|"], return_tensors="pt")
    out = reloaded.generate(**inputs, max_new_tokens=5, do_sample=False)
    expected = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert torch.equal(out, expected) and out.shape[1] == inputs.input_ids.shape[1] + 5


def test_config_overrides_change_the_theory_numbers():
    model, _ = load_model_and_tokenizer("preset:mamba-tiny", config_overrides="state_size=32")
    numbers = model.config.copycot
    assert numbers["d_state"] == 32
    assert numbers["recurrent_state_floats"] == 4 * 128 * (32 + 3)


def test_mamba_scan_path_is_logged_and_recorded(caplog):
    with caplog.at_level(logging.INFO, logger="hf_copycot.models"):
        model, _ = load_model_and_tokenizer("preset:mamba-tiny")
    assert scan_path(model) == "numba"  # on CPU without mamba-ssm: our kernels
    assert "scan path: numba" in caplog.text
    pythia, _ = load_model_and_tokenizer("preset:pythia-tiny")
    assert scan_path(pythia) is None


def test_local_folder_loads_with_its_own_tokenizer(tmp_path):
    config = GPTNeoXConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path)
    build_char_tokenizer().save_pretrained(tmp_path)
    model, tokenizer = load_model_and_tokenizer(str(tmp_path), dtype="bfloat16")
    assert model.dtype == torch.bfloat16 and len(tokenizer) == 99
    assert model.config.copycot["preset"] is None
    assert model.config.copycot == {
        "preset": None,
        **architecture_numbers(config, model.num_parameters()),
        "tokenizer": "char",  # the saved tokenizer names its kind
    }


def test_pickle_weights_are_refused(tmp_path):
    config = GPTNeoXConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path, safe_serialization=False)
    build_char_tokenizer().save_pretrained(tmp_path)
    if (tmp_path / "model.safetensors").exists():  # transformers 5 always writes safetensors
        (tmp_path / "model.safetensors").unlink()
        torch.save(GPTNeoXForCausalLM(config).state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as err:
        load_model_and_tokenizer(str(tmp_path))
    assert "\n" not in str(err.value) and "pickle weights only" in str(err.value)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("preset:mamba-huge", "unknown preset 'mamba-huge'"),
        ("nobody/no-such-model", "cannot load 'nobody/no-such-model'"),
    ],
)
def test_bad_names_are_one_line_errors(name, needle):
    with pytest.raises(ModelLoadError) as err:
        load_model_and_tokenizer(name)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bad_dtype_is_one_line_error():
    with pytest.raises(ModelLoadError, match="unknown dtype 'fp8'"):
        load_model_and_tokenizer("preset:pythia-tiny", dtype="fp8")
