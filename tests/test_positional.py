"""RoPE / NoPE / Hard-ALiBi presets: the windows do what Jelassi et al. define, caching and
padding do not change them, and the folders reload as ordinary GPT-NeoX checkpoints."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from hf_copycot.models import load_model_and_tokenizer, preset_config
from hf_copycot.positional import ATTENTION, encoding_of, hard_alibi_windows, window_mask
from hf_copycot.tokenizer import build_char_tokenizer

# The Hard-ALiBi attention plugs into transformers' attention and mask interfaces.
pytestmark = pytest.mark.compat


def _preset(name: str):
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(f"preset:{name}")
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer


def test_window_mask_matches_the_definition():
    windows = torch.tensor([1, 3, 0])
    mask = window_mask(windows, q_length=4, kv_length=6, device=torch.device("cpu"))
    for h, m in enumerate(windows.tolist()):
        for qi in range(4):
            i = 2 + qi  # the queries are the last 4 of 6 positions
            for j in range(6):
                expected = j <= i and (m == 0 or i - j < m)
                assert bool(mask[h, qi, j]) == expected, (h, i, j)


def test_windows_per_head():
    assert hard_alibi_windows(4, 2) == [1, 2, 0, 0]
    with pytest.raises(ValueError, match="masked_heads"):
        hard_alibi_windows(4, 5)


@pytest.mark.parametrize("window, reach", [(1, 1), (2, 3)])
def test_a_windowed_model_reads_only_its_reach(window, reach):
    """With every head windowed to m, two layers see the last 2(m-1)+1 tokens: changing any
    token before them leaves the last position's logits unchanged, changing one inside does not."""
    tokenizer = build_char_tokenizer()
    config = preset_config("pythia-tiny-hard-alibi", tokenizer)
    config.hard_alibi_windows = [window] * config.num_attention_heads
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=ATTENTION).eval()
    ids = tokenizer(["qwertyuiop"], return_tensors="pt").input_ids
    with torch.no_grad():
        base = model(ids).logits[0, -1]
        far = ids.clone()
        far[0, -reach - 1] = (far[0, -reach - 1] + 1) % 26 + 3
        near = ids.clone()
        near[0, -reach] = (near[0, -reach] + 1) % 26 + 3
        assert torch.allclose(model(far).logits[0, -1], base, atol=1e-6)
        assert not torch.allclose(model(near).logits[0, -1], base, atol=1e-4)


@pytest.mark.parametrize("name", ["pythia-tiny-nope", "pythia-tiny-hard-alibi"])
def test_cached_padded_generation_equals_recomputation(name):
    model, tokenizer = _preset(name)
    batch = tokenizer(["abcdefghij|", "xyz|"], return_tensors="pt", padding=True)
    with torch.no_grad():
        cached = model.generate(**batch, max_new_tokens=8, do_sample=False, use_cache=True)
        full = model.generate(**batch, max_new_tokens=8, do_sample=False, use_cache=False)
        alone = model.generate(
            **tokenizer(["xyz|"], return_tensors="pt"), max_new_tokens=8, do_sample=False
        )
    assert torch.equal(cached, full)
    assert torch.equal(cached[1, -8:], alone[0, -8:])  # left padding changes nothing


def test_encodings_and_reload_without_remote_code(tmp_path):
    for name, encoding in [
        ("pythia-tiny", "rope"),
        ("pythia-tiny-nope", "nope"),
        ("pythia-tiny-hard-alibi", "hard_alibi"),
    ]:
        model, tokenizer = _preset(name)
        assert encoding_of(model.config) == encoding
        folder = tmp_path / name
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        config = json.loads((folder / "config.json").read_text())
        assert config["model_type"] == "gpt_neox" and "auto_map" not in config
        ids = tokenizer(["hello|hel"], return_tensors="pt").input_ids
        with torch.no_grad():
            expected = model(ids).logits
            ours, _ = load_model_and_tokenizer(str(folder))
            assert torch.equal(ours.eval()(ids).logits, expected)
            plain = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False).eval()
            if encoding == "hard_alibi":
                # transformers alone does not read the windows: it builds the NoPE model ...
                assert not torch.allclose(plain(ids).logits, expected, atol=1e-4)
                # ... and reads them once told which attention to use.
                plain = AutoModelForCausalLM.from_pretrained(
                    folder, attn_implementation=ATTENTION
                ).eval()
            assert torch.allclose(plain(ids).logits, expected, atol=1e-6)
