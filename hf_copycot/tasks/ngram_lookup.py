"""n-gram lookup (Jelassi et al. 2024), shared by `prefix_ngram` and `suffix_ngram`.

A random string `s` and an n-gram of it that occurs exactly once; the answer is the continuation of
`s` after that occurrence (the whole rest of `s`, or its first `answer_length` characters). Unlike
the reference, the queried n-gram is never repeated elsewhere in `s` (the answer is unique) and any
start position with at least one character after the n-gram can be queried (the reference never
queried the last positions). Strings with no such n-gram are redrawn.

Defaults: n = 3, alphabet = 26 lowercase letters, answer_length = None (the whole rest).
Lengths (`len(s)`, at least n + 1): `small` 5-20 (test_long 21-40); `full` 5-50 (test_long 51-100),
as for copy. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _text
from hf_copycot.tasks._spec import check_alphabet, check_int, lengths_table, rows_table
from hf_copycot.tasks.copy import LOWERCASE, random_strings

DEFAULT_PARAMS = {"alphabet": LOWERCASE, "n": 3, "answer_length": None}
LENGTHS = lengths_table(small=(5, 20), small_long=(21, 40), full=(5, 50), full_long=(51, 100))
ROWS = rows_table(full_train=100_000, full_eval=2_000)
EXTRA_COLUMNS = {"ngram": "string"}
MAX_REDRAWS = 100


def unique_ngram_starts(codes: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Every start j of an n-gram that occurs once in its row and has a character after it.

    Returns (rows, starts) of those positions in row-major order.
    """
    num_rows, width = codes.shape
    num_starts = width - n + 1
    if num_starts <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # Exact integer key of every n-gram: its characters as digits of a base-256 number.
    keys = np.zeros((num_rows, num_starts), dtype=np.int64)
    for k in range(n):
        keys = keys * 256 + codes[:, k : k + num_starts]
    row, start = np.nonzero(np.arange(num_starts) <= (lengths - n)[:, None])
    key = keys[row, start]
    order = np.lexsort((key, row))
    sorted_row, sorted_key = row[order], key[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (sorted_row[1:] != sorted_row[:-1]) | (sorted_key[1:] != sorted_key[:-1])
    run_id = np.cumsum(new_run) - 1
    count = np.empty(len(order), dtype=np.int64)
    count[order] = np.bincount(run_id)[run_id]
    eligible = (count == 1) & (start <= lengths[row] - n - 1)
    return row[eligible], start[eligible]


def sample(
    rng: np.random.Generator, lengths: np.ndarray, alphabet: str, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Strings (padded code matrix) and one uniformly chosen unique n-gram start per row."""
    num_rows = len(lengths)
    codes = np.zeros((num_rows, int(lengths.max()) if num_rows else 0), dtype=np.uint8)
    starts = np.zeros(num_rows, dtype=np.int64)
    pending = np.arange(num_rows)
    for _ in range(MAX_REDRAWS):
        if len(pending) == 0:
            return codes, starts
        drawn = random_strings(rng, lengths[pending], alphabet)
        rows, cand = unique_ngram_starts(drawn, lengths[pending], n)
        per_row = np.bincount(rows, minlength=len(pending))
        first = np.cumsum(per_row) - per_row
        pick = np.floor(rng.random(len(pending)) * per_row).astype(np.int64)
        ok = per_row > 0
        chosen = cand[(first + pick)[ok]]
        codes[pending[ok], : drawn.shape[1]] = drawn[ok]
        starts[pending[ok]] = chosen
        pending = pending[~ok]
    raise ValueError(
        f"no string of length {int(lengths[pending].min())} over {len(alphabet)} characters had an "
        f"{n}-gram occurring exactly once after {MAX_REDRAWS} draws; use a larger alphabet, a smaller "
        "n or longer strings"
    )


def build_parts(
    rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]
) -> tuple[_text.Ragged, _text.Ragged, dict[str, list]]:
    """The strings, the n-grams, and the columns answer and ngram."""
    n = params["n"]
    codes, starts = sample(rng, lengths, params["alphabet"], n)
    rest = lengths - starts - n
    answer_lengths = (
        rest if params["answer_length"] is None else np.minimum(rest, params["answer_length"])
    )
    strings = _text.padded_rows(codes, lengths)
    ngrams = _text.padded_rows(codes, np.full(len(lengths), n), starts)
    answers = _text.padded_rows(codes, answer_lengths, starts + n)
    num_rows = len(lengths)
    columns = {
        "answer": _text.render([answers], num_rows),
        "ngram": _text.render([ngrams], num_rows),
    }
    return strings, ngrams, columns


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    check_alphabet(params["alphabet"])
    n = check_int("n", params["n"], minimum=1)
    if params["answer_length"] is not None:
        check_int("answer_length", params["answer_length"], minimum=1)
    if n > 7:
        raise ValueError(f"n = {n} is too large: use an n-gram size of at most 7")
    if min_length < n + 1:
        raise ValueError(
            f"min_length {min_length} is too short for {n}-grams: strings need at least n + 1 = "
            f"{n + 1} characters (the n-gram and one character after it)"
        )
