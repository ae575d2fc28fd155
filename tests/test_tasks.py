"""The task generators: every row checked by an independent solver, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_copycot import tasks
from hf_copycot.tasks import _text, ed, lis, local_dp, ngram_lookup, phonebook
from tests.reference_solvers import (
    check_row,
    edit_distance_alignments,
    edit_table,
    lis_ending_at_brute,
    local_dp_forward,
    local_dp_paths,
    unique_starts,
)

FAST = settings(max_examples=40, deadline=None)


def rows_of(columns: dict[str, list]) -> list[dict]:
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


@pytest.mark.parametrize("task", tasks.TASK_NAMES)
@pytest.mark.parametrize("split", tasks.SPLITS)
def test_every_row_of_every_split_is_correct(task, split):
    low, high = tasks.split_lengths(task, "small")[split]
    columns = tasks.generate(task, 60, seed=3, min_length=low, max_length=high, split=split)
    assert list(columns) == list(tasks.columns(task))
    assert list(columns)[:6] == list(tasks.SHARED_COLUMNS)
    for row in rows_of(columns):
        check_row(row)
        assert low <= row["length"] <= high and row["task"] == task
    assert len(set(columns["id"])) == 60


@pytest.mark.parametrize("task", tasks.TASK_NAMES)
def test_full_lengths_are_valid_and_checked(task):
    ranges = tasks.split_lengths(task, "full")
    low, high = ranges["test_long"]
    assert low > max(hi for split, (lo, hi) in ranges.items() if split != "test_long")
    columns = tasks.generate(task, 8, seed=11, min_length=high, max_length=high, split="test_long")
    for row in rows_of(columns):
        check_row(row)


@pytest.mark.parametrize("task", tasks.TASK_NAMES)
def test_same_seed_same_rows_other_seed_or_split_other_rows(task):
    low, high = tasks.split_lengths(task)["train"]
    first = tasks.generate(task, 20, seed=5, min_length=low, max_length=high)
    assert first == tasks.generate(task, 20, seed=5, min_length=low, max_length=high)
    other_seed = tasks.generate(task, 20, seed=6, min_length=low, max_length=high)
    other_split = tasks.generate(task, 20, seed=5, min_length=low, max_length=high, split="test")
    assert first["prompt"] != other_seed["prompt"]
    assert first["prompt"] != other_split["prompt"]


def test_many_blocks_concatenate_in_order():
    n = tasks.BLOCK_ROWS + 17
    columns = tasks.generate("copy", n, seed=1, min_length=1, max_length=3)
    assert len(columns["prompt"]) == n and columns["id"][-1] == f"copy-train-1-{n - 1}"
    head = tasks.generate("copy", n, seed=1, min_length=1, max_length=3)
    assert head == columns
    assert tasks.generate("copy", 0, seed=1, min_length=1, max_length=3)["prompt"] == []


@FAST
@given(
    seed=st.integers(0, 2**32),
    low=st.integers(4, 12),
    extra=st.integers(0, 10),
    n=st.integers(1, 3),
    alphabet=st.sampled_from(["ab", "abc", "abcdefghijklmnopqrstuvwxyz", "01 x-"]),
    answer_length=st.one_of(st.none(), st.integers(1, 4)),
    task=st.sampled_from(["prefix_ngram", "suffix_ngram"]),
)
def test_ngram_rows_for_any_parameters(seed, low, extra, n, alphabet, answer_length, task):
    params = {"n": n, "alphabet": alphabet, "answer_length": answer_length}
    try:
        columns = tasks.generate(
            task, 12, seed=seed, min_length=low, max_length=low + extra, **params
        )
    except ValueError as error:  # tiny alphabets can make unique n-grams impossible
        assert "exactly once" in str(error) and len(alphabet) <= 3
        return
    for row in rows_of(columns):
        check_row(row, params)


@FAST
@given(text=st.text(alphabet="abc", min_size=1, max_size=14), n=st.integers(1, 4))
def test_unique_ngram_starts_match_brute_force(text, n):
    codes = np.frombuffer(text.encode(), dtype=np.uint8)[None, :]
    rows, starts = ngram_lookup.unique_ngram_starts(codes, np.array([len(text)]), n)
    assert starts.tolist() == unique_starts(text, n) and set(rows.tolist()) <= {0}


@FAST
@given(
    st.lists(st.text(alphabet="abc", min_size=4, max_size=12), min_size=1, max_size=6),
    st.integers(0, 99),
)
def test_fast_unique_ngram_pick_is_a_unique_start_or_none(texts, seed):
    width = max(map(len, texts)) + 2
    codes = np.zeros((len(texts), width), dtype=np.uint8)
    for r, text in enumerate(texts):
        codes[r, : len(text)] = np.frombuffer(text.encode(), dtype=np.uint8)
    lengths = np.array([len(t) for t in texts])
    chosen = ngram_lookup._pick_unique(np.random.default_rng(seed), codes, lengths, 3)
    for text, start in zip(texts, chosen.tolist(), strict=True):
        expected = unique_starts(text, 3)
        assert (start == -1) if not expected else (start in expected)


def test_random_strings_are_zero_padded():
    # _pick_unique relies on it: an n-gram reaching into the padding must match no real n-gram.
    from hf_copycot.tasks.copy import random_strings

    lengths = np.array([1, 5, 9, 3])
    chars = random_strings(np.random.default_rng(0), lengths, "xyz", spare=2)
    inside = np.arange(chars.shape[1]) < lengths[:, None]
    assert chars.shape == (4, 11) and (chars[~inside] == 0).all()
    assert set(chars[inside].tobytes().decode()) <= set("xyz")


def test_unique_ngram_pick_is_uniform_over_the_unique_starts():
    text = "abcabcxyzab"  # "abc" repeats (starts 0, 3); "zab" has nothing after it (start 8)
    expected = unique_starts(text, 3)
    assert expected == [1, 2, 4, 5, 6, 7]
    codes = np.zeros((6000, len(text) + 2), dtype=np.uint8)
    codes[:, : len(text)] = np.frombuffer(text.encode(), dtype=np.uint8)
    chosen = ngram_lookup._pick_unique(np.random.default_rng(0), codes, np.full(6000, len(text)), 3)
    counts = np.bincount(chosen, minlength=len(text))
    assert sorted(np.nonzero(counts)[0].tolist()) == expected
    share = counts[expected] / 6000
    assert np.all(np.abs(share - 1 / len(expected)) < 0.03), share


@FAST
@given(st.lists(st.lists(st.integers(-3, 3), min_size=1, max_size=9), min_size=1, max_size=4))
def test_lis_solver_on_ties_and_runs(sequences):
    width = max(map(len, sequences))
    values = np.array([s + [99] * (width - len(s)) for s in sequences])
    ends = lis.solve(values, np.array([len(s) for s in sequences]))
    for row, s in zip(ends, sequences, strict=True):
        assert row[: len(s)].tolist() == lis_ending_at_brute(s)


@FAST
@given(
    st.lists(
        st.tuples(st.text("xyz", min_size=1, max_size=5), st.text("xyz", min_size=1, max_size=5)),
        min_size=1,
        max_size=4,
    )
)
def test_edit_distance_solver_matches_alignments(pairs):
    width_a = max(len(a) for a, _ in pairs)
    width_b = max(len(b) for _, b in pairs)
    pad = lambda s, w: list(s.encode()) + [ed._PAD] * (w - len(s))  # noqa: E731
    a = np.array([pad(x, width_a) for x, _ in pairs], dtype=np.uint8)
    b = np.array([pad(y, width_b) for _, y in pairs], dtype=np.uint8)
    table = ed.solve(a, b)
    for r, (x, y) in enumerate(pairs):
        expected = edit_table(x, y)
        for i in range(1, len(x) + 1):
            assert table[r, i - 1, : len(y) + 1].tolist() == expected[i]
        assert table[r, len(x) - 1, len(y)] == edit_distance_alignments(x, y)


@FAST
@given(
    st.lists(st.integers(-9, 9), min_size=1, max_size=8),
    st.integers(1, 9),
)
def test_local_dp_solver_matches_path_enumeration(values, m):
    dp = local_dp.solve(np.array([values]), np.array([m]))[0].tolist()
    assert dp == local_dp_paths(values, m) == local_dp_forward(values, m)


@FAST
@given(seed=st.integers(0, 2**32), m=st.one_of(st.none(), st.integers(1, 12)), n=st.integers(1, 25))
def test_local_dp_rows_for_any_window(seed, m, n):
    columns = tasks.generate("local_dp", 6, seed=seed, min_length=1, max_length=n, m=m)
    for row in rows_of(columns):
        check_row(row)
        if m is not None:
            assert row["m"] == m


def test_local_dp_every_split_covers_local_and_global_windows():
    for split, (low, high) in tasks.split_lengths("local_dp", "full").items():
        columns = tasks.generate(
            "local_dp", 200, seed=0, min_length=low, max_length=high, split=split
        )
        windows = np.array(columns["m"])
        lengths = np.array(columns["length"])
        assert (windows <= 3).sum() > 20, split
        assert (windows == lengths).sum() > 20, split
        assert ((windows > 3) & (windows < lengths)).sum() > 20, split


def test_lis_answers_spread_over_the_range():
    columns = tasks.generate("lis", 400, seed=0, min_length=40, max_length=40)
    answers = np.array(columns["answer"], dtype=int)
    assert answers.min() <= 12 and answers.max() >= 30  # a plain random sequence gives ~2 sqrt(n)


def test_ed_distances_spread_and_sub_alphabets_are_small():
    columns = tasks.generate("ed", 300, seed=0, min_length=10, max_length=10)
    distances = np.array(columns["answer"], dtype=int)
    assert (distances <= 6).sum() > 20 and (distances >= 20).sum() > 20
    assert all(
        len(set(a + b)) <= 10 for a, b in zip(columns["string_a"], columns["string_b"], strict=True)
    )


def test_phonebook_names_ship_with_the_package_and_fill_large_books():
    first, last = phonebook.name_lists()
    assert len(first) >= 150 and len(last) >= 150
    assert all(name.isascii() and name.isalpha() for name in first + last)
    columns = tasks.generate("phonebook", 2, seed=0, min_length=600, max_length=600)
    for row in rows_of(columns):
        check_row(row)


@FAST
@given(st.lists(st.integers(-(10**12), 10**12), max_size=30))
def test_integer_text_matches_str(values):
    text = _text.render(
        [_text.join_ints(np.array(values, dtype=np.int64), np.array([len(values)]), b", ")], 1
    )
    assert text == [", ".join(map(str, values))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "copyy"}, "unknown task 'copyy'"),
        ({"min_length": 9, "max_length": 3}, "min_length 9 is larger than max_length 3"),
        ({"num_rows": -1}, "num_rows must be a non-negative integer"),
        ({"seed": -2}, "seed must be a non-negative integer"),
        ({"seed": True}, "seed must be a non-negative integer"),
        ({"min_length": 0}, "min_length must be a positive integer"),
        ({"colour": "red"}, "unknown parameter 'colour' for task 'copy'"),
        ({"alphabet": "ab|"}, "alphabet contains '|'"),
        ({"alphabet": "ab."}, "alphabet contains '.'"),
        ({"alphabet": "aba"}, "repeated characters"),
        ({"task": "prefix_ngram", "min_length": 3}, "too short for 3-grams"),
        ({"task": "phonebook", "min_length": 2}, "at least 3 entries"),
        ({"task": "ed", "max_alphabet": 27}, "max_alphabet <= 26"),
        ({"task": "local_dp", "m": 0}, "m must be >= 1"),
        ({"task": "stream_dp", "m": 0}, "m must be >= 1"),
        ({"task": "stream_dp", "m_choices": []}, "m_choices must be a non-empty list"),
        ({"task": "stream_dp", "m_choices": [1, 0]}, "m_choices entry must be >= 1"),
        ({"task": "lis", "min_value": 5, "max_value": 1}, "min_value 5 is larger than max_value 1"),
    ],
)
def test_bad_requests_fail_with_one_line_messages(kwargs, message):
    call = {"task": "copy", "num_rows": 4, "seed": 0, "min_length": 5, "max_length": 8, **kwargs}
    task, num_rows = call.pop("task"), call.pop("num_rows")
    with pytest.raises(ValueError, match=message) as error:
        tasks.generate(task, num_rows, **call)
    assert "\n" not in str(error.value)


def test_split_tables_cover_every_task_and_size():
    for task in tasks.TASK_NAMES:
        for size in tasks.SIZES:
            assert set(tasks.split_lengths(task, size)) == set(tasks.SPLITS)
            assert all(n > 0 for n in tasks.split_rows(task, size).values())
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        tasks.split_lengths("copy", "huge")


@pytest.mark.parametrize(
    ("task", "params"),
    [
        ("ed", {"independent_fraction": 0.0}),
        ("ed", {"independent_fraction": 1.0, "max_length_gap": 1}),
        ("ed", {"min_alphabet": 1, "max_alphabet": 2}),
        ("ed", {"min_alphabet": 26, "max_alphabet": 26}),
        ("lis", {"plant": False}),
        ("lis", {"min_value": -50, "max_value": 50}),
        ("local_dp", {"global_fraction": 1.0}),
        ("local_dp", {"min_value": 0, "max_value": 0}),
        ("copy", {"alphabet": "01"}),
        ("stream_dp", {"m": 3}),
        ("stream_dp", {"m_choices": [1, 30]}),
    ],
)
def test_non_default_parameters_still_give_correct_rows(task, params):
    low, high = tasks.split_lengths(task)["test_long"]
    columns = tasks.generate(task, 40, seed=2, min_length=low, max_length=high, **params)
    for row in rows_of(columns):
        check_row(row, params)
    if params.get("global_fraction") == 1.0:
        assert columns["m"] == columns["length"]
