"""The word-level tokenizer: one token per number and per symbol, exact round trips, saved kind."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from hf_copycot import tasks
from hf_copycot.tokenizer import (
    NUMBER_WORDS,
    build_char_tokenizer,
    build_tokenizer,
    build_word_tokenizer,
    tokenizer_kind,
    untokenizable,
)

word = build_word_tokenizer()


@pytest.mark.parametrize("task", ["lis", "ed", "local_dp", "copy", "prefix_ngram"])
def test_every_text_of_the_task_comes_back_as_written(task):
    for split, (low, high) in tasks.split_lengths(task).items():
        rows = tasks.generate(task, 50, seed=1, min_length=low, max_length=high, split=split)
        texts = [
            *rows["prompt"],
            *(c + a for c, a in zip(rows["cot"], rows["answer"], strict=True)),
        ]
        assert untokenizable(word, texts) == [], split


def test_one_token_per_number_and_symbol():
    rows = tasks.generate("lis", 20, seed=0, min_length=50, max_length=50)
    for prompt, cot in zip(rows["prompt"], rows["cot"], strict=True):
        assert len(word(prompt, add_special_tokens=False).input_ids) == 50 + 1  # numbers and "|"
        assert len(word(cot, add_special_tokens=False).input_ids) == 50 + 1
    ids = word("m=2:3 -4 12|").input_ids
    assert word.convert_ids_to_tokens(ids) == ["<s>", "m", "=", "2", ":", "3", "-", "4", "12", "|"]
    assert word.decode(ids, skip_special_tokens=True) == "m=2:3 -4 12|"


def test_text_it_cannot_write_back_is_found():
    phonebook = tasks.generate("phonebook", 2, seed=0, min_length=5, max_length=5)["prompt"]
    assert untokenizable(word, phonebook) == phonebook  # spaces between words are dropped
    assert untokenizable(word, [str(NUMBER_WORDS), "007", "1 2"]) == [str(NUMBER_WORDS), "007"]
    assert untokenizable(build_char_tokenizer(), ["abc", "é"]) == ["é"]


def test_saved_folder_reloads_as_the_same_tokenizer(tmp_path):
    word.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer_kind(reloaded) == "word" and tokenizer_kind(build_char_tokenizer()) == "char"
    text = "0 2,2 3|3"
    assert reloaded(text).input_ids == word(text).input_ids
    assert reloaded.decode(reloaded(text).input_ids, skip_special_tokens=True) == text
    assert reloaded.get_vocab() == word.get_vocab()


def test_unknown_kind_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'; choose one of: char, word"):
        build_tokenizer("bpe")
