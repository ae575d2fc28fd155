import copy

import pytest
import torch
from tiny_models import build_tiny_model

from hf_copycot import inference_cost
from hf_copycot.inference_cost import (
    CacheMemory,
    cache_memory,
    decode_speed,
    expected_cache_memory,
    format_bytes,
    greedy_stream,
    measure_generation,
)
from hf_copycot.mamba_scan import enable_fast_mamba

# Reads transformers' cache objects: the drift alarm runs it.
pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def tiny():
    return {kind: build_tiny_model(kind) for kind in ("mamba", "gpt_neox")}


def prompt_ids(tokenizer, length: int) -> torch.Tensor:
    text = ("abcdefghij" * (length // 10 + 1))[:length]
    return tokenizer(text, return_tensors="pt").input_ids


@pytest.mark.parametrize("kind", ["mamba", "gpt_neox"])
def test_greedy_stream_matches_generate(tiny, kind):
    model, tokenizer = tiny[kind]
    ids = prompt_ids(tokenizer, 12)
    streamed = [step.token_id for step in greedy_stream(model, ids, max_new_tokens=10)]
    reference = model.generate(
        ids, do_sample=False, max_new_tokens=10, min_new_tokens=10, pad_token_id=0
    )
    assert streamed == reference[0, ids.shape[1] :].tolist()


@pytest.mark.parametrize("kind", ["mamba", "gpt_neox"])
def test_cache_bytes_read_off_the_cache_match_the_layout(tiny, kind):
    model, tokenizer = tiny[kind]
    seen = []
    for length in (5, 40):
        ids = prompt_ids(tokenizer, length)
        steps = list(greedy_stream(model, ids, max_new_tokens=6))
        memory = cache_memory(steps[-1].cache)
        # The last token is not fed back: the cache has read the prompt and all but one new token.
        assert memory == expected_cache_memory(model.config, ids.shape[1] + len(steps) - 1)
        seen.append(memory)
    if kind == "mamba":
        assert seen[0] == seen[1] and seen[0].kv_bytes == 0 and seen[0].kind == "recurrent state"
    else:
        assert seen[1].kv_bytes > seen[0].kv_bytes > 0 and seen[0].state_bytes == 0
        assert seen[0].kind == "KV cache"


def test_expected_memory_scales_with_dtype_and_batch(tiny):
    config = tiny["gpt_neox"][0].config
    one = expected_cache_memory(config, 100)
    # 2 (K, V) x 2 layers x 4 heads x 100 tokens x 8 dims x 4 bytes
    assert one.kv_bytes == 2 * 2 * 4 * 100 * 8 * 4
    assert expected_cache_memory(config, 100, batch_size=3, dtype=torch.bfloat16).kv_bytes == (
        one.kv_bytes * 3 // 2
    )
    mamba = tiny["mamba"][0].config  # 2 layers x d_inner 64 x (conv 4 + state 8) x 4 bytes
    assert expected_cache_memory(mamba, 10**6).state_bytes == 2 * 64 * (4 + 8) * 4


def test_shared_storage_counts_once_and_legacy_tuples_work():
    keys = torch.zeros(1, 2, 5, 4)
    legacy = ((keys, torch.zeros(1, 2, 5, 4)), (keys, keys[:, :1]))
    assert cache_memory(legacy) == CacheMemory(kv_bytes=2 * keys.nbytes, state_bytes=0)
    with pytest.raises(TypeError, match="cannot read the memory of a dict"):
        cache_memory({"keys": keys})


def test_measure_generation_stops_at_eos_and_reports_costs(tiny):
    model, tokenizer = tiny["gpt_neox"]
    ids = prompt_ids(tokenizer, 8)
    first = next(greedy_stream(model, ids, max_new_tokens=1)).token_id
    cost = measure_generation(model, ids, max_new_tokens=20, eos_token_id=first)
    assert cost.token_ids == [first] and cost.tokens_per_second == 0.0
    cost = measure_generation(model, ids, max_new_tokens=5)
    assert len(cost.token_ids) == 5 and cost.prompt_tokens == ids.shape[1]
    assert cost.first_token_seconds > 0 and cost.tokens_per_second > 0
    assert cost.memory == expected_cache_memory(model.config, ids.shape[1] + 4)


def test_greedy_stream_wants_a_batch_of_one(tiny):
    model, _ = tiny["mamba"]
    with pytest.raises(ValueError, match=r"shape \(1, length\)"):
        next(greedy_stream(model, torch.zeros(2, 3, dtype=torch.long), max_new_tokens=1))


def test_small_helpers():
    assert decode_speed([0.5, 0.25, 0.25]) == 4.0 and decode_speed([0.5]) == 0.0
    assert [format_bytes(n) for n in (512, 1536, 3 * 2**20)] == ["512 B", "1.5 KiB", "3 MiB"]


@pytest.mark.parametrize("scan", ["numba", "chunked"])
def test_the_fast_mamba_path_measures_the_same_tokens_and_state(tiny, scan):
    """What the Space and the cost study measure: transformers 5.24 once left this state at 0 B."""
    model, tokenizer = tiny["mamba"]
    fast = copy.deepcopy(model)
    enable_fast_mamba(fast, scan)
    ids = prompt_ids(tokenizer, 30)
    expected = measure_generation(model, ids, max_new_tokens=8)
    cost = measure_generation(fast, ids, max_new_tokens=8)
    assert cost.token_ids == expected.token_ids
    assert cost.memory == expected.memory == expected_cache_memory(model.config, 37)
    assert cost.memory.state_bytes > 0


def test_a_cache_of_zero_bytes_is_an_error_when_measured(tiny, monkeypatch):
    model, tokenizer = tiny["mamba"]
    monkeypatch.setattr(inference_cost, "cache_memory", lambda cache: CacheMemory(0, 0))
    with pytest.raises(RuntimeError, match="cache holds 0 bytes after 3 generated") as err:
        measure_generation(model, prompt_ids(tokenizer, 5), max_new_tokens=3)
    assert "\n" not in str(err.value)
