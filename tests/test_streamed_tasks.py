"""Tasks whose input arrives inside the completion (stream_dp): no loss on the given input, and
evaluation feeds it in place while the model writes the rest."""

from __future__ import annotations

import pytest
import torch

from hf_copycot import tasks
from hf_copycot.collation import (
    IGNORE_INDEX,
    completions_of,
    forced_tokens,
    targets_of,
    tokenize_completions,
)
from hf_copycot.evaluation import generate_batch
from hf_copycot.metrics import score
from hf_copycot.models import load_model_and_tokenizer
from hf_copycot.tokenizer import build_char_tokenizer

ROWS = tasks.generate("stream_dp", 12, seed=4, min_length=2, max_length=9, split="test")


@pytest.mark.parametrize("use_cot", [True, False])
def test_segments_join_to_the_target_and_alternate_input_and_states(use_cot):
    rows = [dict(zip(ROWS, values, strict=True)) for values in zip(*ROWS.values(), strict=True)]
    for segments, row in zip(completions_of(ROWS, use_cot), rows, strict=True):
        text = "".join(part for part, _ in segments)
        written = "".join(part for part, given in segments if not given)
        if use_cot:
            assert text == row["cot"] + row["answer"]
            # The model writes each state and, at the end, "|" and the answer: nothing else.
            states = [step.split(":")[1] for step in row["cot"][:-1].split(" ")]
            assert written == "".join(states) + "|" + row["answer"]
            assert [given for _, given in segments] == [True, False] * row["length"]
        else:
            assert text == " ".join(map(str, row["values"])) + "|" + row["answer"]
            assert written == row["answer"]
    assert targets_of(ROWS, use_cot) == [
        "".join(part for part, _ in segments) for segments in completions_of(ROWS, use_cot)
    ]


def test_given_input_gets_no_loss_and_written_text_does():
    tokenizer = build_char_tokenizer()
    segments = completions_of(ROWS, True)
    encoded = tokenize_completions(tokenizer, list(ROWS["prompt"]), segments)
    for ids, labels, prompt, parts in zip(
        encoded["input_ids"], encoded["labels"], ROWS["prompt"], segments, strict=True
    ):
        trained = [
            tokenizer.decode([t])
            for t, label in zip(ids, labels, strict=True)
            if label != IGNORE_INDEX
        ]
        written = "".join(part for part, given in parts if not given)
        assert "".join(trained[:-1]) == written and labels[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids[1:-1]) == prompt + "".join(part for part, _ in parts)
    # A task without given input keeps one written segment: everything after the prompt.
    copy_rows = tasks.generate("copy", 3, seed=0, min_length=3, max_length=5)
    assert completions_of(copy_rows, True) == [[(a, False)] for a in copy_rows["answer"]]


def test_forced_tokens_are_the_given_tokens_at_their_offsets():
    tokenizer = build_char_tokenizer()
    segments = [("3:", True), ("3", False), (" 5:", True), ("8|8", False)]
    forced = forced_tokens(tokenizer, segments)
    assert {k: tokenizer.decode([t]) for k, t in forced.items()} == {
        0: "3",
        1: ":",
        3: " ",
        4: "5",
        5: ":",
    }


@pytest.fixture(scope="module")
def random_mamba():
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(
        "preset:mamba-tiny", config_overrides="initializer_range=0.5"
    )
    return model.eval(), tokenizer


def test_generation_feeds_the_input_and_the_model_writes_the_rest(random_mamba):
    """Equal to a hand-written loop: feed the prompt, then at each offset the given token or the
    model's own greedy choice, one token at a time."""
    model, tokenizer = random_mamba
    segments = completions_of(ROWS, True)
    forced = [forced_tokens(tokenizer, parts) for parts in segments]
    targets = targets_of(ROWS, True)
    budgets = [len(tokenizer(t, add_special_tokens=False).input_ids) + 1 for t in targets]
    texts = generate_batch(
        model, tokenizer, list(ROWS["prompt"]), max_new_tokens=budgets, forced=forced, batch_size=5
    )
    for prompt, given, budget, text in zip(ROWS["prompt"], forced, budgets, texts, strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        new: list[int] = []
        with torch.no_grad():
            for offset in range(budget):
                choice = int(model(ids).logits[0, -1].argmax())
                token = given.get(offset, choice)
                if token == tokenizer.eos_token_id:
                    break
                new.append(token)
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert text == tokenizer.decode(new)
        for offset, token in given.items():  # the input is there whatever the model predicted
            if offset < len(new):
                assert new[offset] == token


@pytest.mark.parametrize("use_cot", [True, False])
def test_the_right_stream_scores_one_and_a_wrong_state_costs(use_cot):
    targets = targets_of(ROWS, use_cot)
    perfect = score("stream_dp", targets, ROWS, use_cot)
    assert perfect["answer_accuracy"] == 1.0 and perfect["parse_rate"] == 1.0
    if use_cot:
        assert perfect["exact_match"] == 1.0
        # Change the last state and the answer of the first row: its steps are 1 short.
        first = targets[0]
        wrong_digit = str((int(first[-1]) + 1) % 10)
        broken = first[:-3] + wrong_digit + "|" + wrong_digit
        scores = score("stream_dp", [broken, *targets[1:]], ROWS, use_cot)
        assert scores["answer_accuracy"] == pytest.approx(11 / 12)
        assert scores["step_accuracy"] == pytest.approx(1 - 1 / (12 * ROWS["length"][0]))
