"""copy_accuracy: hand-made cases, properties, bad input, long and Unicode strings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_helpers import load_metric, scoring_module

copy_accuracy = load_metric("copy_accuracy")

# (generation, reference, exact_match, char_accuracy, prefix_length)
CASES = [
    ("abcde", "abcde", 1.0, 1.0, 5),
    ("abc", "abcde", 0.0, 3 / 5, 3),  # truncated
    ("abcdefgh", "abcde", 0.0, 5 / 8, 5),  # run-on
    ("abcde.fgh", "abcde", 1.0, 1.0, 5),  # run-on after an end marker is cut
    ("abcde\nabcde", "abcde", 1.0, 1.0, 5),
    ("abcde</s>junk", "abcde", 1.0, 1.0, 5),
    ("abcde<|endoftext|>", "abcde", 1.0, 1.0, 5),
    ("", "abcde", 0.0, 0.0, 0),  # empty generation
    (".abcde", "abcde", 0.0, 0.0, 0),  # ends before it starts
    ("", "", 1.0, 1.0, 0),
    ("bcdef", "abcdef", 0.0, 0.0, 0),  # off by one: shifted left
    ("aabcde", "abcde", 0.0, 1 / 6, 1),  # off by one: shifted right
    ("abde", "abcde", 0.0, 2 / 5, 2),  # one character dropped
    ("abXde", "abcde", 0.0, 4 / 5, 2),  # one substituted
    ("日本語x", "日本語y", 0.0, 3 / 4, 3),
    ("é😀b", "é😀b", 1.0, 1.0, 3),
]


@pytest.mark.parametrize(("generation", "reference", "exact", "chars", "prefix"), CASES)
def test_hand_made_cases(generation, reference, exact, chars, prefix):
    results = copy_accuracy.compute(predictions=[generation], references=[reference])
    assert results["exact_match"] == exact
    assert results["char_accuracy"] == pytest.approx(chars)
    assert results["prefix_length"] == prefix


def test_means_over_a_batch_and_json_round_trip():
    generations, references, exact, chars, prefix = zip(*CASES, strict=True)
    results = copy_accuracy.compute(predictions=list(generations), references=list(references))
    assert results["exact_match"] == pytest.approx(sum(exact) / len(CASES))
    assert results["char_accuracy"] == pytest.approx(sum(chars) / len(CASES))
    assert results["prefix_length"] == pytest.approx(sum(prefix) / len(CASES))
    assert json.loads(json.dumps(results)) == results


def test_end_markers_are_configurable():
    kept = copy_accuracy.compute(predictions=["abcde."], references=["abcde"], end_markers=[])
    assert kept["exact_match"] == 0.0 and kept["char_accuracy"] == pytest.approx(5 / 6)
    custom = copy_accuracy.compute(predictions=["abcde|x"], references=["abcde"], end_markers=["|"])
    assert custom["exact_match"] == 1.0


def test_by_length_groups_per_reference_length_by_default():
    results = copy_accuracy.compute(
        predictions=["ab", "xy", "abcd"], references=["ab", "ab", "abcd"]
    )
    assert results["by_length"] == {
        "2": {"count": 2, "exact_match": 0.5, "char_accuracy": 0.5, "prefix_length": 1.0},
        "4": {"count": 1, "exact_match": 1.0, "char_accuracy": 1.0, "prefix_length": 4.0},
    }


def test_by_length_uses_given_lengths_and_buckets():
    predictions, references = ["a", "b", "c", "x"], ["a", "b", "c", "d"]
    by_edges = copy_accuracy.compute(
        predictions=predictions,
        references=references,
        lengths=[1, 10, 11, 30],
        length_buckets=[5, 10, 20],
    )["by_length"]
    assert {label: group["count"] for label, group in by_edges.items()} == {
        "<5": 1,
        "10-19": 2,
        ">=20": 1,
    }
    assert by_edges[">=20"]["exact_match"] == 0.0 and by_edges["10-19"]["exact_match"] == 1.0
    by_count = copy_accuracy.compute(
        predictions=predictions, references=references, lengths=[1, 2, 3, 4], length_buckets=2
    )["by_length"]
    assert {label: group["count"] for label, group in by_count.items()} == {"1-2": 2, "3-4": 2}


def test_long_and_mixed_length_strings():
    long = "ab" * 500_000
    results = copy_accuracy.compute(
        predictions=[long, long[:-1] + "x", "short", "ü" * 1000],
        references=[long, long, "short", "ü" * 999],
    )
    assert results["exact_match"] == 0.5
    expected_chars = (1 + (10**6 - 1) / 10**6 + 1 + 999 / 1000) / 4
    assert results["char_accuracy"] == pytest.approx(expected_chars)
    assert results["prefix_length"] == pytest.approx((10**6 + 10**6 - 1 + 5 + 999) / 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predictions": ["a", 3], "references": ["a", "b"]}, r"predictions\[1\] is int"),
        ({"predictions": [None], "references": ["a"]}, r"predictions\[0\] is NoneType"),
        ({"predictions": ["a"], "references": [b"a"]}, r"references\[0\] is bytes"),
        ({"predictions": "abc", "references": "abc"}, "predictions must be a list of str"),
        ({"predictions": ["a"], "references": ["a", "b"]}, "references has 2 items"),
        ({"predictions": [], "references": []}, "predictions is empty"),
        ({"predictions": ["a"], "references": ["a"], "lengths": [1, 2]}, "lengths has 2 items"),
        ({"predictions": ["a"], "references": ["a"], "lengths": [-1]}, r"lengths\[0\] is -1"),
        ({"predictions": ["a"], "references": ["a"], "lengths": ["1"]}, r"lengths\[0\] is '1'"),
        ({"predictions": ["a"], "references": ["a"], "length_buckets": [5, 3]}, "length_buckets"),
        ({"predictions": ["a"], "references": ["a"], "length_buckets": 0}, "length_buckets"),
        ({"predictions": ["a"], "references": ["a"], "end_markers": "."}, "end_markers must be"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        copy_accuracy.compute(**kwargs)
    # The failed call leaves no locked cache file behind, and the next one works.
    assert not list(Path(copy_accuracy.data_dir).glob("*.arrow"))
    assert copy_accuracy.compute(predictions=["a"], references=["a"])["exact_match"] == 1.0


def test_add_and_add_batch_check_their_inputs():
    with pytest.raises(ValueError, match="prediction"):
        copy_accuracy.add(prediction=1, reference="a")
    copy_accuracy.add_batch(predictions=["ab"], references=["ab"])
    copy_accuracy.add(prediction="ab", reference="xb")
    assert copy_accuracy.compute()["exact_match"] == 0.5


def reference_scores(generation: str, reference: str) -> tuple[float, float, int]:
    """Plain-Python definition the vectorised code must agree with."""
    generation = scoring_module("copy_accuracy").cut_at_end_marker(generation)
    longer = max(len(generation), len(reference))
    agree = [a == b for a, b in zip(generation, reference, strict=False)]
    prefix = agree.index(False) if False in agree else len(agree)
    return float(generation == reference), (sum(agree) / longer if longer else 1.0), prefix


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=30))
def test_vectorised_scores_match_the_plain_definition_across_chunks(pairs):
    module = scoring_module("copy_accuracy")
    generations, references = (list(column) for column in zip(*pairs, strict=True))
    old_chunk = module._CHUNK_CHARS
    module._CHUNK_CHARS = 50  # force many small chunks
    try:
        scores = module.score_copies(generations, references)
    finally:
        module._CHUNK_CHARS = old_chunk
    for i, (generation, reference) in enumerate(pairs):
        exact, chars, prefix = reference_scores(generation, reference)
        assert scores["exact_match"][i] == exact
        assert scores["char_accuracy"][i] == pytest.approx(chars)
        assert scores["prefix_length"][i] == prefix


no_markers = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=".\n<"))


@settings(max_examples=40, deadline=None)
@given(no_markers.filter(lambda s: len(set(s)) > 1), st.randoms(use_true_random=False))
def test_perfect_scores_one_and_a_permutation_scores_less(reference, rng):
    perfect = copy_accuracy.compute(predictions=[reference], references=[reference])
    assert perfect["exact_match"] == perfect["char_accuracy"] == 1.0
    assert perfect["prefix_length"] == len(reference)
    shuffled = reference
    while shuffled == reference:
        shuffled = "".join(rng.sample(reference, len(reference)))
    permuted = copy_accuracy.compute(predictions=[shuffled], references=[reference])
    assert permuted["exact_match"] == 0.0
    assert permuted["char_accuracy"] < 1.0
    assert permuted["prefix_length"] < len(reference)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=10))
def test_scores_are_never_nan_and_stay_in_range(pairs):
    generations, references = (list(column) for column in zip(*pairs, strict=True))
    results = copy_accuracy.compute(predictions=generations, references=references)
    for name in ("exact_match", "char_accuracy"):
        assert 0.0 <= results[name] <= 1.0
    assert not math.isnan(results["prefix_length"])
    for group in results["by_length"].values():
        assert all(not math.isnan(value) for value in group.values())


def test_accepts_dataset_columns_and_numpy_arrays():
    rows = datasets.Dataset.from_dict({"answer": ["abc", "de"], "length": [3, 2]})
    from_columns = copy_accuracy.compute(
        predictions=rows["answer"], references=rows["answer"], lengths=rows["length"]
    )
    from_numpy = copy_accuracy.compute(
        predictions=np.array(["abc", "dx"]),
        references=np.array(["abc", "de"]),
        lengths=np.array([3, 2]),
    )
    assert from_columns["exact_match"] == 1.0 and from_numpy["exact_match"] == 0.5
