"""What a task is, in one place: its generator, text format, metric, and how the arena offers it.

A task module declares one `TaskSpec`; `hf_copycot.tasks` registers it, and everything else (the
dataset build, fine-tuning, `copycot evaluate`, the metrics, the arena) reads the spec, never a list
of task names of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SPLITS = ("train", "validation", "test", "test_long")
SIZES = ("small", "full")
# The columns every row of every task has, and their types (docs/FORMATS.md, DESIGN section 2).
SHARED_COLUMNS: Mapping[str, str] = {
    "id": "string",
    "task": "string",
    "prompt": "string",
    "cot": "string",
    "answer": "string",
    "length": "int32",
}

# builder(rng, lengths, params) -> columns prompt, cot, answer and the task's extra columns
Builder = Callable[[np.random.Generator, np.ndarray, dict[str, Any]], dict[str, list]]
# checker(params, min_length, max_length) raises ValueError on a bad combination
Checker = Callable[[dict[str, Any], int, int], None]
# metric_inputs(task, rows, use_cot) -> the metric's compute() arguments beyond predictions and
# references (rows are columns: prompt, cot, answer, length, ...)
MetricInputs = Callable[[str, Mapping[str, Sequence], bool], dict[str, Any]]
# completion(row, use_cot) -> the text after the prompt as (text, given) segments, in order;
# `given` text is input the model reads there (a stream), not text it writes
Completion = Callable[[Mapping[str, Any], bool], list[tuple[str, bool]]]
# typed_prompt(text, seed) -> (prompt, expected continuation, note); raises ValueError
TypedPrompt = Callable[[str, int], tuple[str, str, str]]
# row -> a string shown with it (one generated row as a dict of str)
RowText = Callable[[Mapping[str, Any]], str]


def length_as(keyword: str) -> MetricInputs:
    """The `length` column passed to the metric as `keyword` (the metric groups scores by it)."""

    def inputs(task: str, rows: Mapping[str, Sequence], use_cot: bool) -> dict[str, Any]:
        return {keyword: [int(length) for length in rows["length"]]}

    return inputs


def dp_inputs(task: str, rows: Mapping[str, Sequence], use_cot: bool) -> dict[str, Any]:
    """dp_cot_accuracy recomputes the DP from each prompt, so it takes prompts and the task."""
    lengths = [int(length) for length in rows["length"]]
    return {"prompts": list(rows["prompt"]), "task": task, "lengths": lengths, "cot": use_cot}


@dataclass(frozen=True)
class ArenaSpec:
    """How the copy arena offers a task."""

    label: str  # in the task dropdown
    # The prompt built from a string the user types (copy, n-gram lookup); None: the arena draws
    # examples with the task's generator at the chosen size.
    typed_prompt: TypedPrompt | None = None
    text_of: RowText | None = None  # the typed string inside a generated row ("random string")
    note_of: RowText | None = None  # a line about a generated row, e.g. whom a phone book queries
    size_control: str = "length"  # which control sets the size: "length" or "entries"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    summary: str  # one line for the dataset card
    text_format: str  # prompt / cot / answer in one line (docs/FORMATS.md has the table)
    length_meaning: str  # what the `length` column counts
    params: Mapping[str, Any]  # defaults of the task's keyword parameters
    lengths: Mapping[str, Mapping[str, tuple[int, int]]]  # size -> split -> (min, max), inclusive
    rows: Mapping[str, Mapping[str, int]]  # size -> split -> number of rows
    extra_columns: Mapping[str, str]  # column -> "string" | "int32" | "list<int32>"
    build: Builder
    metric: str  # the evaluate module in eval/ that scores generations
    main_score: str  # the score logged, put in model cards and reports
    metric_inputs: MetricInputs  # how rows become the metric's arguments
    check: Checker = field(default=lambda params, lo, hi: None)
    arena: ArenaSpec | None = None  # None: the arena does not offer the task
    # None: the model writes all of `cot + answer` (or `answer`). A function: the completion
    # interleaves given input with what the model writes (tasks/stream_dp.py); fine-tuning puts
    # no loss on given text and evaluation feeds it in place while the model generates the rest.
    completion: Completion | None = None
    # What identifies a problem (train/test overlap is counted on it): None, its prompt. A task
    # whose input streams into the completion needs more than its prompt (tasks/stream_dp.py).
    problem_key: RowText | None = None
    # The slice a row is scored in besides the whole split (evaluation reports `by_slice`), or
    # None for no slice: e.g. stream_dp's lag m, on rows that read back at least once.
    slice_of: Callable[[Mapping[str, Any]], str | None] | None = None


def lengths_table(
    small: tuple[int, int],
    small_long: tuple[int, int],
    full: tuple[int, int],
    full_long: tuple[int, int],
) -> dict[str, dict[str, tuple[int, int]]]:
    """Length ranges per size: train, validation and test share one range, test_long is beyond it."""
    return {
        "small": {"train": small, "validation": small, "test": small, "test_long": small_long},
        "full": {"train": full, "validation": full, "test": full, "test_long": full_long},
    }


def rows_table(full_train: int, full_eval: int) -> dict[str, dict[str, int]]:
    """Rows per size: `small` is the same everywhere (seconds to build), `full` per task."""
    return {
        "small": {"train": 2000, "validation": 200, "test": 200, "test_long": 200},
        "full": {
            "train": full_train,
            "validation": full_eval,
            "test": full_eval,
            "test_long": full_eval,
        },
    }


def check_alphabet(alphabet: object, forbidden: str = "|.") -> str:
    """A non-empty string of distinct printable ASCII characters other than `|` (the delimiter)
    and `.` (an end marker for the metrics, docs/FORMATS.md)."""
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError("alphabet must be a non-empty string of printable ASCII characters")
    bad = [c for c in alphabet if not (32 <= ord(c) <= 126) or c in forbidden]
    if bad:
        raise ValueError(
            f"alphabet contains {bad[0]!r}: use printable ASCII characters other than {forbidden!r}"
        )
    if len(set(alphabet)) != len(alphabet):
        raise ValueError("alphabet has repeated characters; list each character once")
    return alphabet


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
