"""Edit distance with chain of thought, as Feng et al. 2023 define and sample it (ED/data.py).

Row: prompt `a + "|" + b + "|"`; cot = rows i = 1..len(a) of the DP table, each
`dp[i][1..len(b)]` joined by " ", rows joined by ",", then "|"; answer `str(dp[len(a)][len(b)])`;
length N (below); extra columns `string_a`, `string_b`.

Definition (Feng et al.'s `solve`): insert and delete cost 2, substitute 3, and the table starts
from dp[i][0] = i, dp[0][j] = j (one per character, not two: their boundary, kept so that answers and
tables agree with their data; docs/FORMATS.md says what differs from version 1 of this generator).

Sampling, per row of size N (their `--length`): a sub-alphabet of k distinct lowercase letters, k
uniform in [min_alphabet, max_alphabet] = [3, 10] (their `--using 8`), and a string s of N letters
over it. The partner t is, with probability independent_fraction = 0.4, a random string over the
sub-alphabet whose length is uniform in [N - g, N + g - 1] (g = max_length_gap = 3); otherwise s
after e edits, e uniform in [1, N] and drawn once per row, each edit at a uniform position: delete
(only while more than 2 letters remain, else insert), substitute by a random letter of the
sub-alphabet, or insert one, with equal odds. A pair with t == s or len(t) outside
[N - g, N + g - 1] is drawn again from the sub-alphabet on (same e). The shorter string comes first:
(a, b) = (t, s) if len(s) > len(t), else (s, t). So len(a) <= N <= len(b), one of them is N, and
N >= g + 1 keeps both strings non-empty.

Lengths (N): `small` 4-8 (test_long 9-12); `full` 5-20 (test_long 21-30); Feng et al. used N = 12,
16, 20. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _spec, _text
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table

INSERT_DELETE_COST = 2
SUBSTITUTE_COST = 3
_PAD = 255  # code of padding characters: never equal to a letter
_MAX_ROUNDS = 1000  # redraws of rejected pairs before giving up (parameters that admit no pair)


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DP table rows 1..width(a) for padded code matrices: shape (rows, width_a, width_b + 1).

    Row i is dp[i][0..width_b] with Feng et al.'s boundary dp[i][0] = i, dp[0][j] = j; entries past
    a row's real lengths are padding, not distances. Each row is one vectorised step:
    dp[i][j] = min over k <= j of cand[k] + 2 (j - k), a prefix minimum, where cand is the best of
    deleting a[i] and substituting or matching it (cand[0] = dp[i][0]).
    """
    num_rows, width_a = a.shape
    width_b = b.shape[1]
    steps = INSERT_DELETE_COST * np.arange(width_b + 1, dtype=np.int32)
    previous = np.broadcast_to(np.arange(width_b + 1, dtype=np.int32), (num_rows, width_b + 1))
    table = np.empty((num_rows, width_a, width_b + 1), dtype=np.int32)
    for i in range(1, width_a + 1):
        substitute = np.where(a[:, i - 1 : i] == b, 0, SUBSTITUTE_COST).astype(np.int32)
        candidate = np.empty((num_rows, width_b + 1), dtype=np.int32)
        candidate[:, 0] = i
        candidate[:, 1:] = np.minimum(
            previous[:, 1:] + INSERT_DELETE_COST, previous[:, :-1] + substitute
        )
        table[:, i - 1] = np.minimum.accumulate(candidate - steps, axis=1) + steps
        previous = table[:, i - 1]
    return table


def _letters(rng: np.random.Generator, sizes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Random indices into each row's sub-alphabet, shape `shape`."""
    return np.floor(rng.random(shape) * sizes[:, None]).astype(np.int64)


def _draw(
    rng: np.random.Generator, size: np.ndarray, edits: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One attempt per row: padded codes of s and t, and len(t). Rows are checked by the caller."""
    num_rows, width = len(size), int(size.max())
    rows = np.arange(num_rows)
    alphabet_size = rng.integers(params["min_alphabet"], params["max_alphabet"] + 1, size=num_rows)
    sub_alphabet = np.argsort(rng.random((num_rows, 26)), axis=1).astype(np.uint8) + ord("a")
    s = sub_alphabet[rows[:, None], _letters(rng, alphabet_size, (num_rows, width))]
    s[np.arange(width) >= size[:, None]] = _PAD

    # Edited copies, one edit per step for the rows that still have edits to make.
    edited_width = width + int(edits.max())  # an edit adds at most one letter
    edited = np.full((num_rows, edited_width), _PAD, dtype=np.uint8)
    edited[:, :width] = s
    edited_len = size.copy()
    columns = np.arange(edited_width)
    for step in range(int(edits.max())):
        active = step < edits
        op = rng.integers(0, 3, size=num_rows)
        delete = active & (op == 0) & (edited_len > 2)
        substitute = active & (op == 1)
        insert = active & ~delete & ~substitute
        where = np.floor(rng.random(num_rows) * (edited_len + insert)).astype(np.int64)
        letter = sub_alphabet[rows, _letters(rng, alphabet_size, (num_rows, 1))[:, 0]]
        after = columns >= where[:, None]
        source = (
            columns + (delete[:, None] & after) - (insert[:, None] & (columns > where[:, None]))
        )
        edited = np.take_along_axis(edited, np.clip(source, 0, edited_width - 1), axis=1)
        changed = insert | substitute
        edited[rows[changed], where[changed]] = letter[changed]
        edited_len = edited_len + insert - delete
        edited[columns >= edited_len[:, None]] = _PAD

    gap = params["max_length_gap"]
    independent = rng.random(num_rows) < params["independent_fraction"]
    random_len = size - gap + np.floor(rng.random(num_rows) * 2 * gap).astype(np.int64)
    random_width = width + gap - 1
    random_t = sub_alphabet[rows[:, None], _letters(rng, alphabet_size, (num_rows, random_width))]
    random_t[np.arange(random_width) >= random_len[:, None]] = _PAD
    t_width = max(edited_width, random_width)
    t = np.full((num_rows, t_width), _PAD, dtype=np.uint8)
    t[independent, :random_width] = random_t[independent]
    t[~independent, :edited_width] = edited[~independent]
    return s, t, np.where(independent, random_len, edited_len)


def sample(
    rng: np.random.Generator, size: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded code matrices a and b (shorter first), len(a) and len(b) per row."""
    num_rows, gap = len(size), params["max_length_gap"]
    edits = 1 + np.floor(rng.random(num_rows) * size).astype(np.int64)
    first: list[np.ndarray] = [np.empty(0, np.uint8)] * num_rows
    second: list[np.ndarray] = [np.empty(0, np.uint8)] * num_rows
    pending = np.arange(num_rows)
    for _ in range(_MAX_ROUNDS):
        s, t, t_len = _draw(rng, size[pending], edits[pending], params)
        n = size[pending]
        # t is always the wider (an edit column past s), and padded past t_len like s past n
        same = (t_len == n) & np.all(t[:, : s.shape[1]] == s, axis=1)
        accepted = ~same & (t_len >= n - gap) & (t_len <= n + gap - 1)
        for k in np.nonzero(accepted)[0].tolist():
            s_row, t_row = s[k, : n[k]], t[k, : t_len[k]]
            row = pending[k]
            first[row], second[row] = (t_row, s_row) if n[k] > t_len[k] else (s_row, t_row)
        pending = pending[~accepted]
        if len(pending) == 0:
            break
    else:
        raise ValueError(
            f"ed could not draw a pair of different strings within the length window in "
            f"{_MAX_ROUNDS} tries at length {int(size[pending[0]])}; raise max_alphabet or "
            "max_length_gap"
        )
    len_a = np.array([len(x) for x in first], dtype=np.int64)
    len_b = np.array([len(x) for x in second], dtype=np.int64)
    a = np.full((num_rows, int(len_a.max())), _PAD, dtype=np.uint8)
    b = np.full((num_rows, int(len_b.max())), _PAD, dtype=np.uint8)
    a[np.arange(a.shape[1]) < len_a[:, None]] = np.concatenate(first)
    b[np.arange(b.shape[1]) < len_b[:, None]] = np.concatenate(second)
    return a, b, len_a, len_b


def encode(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Padded code matrix and lengths of lowercase strings (rows of other data, e.g. imports)."""
    lengths = np.array([len(x) for x in strings], dtype=np.int64)
    codes = np.full((len(strings), max(1, int(lengths.max(initial=1)))), _PAD, dtype=np.uint8)
    codes[np.arange(codes.shape[1]) < lengths[:, None]] = np.frombuffer(
        "".join(strings).encode("ascii"), dtype=np.uint8
    )
    return codes, lengths


def rows_of(a: np.ndarray, b: np.ndarray, len_a: np.ndarray, len_b: np.ndarray) -> dict[str, list]:
    """Columns prompt, cot, answer, string_a, string_b of the problems (a, b): padded codes."""
    table = solve(a, b)
    num_rows = len(len_a)
    row_valid = np.arange(a.shape[1]) < len_a[:, None]
    col_valid = (np.arange(b.shape[1] + 1) >= 1) & (np.arange(b.shape[1] + 1) <= len_b[:, None])
    values = table[row_valid[:, :, None] & col_valid[:, None, :]]
    table_rows = _text.join_ints(values, np.repeat(len_b, len_a), b" ")
    string_a = _text.padded_rows(a, len_a)
    string_b = _text.padded_rows(b, len_b)
    distance = table[np.arange(num_rows), len_a - 1, len_b]
    return {
        "prompt": _text.render([string_a, b"|", string_b, b"|"], num_rows),
        "cot": _text.render([_text.join(table_rows, len_a, b","), b"|"], num_rows),
        "answer": list(map(str, distance.tolist())),
        "string_a": _text.render([string_a], num_rows),
        "string_b": _text.render([string_b], num_rows),
    }


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    return rows_of(*sample(rng, lengths, params))


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    low = check_int("min_alphabet", params["min_alphabet"], minimum=1)
    high = check_int("max_alphabet", params["max_alphabet"], minimum=1)
    if low > high or high > 26:
        raise ValueError(
            f"sub-alphabet sizes [{low}, {high}] must satisfy 1 <= min_alphabet <= max_alphabet <= 26"
        )
    gap = check_int("max_length_gap", params["max_length_gap"], minimum=1)
    if min_length <= gap:
        raise ValueError(
            f"ed strings have N - max_length_gap to N + max_length_gap - 1 letters: min_length "
            f"{min_length} would allow empty strings; use min_length >= {gap + 1} or a smaller "
            "max_length_gap"
        )
    fraction = params["independent_fraction"]
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"independent_fraction must be a number in [0, 1], got {fraction!r}")


SPEC = TaskSpec(
    name="ed",
    summary="Edit distance as Feng et al. (insert/delete 2, substitute 3, boundary dp[i][0] = i); cot = the DP table row by row",
    text_format='prompt `a + "|" + b + "|"` (the shorter string first), cot = rows i = 1..len(a) of the DP table, each `dp[i][1..len(b)]` joined by `" "`, rows joined by `","`, then `"|"`; answer `str(dp[len(a)][len(b)])`',
    length_meaning="N, Feng et al.'s `--length`: letters of the string drawn first; len(a) <= N <= len(b), both within N-3..N+2",
    params={
        "min_alphabet": 3,
        "max_alphabet": 10,
        "independent_fraction": 0.4,
        "max_length_gap": 3,
    },
    lengths=lengths_table(small=(4, 8), small_long=(9, 12), full=(5, 20), full_long=(21, 30)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={"string_a": "string", "string_b": "string"},
    build=build,
    metric="dp_cot_accuracy",
    main_score="answer_accuracy",
    metric_inputs=_spec.dp_inputs,
    check=check,
    arena=_spec.ArenaSpec("DP: edit distance (CoT)"),
)
