"""Edit distance with chain of thought (Feng et al. 2023).

Row: prompt `a + "|" + b + "|"`; cot = rows i = 1..len(a) of the DP table, each
`dp[i][1..len(b)]` joined by " ", rows joined by ",", then "|"; answer `str(dp[len(a)][len(b)])`;
length `len(a)`; extra columns `string_a`, `string_b`. Costs: insert and delete 2, substitute 3
(Feng et al.), with the correct boundary dp[i][0] = 2i, dp[0][j] = 2j (the reference starts
from i + j).

Sampling follows Feng et al.'s data.py: each row picks a random sub-alphabet of k lowercase letters,
k uniform in [min_alphabet, max_alphabet] = [3, 10], and draws `a` uniformly over it. With
probability independent_fraction = 0.4, `b` is an independent random string whose length is within
max_length_gap = 3 of len(a) (at least 1); otherwise `b` is `a` edited at a random rate q ~ U(0, 1):
every character is kept (1 - q), deleted (q/3), replaced by a random letter (q/3) or preceded by an
inserted random letter (q/3); an empty result is replaced by `a`. This spreads distances from 0 to
near the maximum.

Lengths (`len(a)`): `small` 3-8 (test_long 9-12); `full` 5-20 (test_long 21-30); Feng et al.
used fixed lengths up to 20-ish. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _spec, _text
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table

INSERT_DELETE_COST = 2
SUBSTITUTE_COST = 3
_PAD = 255  # code of padding characters: never equal to a letter


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DP table rows 1..width(a) for padded code matrices: shape (rows, width_a, width_b + 1).

    Row i is dp[i][0..width_b]; entries past a row's real lengths are padding, not distances.
    Each row is one vectorised step: dp[i][j] = min over k <= j of cand[k] + 2 (j - k), a prefix
    minimum, where cand is the best of deleting a[i] and substituting or matching it.
    """
    num_rows, width_a = a.shape
    width_b = b.shape[1]
    steps = INSERT_DELETE_COST * np.arange(width_b + 1, dtype=np.int32)
    previous = np.broadcast_to(steps, (num_rows, width_b + 1))
    table = np.empty((num_rows, width_a, width_b + 1), dtype=np.int32)
    for i in range(1, width_a + 1):
        substitute = np.where(a[:, i - 1 : i] == b, 0, SUBSTITUTE_COST).astype(np.int32)
        candidate = np.empty((num_rows, width_b + 1), dtype=np.int32)
        candidate[:, 0] = INSERT_DELETE_COST * i
        candidate[:, 1:] = np.minimum(
            previous[:, 1:] + INSERT_DELETE_COST, previous[:, :-1] + substitute
        )
        table[:, i - 1] = np.minimum.accumulate(candidate - steps, axis=1) + steps
        previous = table[:, i - 1]
    return table


def _letters(rng: np.random.Generator, sizes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Random indices into each row's sub-alphabet, shape `shape`."""
    return np.floor(rng.random(shape) * sizes[:, None]).astype(np.int64)


def sample(
    rng: np.random.Generator, len_a: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded code matrices a and b, and len(b) per row."""
    num_rows, width = len(len_a), int(len_a.max())
    alphabet_size = rng.integers(params["min_alphabet"], params["max_alphabet"] + 1, size=num_rows)
    sub_alphabet = np.argsort(rng.random((num_rows, 26)), axis=1).astype(np.uint8) + ord("a")
    rows = np.arange(num_rows)[:, None]
    a = sub_alphabet[rows, _letters(rng, alphabet_size, (num_rows, width))]
    a[np.arange(width) >= len_a[:, None]] = _PAD

    # Edited copies: per character 0 copies (delete), 1 (keep or substitute) or 2 (insert + keep).
    rate = rng.random(num_rows)[:, None]
    op = np.floor(rng.random((num_rows, width)) * 3).astype(np.int64)  # 0 delete, 1 sub, 2 insert
    edited = rng.random((num_rows, width)) < rate
    copies = np.where(edited, np.array([0, 1, 2])[op], 1)
    copies[np.arange(width) >= len_a[:, None]] = 0
    empty = copies.sum(axis=1) == 0
    copies[empty] = np.where(np.arange(width) < len_a[empty][:, None], 1, 0)
    edited[empty] = False
    flat_copies = copies.ravel()
    source = np.repeat(np.arange(num_rows * width), flat_copies)
    edited_len = copies.sum(axis=1)
    fresh = sub_alphabet[rows, _letters(rng, alphabet_size, (num_rows, width))].ravel()
    fresh_insert = sub_alphabet[rows, _letters(rng, alphabet_size, (num_rows, width))].ravel()
    flat_a, flat_edited, flat_op = a.ravel(), edited.ravel(), op.ravel()
    chars = flat_a[source]
    replaced = flat_edited[source] & (flat_op[source] == 1)
    chars[replaced] = fresh[source[replaced]]
    # For an insertion the first of the two copies is the new letter.
    first_copy = np.ones(len(source), dtype=bool)
    first_copy[1:] = source[1:] != source[:-1]
    inserted = flat_edited[source] & (flat_op[source] == 2) & first_copy
    chars[inserted] = fresh_insert[source[inserted]]

    # Independent strings for the other rows.
    independent = rng.random(num_rows) < params["independent_fraction"]
    gap = params["max_length_gap"]
    independent_len = np.maximum(1, len_a + rng.integers(-gap, gap + 1, size=num_rows))
    len_b = np.where(independent, independent_len, edited_len)
    width_b = int(len_b.max())
    b = np.full((num_rows, width_b), _PAD, dtype=np.uint8)
    edited_rows = np.repeat(np.arange(num_rows), edited_len)
    edited_cols = _text.run_positions(edited_len)
    keep = ~independent[edited_rows]
    b[edited_rows[keep], edited_cols[keep]] = chars[keep]
    random_b = sub_alphabet[rows, _letters(rng, alphabet_size, (num_rows, width_b))]
    fill = independent[:, None] & (np.arange(width_b) < len_b[:, None])
    b[fill] = random_b[fill]
    return a, b, len_b


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    a, b, len_b = sample(rng, lengths, params)
    table = solve(a, b)
    num_rows = len(lengths)
    row_valid = np.arange(a.shape[1]) < lengths[:, None]
    col_valid = (np.arange(b.shape[1] + 1) >= 1) & (np.arange(b.shape[1] + 1) <= len_b[:, None])
    values = table[row_valid[:, :, None] & col_valid[:, None, :]]
    table_rows = _text.join_ints(values, np.repeat(len_b, lengths), b" ")
    string_a = _text.padded_rows(a, lengths)
    string_b = _text.padded_rows(b, len_b)
    distance = table[np.arange(num_rows), lengths - 1, len_b]
    return {
        "prompt": _text.render([string_a, b"|", string_b, b"|"], num_rows),
        "cot": _text.render([_text.join(table_rows, lengths, b","), b"|"], num_rows),
        "answer": list(map(str, distance.tolist())),
        "string_a": _text.render([string_a], num_rows),
        "string_b": _text.render([string_b], num_rows),
    }


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    low = check_int("min_alphabet", params["min_alphabet"], minimum=1)
    high = check_int("max_alphabet", params["max_alphabet"], minimum=1)
    if low > high or high > 26:
        raise ValueError(
            f"sub-alphabet sizes [{low}, {high}] must satisfy 1 <= min_alphabet <= max_alphabet <= 26"
        )
    check_int("max_length_gap", params["max_length_gap"], minimum=0)
    fraction = params["independent_fraction"]
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"independent_fraction must be a number in [0, 1], got {fraction!r}")


SPEC = TaskSpec(
    name="ed",
    summary="Edit distance (insert/delete 2, substitute 3); cot = the DP table row by row",
    text_format='prompt `a + "|" + b + "|"`, cot = rows i = 1..len(a) of the DP table, each `dp[i][1..len(b)]` joined by `" "`, rows joined by `","`, then `"|"`; answer `str(dp[len(a)][len(b)])`',
    length_meaning="characters in the first string",
    params={
        "min_alphabet": 3,
        "max_alphabet": 10,
        "independent_fraction": 0.4,
        "max_length_gap": 3,
    },
    lengths=lengths_table(small=(3, 8), small_long=(9, 12), full=(5, 20), full_long=(21, 30)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={"string_a": "string", "string_b": "string"},
    build=build,
    metric="dp_cot_accuracy",
    main_score="answer_accuracy",
    metric_inputs=_spec.dp_inputs,
    check=check,
    arena=_spec.ArenaSpec("DP: edit distance (CoT)"),
)
