"""Longest increasing subsequence with chain of thought (Feng et al. 2023).

Row: prompt `"x1 x2 ... xn|"`, cot `"d1 d2 ... dn|"` where d_i is the length of the longest strictly
increasing subsequence ending at x_i, answer `str(max(d))`, length n, extra column `sequence`.

Sampling follows Feng et al.'s idea (their data.py): a uniformly random sequence has an LIS near
2 sqrt(n), so each row plants a strictly increasing subsequence of a length t drawn uniformly from
[1, n] at random positions (values drawn without repeats), and the other positions are uniform;
answers then spread over [1, n].

Defaults: values in [min_value, max_value] = [0, 249] (Feng et al. draw from a range of n + 150),
plant = True. Lengths: `small` 5-20 (test_long 21-40); `full` 5-100 (test_long 101-150), Feng et
al. used n = 50, 80, 100. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _spec, _text
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table


def solve(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """d[r, i] for a padded (rows, width) matrix: LIS length ending at column i (O(n^2) per row)."""
    num_rows, width = values.shape
    ends_at = np.ones((num_rows, width), dtype=np.int64)
    for i in range(1, width):
        smaller = values[:, :i] < values[:, i : i + 1]
        ends_at[:, i] = 1 + np.max(np.where(smaller, ends_at[:, :i], 0), axis=1)
    return ends_at


def sample(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    low, high = params["min_value"], params["max_value"]
    num_rows, width = len(lengths), int(lengths.max())
    values = rng.integers(low, high + 1, size=(num_rows, width))
    if not params["plant"]:
        return values
    span = high - low + 1
    planted = rng.integers(1, np.minimum(lengths, span) + 1)
    columns = np.arange(width)
    active = columns < planted[:, None]
    # Random positions: the `planted` smallest of per-row random keys, sorted.
    keys = np.where(columns < lengths[:, None], rng.random((num_rows, width)), 2.0)
    positions = np.sort(np.where(active, np.argsort(keys, axis=1), width), axis=1)
    # Distinct increasing values: sorted draws from [0, span - t] plus 0, 1, ..., t-1.
    draws = rng.integers(0, (span - planted + 1)[:, None], size=(num_rows, width))
    increasing = np.sort(np.where(active, draws, span), axis=1) + columns + low
    rows = np.broadcast_to(np.arange(num_rows)[:, None], (num_rows, width))
    values[rows[active], positions[active]] = increasing[active]
    return values


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    values = sample(rng, lengths, params)
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


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    low = check_int("min_value", params["min_value"])
    high = check_int("max_value", params["max_value"])
    if low > high:
        raise ValueError(f"min_value {low} is larger than max_value {high}")
    if not isinstance(params["plant"], bool):
        raise ValueError(f"plant must be True or False, got {params['plant']!r}")


SPEC = TaskSpec(
    name="lis",
    summary="Longest strictly increasing subsequence; cot = LIS length ending at each position",
    text_format='prompt `"x1 x2 ... xn|"`, cot `"d1 d2 ... dn|"` (d_i = LIS length ending at x_i), answer `str(max(d))`',
    length_meaning="numbers in the sequence",
    params={"min_value": 0, "max_value": 249, "plant": True},
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
