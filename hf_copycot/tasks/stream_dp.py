"""Streamed m-local DP: each step sees its own input (Ren, Li, Liu's Theorem 5 setting).

d_i = (x_i + d_(i-m)) mod K (K = `modulus`, 10 by default), with d_j = 0 for j <= 0, over digits
x_1..x_n in 0..K-1. The inputs arrive as
a stream, interleaved with the states: the model reads `x_i:` and writes d_i, so step i needs only
its own input and the state m steps back. A recurrent model can solve it with a state of m
digits, a Transformer by attending 3m tokens back; `local_dp` instead lists every input before
the chain of thought, so there each step must first fetch x_i from n tokens back (a copy).

Row: prompt `"m=" + str(m) + ":"` (`"m=M mod K:"` with a modulus K other than 10), cot
`"x1:d1 x2:d2 ... xn:dn|"`, answer `str(d_n)`, length n,
extra columns `values` (x_1..x_n) and `m`. The inputs are *given* text: `completion` marks them,
fine-tuning puts no loss on them, and evaluation feeds them at their places while the model
generates the rest greedily (exact for every decision the model makes: a wrong state stays in the
context it generates next). Without chain of thought the inputs come as one block,
`"x1 x2 ... xn|"`, and the model writes the answer alone.

m = None draws m per row uniformly from `m_choices` (default 1, 2, 4, 8); an integer m fixes it.
With m >= n no step reads back (d_i = x_i), so windows worth testing are below the length.
Lengths: `small` 2-12 (test_long 13-24); `full` 5-50 (test_long 51-100).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hf_copycot.tasks import _spec
from hf_copycot.tasks._spec import TaskSpec, check_int, lengths_table, rows_table


def solve(values: np.ndarray, lags: np.ndarray, modulus: int = 10) -> np.ndarray:
    """States for a padded (rows, width) matrix of digits and a lag m per row."""
    num_rows, width = values.shape
    states = np.zeros((num_rows, width), dtype=np.int64)
    rows = np.arange(num_rows)
    for i in range(width):
        back = i - lags
        previous = np.where(back >= 0, states[rows, np.maximum(back, 0)], 0)
        states[:, i] = (values[:, i] + previous) % modulus
    return states


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    num_rows, width = len(lengths), int(lengths.max())
    values = rng.integers(0, params["modulus"], size=(num_rows, width))
    if params["m"] is None:
        choices = np.asarray(params["m_choices"], dtype=np.int64)
        lags = choices[rng.integers(0, len(choices), size=num_rows)]
    else:
        lags = np.full(num_rows, params["m"], dtype=np.int64)
    states = solve(values, lags, params["modulus"])
    prompts, cots, answers, value_lists = [], [], [], []
    suffix = "" if params["modulus"] == 10 else f" mod {params['modulus']}"
    for row, n in enumerate(lengths.tolist()):
        xs, ds = values[row, :n].tolist(), states[row, :n].tolist()
        prompts.append(f"m={lags[row]}{suffix}:")
        cots.append(" ".join(f"{x}:{d}" for x, d in zip(xs, ds, strict=True)) + "|")
        answers.append(str(ds[-1]))
        value_lists.append(xs)
    return {
        "prompt": prompts,
        "cot": cots,
        "answer": answers,
        "values": value_lists,
        "m": lags.tolist(),
    }


def completion(row: Mapping[str, Any], use_cot: bool) -> list[tuple[str, bool]]:
    """The text after the prompt as (text, given) segments: inputs given, states written."""
    values = [str(x) for x in row["values"]]
    if not use_cot:
        return [(" ".join(values) + "|", True), (row["answer"], False)]
    states = [step.split(":")[1] for step in row["cot"].rstrip("|").split(" ")]
    segments: list[tuple[str, bool]] = []
    for i, (x, d) in enumerate(zip(values, states, strict=True)):
        segments.append(((" " if i else "") + f"{x}:", True))
        segments.append((d, False))
    segments[-1] = (segments[-1][0] + "|" + row["answer"], False)
    return segments


def metric_inputs(task: str, rows: Mapping[str, Any], use_cot: bool) -> dict[str, Any]:
    """dp_cot_accuracy recomputes the DP from a problem statement `m=M:x1 x2 ... xn|`."""
    prompts = [
        prompt + " ".join(str(x) for x in values) + "|"
        for prompt, values in zip(rows["prompt"], rows["values"], strict=True)
    ]
    return {**_spec.dp_inputs(task, rows, use_cot), "prompts": prompts}


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    modulus = check_int("modulus", params["modulus"], minimum=2)
    if modulus > 10:
        raise ValueError(f"modulus must be 2..10 (one digit per input and state), got {modulus}")
    if params["m"] is not None:
        check_int("m", params["m"], minimum=1)
        return
    choices = params["m_choices"]
    if not isinstance(choices, (list, tuple)) or not choices:
        raise ValueError(f"m_choices must be a non-empty list of integers >= 1, got {choices!r}")
    for choice in choices:
        check_int("m_choices entry", choice, minimum=1)


SPEC = TaskSpec(
    name="stream_dp",
    summary="A streamed m-local DP, d_i = (x_i + d_(i-m)) mod 10; each step reads its own input",
    text_format='prompt `"m=" + str(m) + ":"`, cot `"x1:d1 x2:d2 ... xn:dn|"` (the inputs given, '
    "the states written), answer `str(d_n)`",
    length_meaning="inputs in the stream",
    params={"m": None, "m_choices": [1, 2, 4, 8], "modulus": 10},
    lengths=lengths_table(small=(2, 12), small_long=(13, 24), full=(5, 50), full_long=(51, 100)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={"values": "list<int32>", "m": "int32"},
    build=build,
    metric="dp_cot_accuracy",
    main_score="answer_accuracy",
    metric_inputs=metric_inputs,
    check=check,
    completion=completion,
    # The prompt holds only m: the problem is m and the inputs (the cot, given as the stream).
    problem_key=lambda row: row["prompt"] + row["cot"],
    slice_of=lambda row: f"m={row['m']}" if row["length"] > row["m"] else None,
)
