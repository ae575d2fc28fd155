"""Longest increasing subsequence with chain of thought (Feng et al. 2023).

Row: prompt `"x1 x2 ... xn|"`, cot `"d1 d2 ... dn|"` where d_i is the length of the longest strictly
increasing subsequence ending at x_i, answer `str(max(d))`, length n, extra column `sequence`.

Sampling follows Feng et al.'s LIS/data.py (their `--number_range 250`): values are uniform in
[n + 1, 249], so they never look like a cot value (1..n). A uniformly random sequence has an LIS
near 2 sqrt(n), so each row plants increasing runs: a total t uniform in [3, n] is cut into 1, 2 or
3 runs (uniformly; run sizes as in their code, the last possibly empty), each run is a sorted draw
without repeats from the value range, and the runs are written in order at t random positions. The
answer is then at least the longest run (mean 23.2 at n = 50, as theirs).

Parameters: `min_value` (default None: n + 1 per row), `max_value` (default None: 249, or 2n where
n > 124, since Feng's range cannot hold a run of n distinct values there and their code fails), and
`plant` (False: plain uniform values). With explicit values a planted row needs
max_value - min_value + 1 >= n. For n < 3 (below what their code accepts) one run of n is planted.
Lengths: `small` 5-20 (test_long 21-40); `full` 5-100 (test_long 101-150); Feng et al. used n = 50,
80, 100. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _spec, _text
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table

FENG_MAX_VALUE = 249  # Feng et al.'s number_range 250, values 0..249


def solve(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """d[r, i] for a padded (rows, width) matrix: LIS length ending at column i (O(n^2) per row)."""
    num_rows, width = values.shape
    ends_at = np.ones((num_rows, width), dtype=np.int64)
    for i in range(1, width):
        smaller = values[:, :i] < values[:, i : i + 1]
        ends_at[:, i] = 1 + np.max(np.where(smaller, ends_at[:, :i], 0), axis=1)
    return ends_at


def value_range(lengths: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (low, high) value bounds per row (see the module docstring)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    low = lengths + 1 if params["min_value"] is None else np.full_like(lengths, params["min_value"])
    if params["max_value"] is None:
        high = np.maximum(FENG_MAX_VALUE, low + lengths - 1)
    else:
        high = np.full_like(lengths, params["max_value"])
    return low, high


def _runs(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """Sizes of the 1-3 planted runs per row, shape (rows, 3), as Feng et al.'s get_seq."""
    num_rows = len(lengths)
    count = rng.integers(1, 4, size=num_rows)
    shortest = np.minimum(3, lengths)
    total = shortest + np.floor(rng.random(num_rows) * (lengths - shortest + 1)).astype(np.int64)
    count = np.where(total < 3, 1, count)  # n < 3: one run (their code needs n >= 3)
    first_two = 1 + np.floor(rng.random(num_rows) * (total // 2 + 1)).astype(np.int64)
    first_three = 1 + np.floor(rng.random(num_rows) * (total // 3 + 1)).astype(np.int64)
    second = 1 + np.floor(rng.random(num_rows) * ((total - first_three) // 2 + 1)).astype(np.int64)
    sizes = np.zeros((num_rows, 3), dtype=np.int64)
    sizes[:, 0] = np.select([count == 1, count == 2], [total, first_two], first_three)
    sizes[:, 1] = np.select([count == 2, count == 3], [total - first_two, second], 0)
    sizes[:, 2] = np.where(count == 3, total - first_three - second, 0)
    return sizes


def _sorted_draws(
    rng: np.random.Generator, size: np.ndarray, span: np.ndarray, low: np.ndarray
) -> np.ndarray:
    """Per row, `size` distinct values of [low, low + span) in increasing order, left-aligned in a
    (rows, max size) matrix (padding past each row's size is arbitrary)."""
    num_rows, width = len(size), max(int(size.max()), 1)
    columns = np.arange(int(span.max()))
    keys = np.where(columns < span[:, None], rng.random((num_rows, len(columns))), 2.0)
    picked = np.argsort(keys, axis=1)[:, :width]
    picked = np.where(np.arange(width) < size[:, None], picked, len(columns))
    return np.sort(picked, axis=1) + low[:, None]


def sample(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    low, high = value_range(lengths, params)
    num_rows, width = len(lengths), int(lengths.max())
    values = low[:, None] + np.floor(
        rng.random((num_rows, width)) * (high - low + 1)[:, None]
    ).astype(np.int64)
    if not params["plant"]:
        return values
    sizes = _runs(rng, lengths)
    total = sizes.sum(axis=1)
    planted = np.concatenate(
        [_sorted_draws(rng, sizes[:, k], high - low + 1, low) for k in range(3)], axis=1
    )
    keep = np.concatenate(
        [np.arange(max(int(sizes[:, k].max()), 1)) < sizes[:, k : k + 1] for k in range(3)], axis=1
    )
    # Random positions for them: `total` distinct columns of each row, in increasing order.
    positions = _sorted_draws(rng, total, lengths, np.zeros_like(lengths))
    rows = np.repeat(np.arange(num_rows), total)
    values[rows, positions[np.arange(positions.shape[1]) < total[:, None]]] = planted[keep]
    return values


def rows_of(values: np.ndarray, lengths: np.ndarray) -> dict[str, list]:
    """Columns prompt, cot, answer, sequence of the sequences in a padded (rows, width) matrix."""
    ends_at = solve(values, lengths)
    valid = np.arange(values.shape[1]) < lengths[:, None]
    num_rows = len(lengths)
    flat = values[valid]
    return {
        "prompt": _text.render([_text.join_ints(flat, lengths), b"|"], num_rows),
        "cot": _text.render([_text.join_ints(ends_at[valid], lengths), b"|"], num_rows),
        "answer": list(map(str, np.where(valid, ends_at, 0).max(axis=1).tolist())),
        "sequence": _text.split_list(flat.tolist(), lengths),
    }


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    return rows_of(sample(rng, lengths, params), lengths)


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    for name in ("min_value", "max_value"):
        if params[name] is not None:
            check_int(name, params[name])
    if not isinstance(params["plant"], bool):
        raise ValueError(f"plant must be True or False, got {params['plant']!r}")
    # The range only narrows as n grows (it starts at n + 1 by default): check the longest rows.
    low, high = (int(v[0]) for v in value_range(np.array([max_length]), params))
    if low > high:
        raise ValueError(
            f"min_value {low} is larger than max_value {high} at length {max_length}; "
            "widen the value range"
        )
    if params["plant"] and high - low + 1 < max_length:
        raise ValueError(
            f"lis plants up to n distinct increasing values but [{low}, {high}] holds "
            f"{high - low + 1} at n = {max_length}; raise max_value (values start at n + 1 unless "
            "min_value is set) or pass plant=false"
        )


SPEC = TaskSpec(
    name="lis",
    summary="Longest strictly increasing subsequence; cot = LIS length ending at each position",
    text_format='prompt `"x1 x2 ... xn|"`, cot `"d1 d2 ... dn|"` (d_i = LIS length ending at x_i), answer `str(max(d))`',
    length_meaning="numbers in the sequence",
    params={"min_value": None, "max_value": None, "plant": True},
    lengths=lengths_table(small=(5, 20), small_long=(21, 40), full=(5, 100), full_long=(101, 150)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={"sequence": "list<int32>"},
    build=build,
    metric="dp_cot_accuracy",
    main_score="answer_accuracy",
    metric_inputs=_spec.dp_inputs,
    check=check,
    arena=_spec.ArenaSpec("DP: longest increasing subsequence (CoT)"),
)
