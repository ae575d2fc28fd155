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

import random
from typing import Any

import numpy as np

from hf_copycot.tasks import _text
from hf_copycot.tasks._spec import (
    TypedPrompt,
    check_alphabet,
    check_int,
    lengths_table,
    rows_table,
)
from hf_copycot.tasks.copy import LOWERCASE, random_strings

DEFAULT_PARAMS = {"alphabet": LOWERCASE, "n": 3, "answer_length": None}
LENGTHS = lengths_table(small=(5, 20), small_long=(21, 40), full=(5, 50), full_long=(51, 100))
ROWS = rows_table(full_train=100_000, full_eval=2_000)
EXTRA_COLUMNS = {"ngram": "string"}
MAX_REDRAWS = 100
QUICK_TRIES = 3


def ngram_keys(codes: np.ndarray, n: int) -> np.ndarray:
    """Exact integer key of the n-gram at every start: its character codes as base-256 digits."""
    num_starts = codes.shape[1] - n + 1
    dtype = np.int32 if n <= 3 else np.int64  # 256**3 < 2**31: half the memory traffic
    keys = codes[:, :num_starts].astype(dtype)
    for k in range(1, n):
        keys <<= 8
        keys |= codes[:, k : k + num_starts]
    return keys


def unique_ngram_starts(codes: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Every start j of an n-gram that occurs once in its row and has a character after it.

    Returns (rows, starts) of those positions in row-major order. Sorts every row's keys.
    """
    num_starts = codes.shape[1] - n + 1
    if num_starts <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    columns = np.arange(num_starts)
    # Starts past the string get distinct negative keys, so they never match anything.
    keys = np.where(columns <= (lengths - n)[:, None], ngram_keys(codes, n), -1 - columns)
    order = np.argsort(keys, axis=1, kind="stable")
    ranked = np.take_along_axis(keys, order, axis=1)
    repeated = np.zeros(ranked.shape, dtype=bool)
    repeated[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    repeated[:, :-1] |= repeated[:, 1:].copy()
    once = np.empty(ranked.shape, dtype=bool)
    np.put_along_axis(once, order, ~repeated, axis=1)
    return np.nonzero(once & (columns <= (lengths - n - 1)[:, None]))


def _pick_unique(
    rng: np.random.Generator, codes: np.ndarray, lengths: np.ndarray, n: int
) -> np.ndarray:
    """A uniformly random unique-n-gram start per row, or -1 where a row has none.

    Fast path: draw a start uniformly and keep it if its n-gram occurs once (rejection sampling,
    so still uniform over the unique starts); rows that fail a few times take the exact search.
    Needs zero padding (`random_strings`): an n-gram that reaches into it matches no real one.
    """
    num_rows = len(lengths)
    keys = ngram_keys(codes, n)
    chosen = np.full(num_rows, -1, dtype=np.int64)
    todo = np.arange(num_rows)
    for _ in range(QUICK_TRIES):
        pick = np.floor(rng.random(len(todo)) * (lengths[todo] - n)).astype(np.int64)
        row_keys = keys if len(todo) == num_rows else keys[todo]
        picked = row_keys[np.arange(len(todo)), pick]
        hits = np.count_nonzero(row_keys == picked[:, None], axis=1)
        ok = hits == 1
        chosen[todo[ok]] = pick[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            return chosen
    rows, candidates = unique_ngram_starts(codes[todo], lengths[todo], n)
    per_row = np.bincount(rows, minlength=len(todo))
    first = np.cumsum(per_row) - per_row
    pick = np.floor(rng.random(len(todo)) * per_row).astype(np.int64)
    found = per_row > 0
    chosen[todo[found]] = candidates[(first + pick)[found]]
    return chosen


def sample(
    rng: np.random.Generator, lengths: np.ndarray, alphabet: str, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Strings (padded code matrix with 2 spare columns) and a unique n-gram start per row."""
    num_rows = len(lengths)
    codes = np.zeros((num_rows, (int(lengths.max()) if num_rows else 0) + 2), dtype=np.uint8)
    starts = np.zeros(num_rows, dtype=np.int64)
    pending = np.arange(num_rows)
    for _ in range(MAX_REDRAWS):
        if len(pending) == 0:
            return codes, starts
        drawn = random_strings(rng, lengths[pending], alphabet, spare=2)
        chosen = _pick_unique(rng, drawn, lengths[pending], n)
        ok = chosen >= 0
        if len(pending) == num_rows and ok.all():  # the usual case: no redraws
            return drawn, chosen
        codes[pending[ok], : drawn.shape[1]] = drawn[ok]
        starts[pending[ok]] = chosen[ok]
        pending = pending[~ok]
    raise ValueError(
        f"no string of length {int(lengths[pending].min())} over {len(alphabet)} characters had an "
        f"{n}-gram occurring exactly once after {MAX_REDRAWS} draws; use a larger alphabet, a smaller "
        "n or longer strings"
    )


def build_parts(
    rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strings (padded codes, 2 spare columns), their n-grams (rows, n) and n-gram starts."""
    n = params["n"]
    codes, starts = sample(rng, lengths, params["alphabet"], n)
    grams = np.take_along_axis(codes, starts[:, None] + np.arange(n), axis=1)
    return codes, grams, starts


def columns(
    codes: np.ndarray, grams: np.ndarray, starts: np.ndarray, lengths: np.ndarray, params: dict
) -> dict[str, list]:
    """The answer and ngram columns. Overwrites `codes` (call it after building the prompts)."""
    num_rows, n = grams.shape
    rest = lengths - starts - n
    limit = params["answer_length"]
    answer_lengths = rest if limit is None else np.minimum(rest, limit)
    gram_chars = np.zeros((num_rows, n + 1), dtype=np.uint8)
    gram_chars[:, :n] = grams
    return {
        "answer": _text.strings_of(codes, answer_lengths, starts + n),
        "ngram": _text.strings_of(gram_chars, np.full(num_rows, n)),
    }


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


def typed_prompt(where: str) -> TypedPrompt:
    """The arena's prompt for a typed string: an n-gram occurring once in it (drawn from `seed`)
    before (`where="prefix"`) or after (`"suffix"`) the string, expecting what follows it."""
    n = DEFAULT_PARAMS["n"]

    def prompt(text: str, seed: int) -> tuple[str, str, str]:
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)[None, :]
        _, starts = unique_ngram_starts(codes, np.array([len(text)]), n)
        if not len(starts):
            raise ValueError(
                f"no {n}-gram occurs exactly once in the string with a character after it; type a "
                "longer or more varied string"
            )
        start = int(random.Random(seed).choice(starts.tolist()))
        ngram = text[start : start + n]
        shown = f"{ngram}|{text}|" if where == "prefix" else f"{text}|{ngram}"
        return shown, text[start + n :], f"n-gram {ngram!r}"

    return prompt
