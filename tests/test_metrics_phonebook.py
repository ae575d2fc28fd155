"""phonebook_accuracy: hand-made cases, properties and bad input."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_helpers import load_metric

phonebook_accuracy = load_metric("phonebook_accuracy")
NUMBER = " 6123456789"  # the dataset's answer keeps the space after the colon

# (generation, exact_match, digit_accuracy) against NUMBER
CASES = [
    (" 6123456789", 1.0, 1.0),
    ("6123456789", 1.0, 1.0),  # no leading space
    (" 6123456789\nAda Lovelace: 7000000000", 1.0, 1.0),  # run-on into the next entry
    ("  6123456789  \n", 1.0, 1.0),  # first line, stripped
    ("\n\n  6123456789  \n", 0.0, 0.0),  # the first line is empty (Jelassi et al.)
    (" 6123456789.", 0.0, 10 / 11),  # Jelassi et al.: the "." is part of the line
    (" 6123456789</s>", 0.0, 10 / 14),
    (" 612345678", 0.0, 0.9),  # truncated
    (" 61234567890", 0.0, 10 / 11),  # run-on digits
    (" 7123456789", 0.0, 0.9),  # one digit wrong
    (" 1234567890", 0.0, 0.0),  # off by one: shifted left
    ("", 0.0, 0.0),
    ("\n\n", 0.0, 0.0),
    ("</s> 6123456789", 0.0, 0.0),  # ended before answering
    ("Ada Lovelace: 6123456789", 0.0, 0.0),  # echoes the name
    (" ٦١٢٣٤٥٦٧٨٩", 0.0, 0.0),  # other-script digits are not the number
]


@pytest.mark.parametrize(("generation", "exact", "digits"), CASES)
def test_hand_made_cases(generation, exact, digits):
    results = phonebook_accuracy.compute(predictions=[generation], references=[NUMBER])
    assert results["exact_match"] == exact
    assert results["digit_accuracy"] == pytest.approx(digits)
    assert results["by_num_entries"] is None


def test_by_num_entries_groups_and_buckets():
    kwargs = {
        "predictions": [NUMBER, " 0", NUMBER, NUMBER],
        "references": [NUMBER] * 4,
        "num_entries": [10, 10, 50, 200],
    }
    results = phonebook_accuracy.compute(**kwargs)
    assert results["by_num_entries"]["10"] == {
        "count": 2,
        "exact_match": 0.5,
        "digit_accuracy": 0.5,
    }
    assert list(results["by_num_entries"]) == ["10", "50", "200"]
    bucketed = phonebook_accuracy.compute(**kwargs, length_buckets=[0, 100, 1000])
    assert {k: v["count"] for k, v in bucketed["by_num_entries"].items()} == {
        "0-99": 3,
        "100-999": 1,
    }
    assert json.loads(json.dumps(results)) == results


def test_long_generation_and_end_markers():
    long = " 6123456789" + "9" * 10**6
    results = phonebook_accuracy.compute(predictions=[long], references=[NUMBER])
    assert results["exact_match"] == 0.0
    assert results["digit_accuracy"] == pytest.approx(10 / (10 + 10**6))
    kept = phonebook_accuracy.compute(
        predictions=[NUMBER + "."], references=[NUMBER], end_markers=[]
    )
    assert kept["exact_match"] == 0.0
    cut = phonebook_accuracy.compute(
        predictions=[NUMBER + "."], references=[NUMBER], end_markers=[".", "\n"]
    )
    assert cut["exact_match"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predictions": [6123456789], "references": [NUMBER]}, r"predictions\[0\] is int"),
        ({"predictions": [NUMBER], "references": [NUMBER, NUMBER]}, "references has 2 items"),
        ({"predictions": [], "references": []}, "predictions is empty"),
        ({"predictions": [NUMBER], "references": [NUMBER], "num_entries": [1, 2]}, "num_entries"),
        ({"predictions": [NUMBER], "references": [NUMBER], "num_entries": [1.5]}, "num_entries"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        phonebook_accuracy.compute(**kwargs)


numbers = st.text(alphabet="0123456789", min_size=10, max_size=10)


@settings(max_examples=30, deadline=None)
@given(numbers.filter(lambda n: len(set(n)) > 1), st.randoms(use_true_random=False))
def test_perfect_scores_one_and_a_permutation_scores_less(number, rng):
    perfect = phonebook_accuracy.compute(predictions=[" " + number], references=[" " + number])
    assert perfect["exact_match"] == perfect["digit_accuracy"] == 1.0
    shuffled = number
    while shuffled == number:
        shuffled = "".join(rng.sample(number, len(number)))
    permuted = phonebook_accuracy.compute(predictions=[" " + shuffled], references=[" " + number])
    assert permuted["exact_match"] == 0.0 and permuted["digit_accuracy"] < 1.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=12)), min_size=1, max_size=8))
def test_scores_are_never_nan_and_stay_in_range(pairs):
    generations, references = (list(column) for column in zip(*pairs, strict=True))
    results = phonebook_accuracy.compute(predictions=generations, references=references)
    for name in ("exact_match", "digit_accuracy"):
        assert not math.isnan(results[name]) and 0.0 <= results[name] <= 1.0


def jelassi_rule(generation: str, label: str) -> bool:
    """Jelassi et al.'s phone-book scoring, written from their paper's code: the decoded text's
    first line, stripped, equals the label."""
    return generation.split("\n")[0].strip() == label.strip()


@pytest.mark.parametrize(
    "generation",
    [
        " 6123456789",
        "\n 6123456789",
        " 6123456789\n\n",
        " 612345678",
        "6123456789 \nx",
        " 6123456789.",
        " 6123456789<|endoftext|>",
        "",
    ],
)
def test_first_line_as_jelassi_and_lenient_option(generation):
    default = phonebook_accuracy.compute(predictions=[generation], references=[NUMBER])
    assert default["exact_match"] == jelassi_rule(generation, NUMBER)
    lenient = phonebook_accuracy.compute(
        predictions=[generation], references=[NUMBER], skip_blank_lines=True
    )
    first_non_empty = next((line for line in generation.split("\n") if line.strip()), "")
    assert lenient["exact_match"] == (first_non_empty.strip() == NUMBER.strip())


def test_skip_blank_lines_must_be_a_bool():
    with pytest.raises(ValueError, match="skip_blank_lines must be True or False"):
        phonebook_accuracy.compute(predictions=[NUMBER], references=[NUMBER], skip_blank_lines=1)
