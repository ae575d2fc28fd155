"""Phone-book lookup (Jelassi et al. 2024's experiment with pretrained models).

Row: prompt = N lines `First Last: dddddddddd` joined by "\\n", a blank line, two lines of the book
(few-shot examples), a blank line, then a third entry's `First Last:`; cot `""`; answer
`" " + number` (the space that follows the colon in the book); length N; extra column
`query_name` (`First Last`). Names pair a first and a last name from the lists shipped next to this
module (212 x 197 = 41,764 full names), no full name twice in a book; numbers have 10 digits, the
first in 6-9. The three looked-up entries are distinct.

Defaults: no parameters. Lengths (entries, at least 3): `small` 5-20 (test_long 21-40); `full`
10-100 (test_long 101-150: about 1,500-2,300 Pythia tokens, inside a 2,048-token context at the
low end). Rows: `full` has 20,000 train (long prompts) and 1,000 per eval split.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from hf_copycot.tasks import _text
from hf_copycot.tasks._spec import ArenaSpec, TaskSpec, length_as, lengths_table, rows_table


@cache
def name_lists() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The shipped first and last names (plain ASCII letters, one per line)."""
    folder = resources.files("hf_copycot.tasks")
    first = tuple(folder.joinpath("first_names.txt").read_text("ascii").split())
    last = tuple(folder.joinpath("last_names.txt").read_text("ascii").split())
    return first, last


@cache
def _name_codes() -> tuple[_text.Ragged, _text.Ragged]:
    first, last = name_lists()

    def pack(names: tuple[str, ...]) -> _text.Ragged:
        codes = np.frombuffer("".join(names).encode("ascii"), dtype=np.uint8)
        return _text.ragged(codes, np.array([len(n) for n in names]))

    return pack(first), pack(last)


def distinct_indices(rng: np.random.Generator, counts: np.ndarray, universe: int) -> np.ndarray:
    """`counts[r]` distinct integers in [0, universe) per row, in random order, concatenated."""
    num_rows, width = len(counts), int(counts.max())
    active = np.arange(width) < counts[:, None]
    # Sorted draws from [0, universe - k] plus 0, 1, ..., k-1 are k distinct sorted values.
    draws = rng.integers(0, (universe - counts + 1)[:, None], size=(num_rows, width))
    draws = np.sort(np.where(active, draws, universe), axis=1) + np.arange(width)
    shuffle = np.argsort(np.where(active, rng.random((num_rows, width)), 2.0), axis=1)
    return np.take_along_axis(draws, shuffle, axis=1)[active]


def three_distinct(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Three distinct indices in [0, counts[r]) per row, shape (rows, 3)."""
    first = rng.integers(0, counts)
    second = (first + 1 + rng.integers(0, counts - 1)) % counts
    third = rng.integers(0, counts - 2)
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = third + (third >= low)
    third = third + (third >= high)
    return np.stack([first, second, third], axis=1)


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    first_codes, last_codes = _name_codes()
    num_last = len(last_codes.lengths)
    num_rows, num_entries = len(lengths), int(lengths.sum())
    full_name = distinct_indices(rng, lengths, len(first_codes.lengths) * num_last)
    names = _text.concat(
        [
            _text.take_items(first_codes, full_name // num_last),
            b" ",
            _text.take_items(last_codes, full_name % num_last),
        ],
        num_entries,
    )
    digits = rng.integers(0, 10, size=(num_entries, 10), dtype=np.uint8)
    digits[:, 0] = rng.integers(6, 10, size=num_entries)
    numbers = _text.ragged((digits + ord("0")).ravel(), np.full(num_entries, 10))
    entries = _text.concat([names, b": ", numbers], num_entries)
    book = _text.join(entries, lengths, b"\n")

    row_start = np.cumsum(lengths) - lengths
    picked = three_distinct(rng, lengths) + row_start[:, None]  # global entry indices
    shot_a = _text.take_items(entries, picked[:, 0])
    shot_b = _text.take_items(entries, picked[:, 1])
    query = _text.take_items(names, picked[:, 2])
    answer = _text.take_items(numbers, picked[:, 2])
    return {
        "prompt": _text.render(
            [book, b"\n\n", shot_a, b"\n", shot_b, b"\n\n", query, b":"], num_rows
        ),
        "cot": [""] * num_rows,
        "answer": _text.render([b" ", answer], num_rows),
        "query_name": _text.render([query], num_rows),
    }


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    first, last = name_lists()
    if min_length < 3:
        raise ValueError(
            f"min_length {min_length} is too small: a phone book needs at least 3 entries "
            "(two few-shot lines and the query)"
        )
    if max_length > len(first) * len(last):
        raise ValueError(
            f"max_length {max_length} exceeds the {len(first) * len(last)} distinct names available"
        )


SPEC = TaskSpec(
    name="phonebook",
    summary="Look up a name's 10-digit number in a phone book of N entries (two few-shot lines)",
    text_format=(
        'prompt = N lines `First Last: dddddddddd` joined by `"\\n"`, `"\\n\\n"`, two other lines of '
        'the book joined by `"\\n"`, `"\\n\\n"`, the query `First Last:`; cot `""`; answer `" " + number`'
    ),
    length_meaning="entries in the phone book",
    params={},
    lengths=lengths_table(small=(5, 20), small_long=(21, 40), full=(10, 100), full_long=(101, 150)),
    rows=rows_table(full_train=20_000, full_eval=1_000),
    extra_columns={"query_name": "string"},
    build=build,
    metric="phonebook_accuracy",
    main_score="exact_match",
    metric_inputs=length_as("num_entries"),
    check=check,
    arena=ArenaSpec(
        "phone book",
        note_of=lambda row: f"looking up {row['query_name']}",
        size_control="entries",
    ),
)
