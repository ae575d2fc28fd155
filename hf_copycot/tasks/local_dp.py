"""m-local DP: each step reads only the previous m states (Ren, Li, Liu's locality claim).

dp_1 = x_1 and dp_i = x_i + min(dp_max(1, i-m) .. dp_(i-1)): the cheapest way to walk from 1 to i
in jumps of at most m, paying x at every position visited. Row: prompt `"m=" + str(m) + ":" +
"x1 x2 ... xn|"`, cot `"dp1 dp2 ... dpn|"`, answer `str(dp_n)`, length n, extra columns `values`
and `m`. Small m is local (a constant-size state suffices); m >= n - 1 is not local at all.

Defaults: values uniform in [min_value, max_value] = [-9, 9] (negative values keep the minimum
non-trivial when m is large); m = None draws m per row: with probability global_fraction = 0.25
m = n (no locality), otherwise log-uniform over 1..n-1 (floor(n ** u), u ~ U[0, 1)), so every split
covers small m up to m = n. An integer m fixes it for every row. Lengths: `small` 5-20 (test_long
21-40); `full` 5-100 (test_long 101-150), as for LIS. Rows: `full` has 100,000 train and 2,000
per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _spec, _text
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table

_FAR = np.iinfo(np.int64).max // 4  # larger than any dp value


def solve(values: np.ndarray, window: np.ndarray) -> np.ndarray:
    """dp for a padded (rows, width) matrix of values and a window m per row (O(n^2) per row)."""
    num_rows, width = values.shape
    dp = np.empty((num_rows, width), dtype=np.int64)
    dp[:, 0] = values[:, 0]
    columns = np.arange(width)
    for i in range(1, width):
        inside = columns[:i] >= (i - window)[:, None]
        dp[:, i] = values[:, i] + np.min(np.where(inside, dp[:, :i], _FAR), axis=1)
    return dp


def sample_window(
    rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]
) -> np.ndarray:
    if params["m"] is not None:
        return np.full(len(lengths), params["m"], dtype=np.int64)
    log_uniform = np.floor(lengths ** rng.random(len(lengths))).astype(np.int64)
    log_uniform = np.clip(log_uniform, 1, np.maximum(lengths - 1, 1))
    whole = rng.random(len(lengths)) < params["global_fraction"]
    return np.where(whole, lengths, log_uniform)


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    num_rows, width = len(lengths), int(lengths.max())
    values = rng.integers(params["min_value"], params["max_value"] + 1, size=(num_rows, width))
    window = sample_window(rng, lengths, params)
    dp = solve(values, window)
    valid = np.arange(width) < lengths[:, None]
    flat = values[valid]
    windows = _text.int_codes(window)
    return {
        "prompt": _text.render(
            [b"m=", windows, b":", _text.join_ints(flat, lengths), b"|"], num_rows
        ),
        "cot": _text.render([_text.join_ints(dp[valid], lengths), b"|"], num_rows),
        "answer": list(map(str, dp[np.arange(num_rows), lengths - 1].tolist())),
        "values": _text.split_list(flat.tolist(), lengths),
        "m": window.tolist(),
    }


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    low = check_int("min_value", params["min_value"])
    high = check_int("max_value", params["max_value"])
    if low > high:
        raise ValueError(f"min_value {low} is larger than max_value {high}")
    if params["m"] is not None:
        check_int("m", params["m"], minimum=1)
    fraction = params["global_fraction"]
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"global_fraction must be a number in [0, 1], got {fraction!r}")


SPEC = TaskSpec(
    name="local_dp",
    summary="An m-local DP, dp_i = x_i + min(previous m dp values); cot = every dp value",
    text_format='prompt `"m=" + str(m) + ":" + "x1 x2 ... xn|"`, cot `"dp1 dp2 ... dpn|"`, answer `str(dp_n)`',
    length_meaning="values in the sequence",
    params={"min_value": -9, "max_value": 9, "m": None, "global_fraction": 0.25},
    lengths=lengths_table(small=(5, 20), small_long=(21, 40), full=(5, 100), full_long=(101, 150)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={"values": "list<int32>", "m": "int32"},
    build=build,
    metric="dp_cot_accuracy",
    main_score="answer_accuracy",
    metric_inputs=_spec.dp_inputs,
    check=check,
    arena=_spec.ArenaSpec("DP: m-local (CoT)"),
)
