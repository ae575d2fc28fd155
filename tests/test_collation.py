"""Completion-only labels, padding, length grouping, on-the-fly data, loss normalisation."""

import copy

import pytest
import torch
from accelerate import Accelerator

from hf_copycot.collation import (
    IGNORE_INDEX,
    LengthGroupedEpochSampler,
    completion_collator,
    targets_of,
    tokenize_completions,
)
from hf_copycot.data import GeneratedTaskDataset
from hf_copycot.finetune import backward_on_global_batch, completion_loss_sum
from hf_copycot.models import load_model_and_tokenizer
from hf_copycot.tokenizer import build_char_tokenizer

ROWS = {
    "prompt": ["3 1 4|", "abcdef|"],
    "cot": ["1 1 2|", ""],
    "answer": ["2", "abcdef"],
}


def test_targets_with_and_without_cot():
    assert targets_of(ROWS, use_cot=True) == ["1 1 2|2", "abcdef"]
    assert targets_of(ROWS, use_cot=False) == ["2", "abcdef"]


def test_labels_mask_the_prompt_and_end_with_eos():
    tokenizer = build_char_tokenizer()
    encoded = tokenize_completions(tokenizer, ROWS["prompt"], targets_of(ROWS, use_cot=True))
    for prompt, target, ids, labels in zip(
        ROWS["prompt"], ["1 1 2|2", "abcdef"], encoded["input_ids"], encoded["labels"], strict=True
    ):
        n_prompt = 1 + len(prompt)  # <s> + one token per character
        assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
        assert len(ids) == len(labels) == n_prompt + len(target) + 1
        assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
        assert labels[n_prompt:] == ids[n_prompt:]
        assert tokenizer.decode(labels[n_prompt:-1]) == target


def test_collator_right_pads_with_ignored_labels():
    tokenizer = build_char_tokenizer()
    encoded = tokenize_completions(tokenizer, ["ab|", "abcdefgh|"], ["ab", "abcdefgh"])
    features = [{"input_ids": i, "labels": lab} for i, lab in zip(*encoded.values(), strict=True)]
    batch = completion_collator(tokenizer)(features)
    short = len(features[0]["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, len(features[1]["input_ids"]))
    assert (batch["input_ids"][0, short:] == tokenizer.pad_token_id).all()
    assert (batch["labels"][0, short:] == IGNORE_INDEX).all()
    assert batch["attention_mask"][0].tolist() == [1] * short + [0] * (
        batch["labels"].shape[1] - short
    )


def test_loss_ignores_prompt_tokens():
    """Changing what the model predicts at prompt positions leaves the loss unchanged."""
    tokenizer = build_char_tokenizer()
    encoded = tokenize_completions(tokenizer, ["abc|"], ["abc"])
    labels = torch.tensor(encoded["labels"])
    torch.manual_seed(0)
    logits = torch.randn(1, labels.shape[1], len(tokenizer), requires_grad=True)
    loss = completion_loss_sum(logits, labels)
    loss.backward()
    n_prompt = 1 + len("abc|")
    # Logits at position t predict token t+1: positions before n_prompt - 1 predict prompt tokens.
    assert (logits.grad[0, : n_prompt - 1] == 0).all()
    assert (logits.grad[0, n_prompt - 1 : -1].abs().sum(-1) > 0).all()
    expected = torch.nn.functional.cross_entropy(
        logits[0, n_prompt - 1 : -1], labels[0, n_prompt:], reduction="sum"
    )
    assert torch.allclose(loss, expected)


def test_length_grouped_sampler_is_a_seeded_permutation_with_little_padding():
    lengths = [(i * 7919) % 97 + 3 for i in range(640)]
    sampler = LengthGroupedEpochSampler(lengths, batch_size=8, seed=1)
    first = list(sampler)
    assert sorted(first) == list(range(640)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first

    def padding(order):
        batches = [order[i : i + 8] for i in range(0, len(order), 8)]
        return sum(
            max(lengths[j] for j in b) * len(b) - sum(lengths[j] for j in b) for b in batches
        )

    shuffled = torch.randperm(640, generator=torch.Generator().manual_seed(0)).tolist()
    assert padding(first) < padding(shuffled) / 4


def _featurize(tokenizer):
    def featurize(rows):
        encoded = tokenize_completions(tokenizer, rows["prompt"], targets_of(rows, True))
        return [{"input_ids": i, "labels": lab} for i, lab in zip(*encoded.values(), strict=True)]

    return featurize


def test_generated_dataset_is_deterministic_fresh_and_length_grouped():
    tokenizer = build_char_tokenizer()
    kwargs = dict(seed=3, min_length=5, max_length=20, featurize=_featurize(tokenizer))
    data = GeneratedTaskDataset("copy", 200, batch_size=8, batches_per_chunk=4, **kwargs)
    again = GeneratedTaskDataset("copy", 200, batch_size=8, batches_per_chunk=4, **kwargs)
    rows = [data[i]["input_ids"] for i in range(len(data))]
    assert rows == [again[i]["input_ids"] for i in range(len(again))]
    assert len({tuple(r) for r in rows}) > 190  # fresh rows, not one chunk repeated

    def mean_spread(seqs):
        batches = [seqs[i : i + 8] for i in range(0, 192, 8)]
        return sum(max(map(len, b)) - min(map(len, b)) for b in batches) / len(batches)

    shuffled = [rows[i] for i in torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    assert mean_spread(rows) < mean_spread(shuffled) / 2
    other_seed = GeneratedTaskDataset(
        "copy", 200, batch_size=8, batches_per_chunk=4, **{**kwargs, "seed": 4}
    )
    assert other_seed[0]["input_ids"] != rows[0] or other_seed[1]["input_ids"] != rows[1]
    with pytest.raises(IndexError):
        data[200]


def test_gradient_accumulation_matches_one_big_batch():
    """Two micro-batches with different target counts give the gradient of the token mean."""
    tokenizer = build_char_tokenizer()
    torch.manual_seed(0)
    model, _ = load_model_and_tokenizer("preset:pythia-tiny")
    twin = copy.deepcopy(model)
    prompts = ["ab|", "abcdefghij|", "xyz|", "qwertyuiopasdf|"]
    encoded = tokenize_completions(tokenizer, prompts, [p[:-1] for p in prompts])
    features = [{"input_ids": i, "labels": lab} for i, lab in zip(*encoded.values(), strict=True)]
    collate = completion_collator(tokenizer)
    accelerator = Accelerator(cpu=True)
    backward_on_global_batch(accelerator, model, [collate(features)])
    backward_on_global_batch(accelerator, twin, [collate(features[:1]), collate(features[1:])])
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6, rtol=1e-4), name
