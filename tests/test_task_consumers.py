"""What lives outside the registry is checked against it: every registered task has its reference
solver (tests/reference_solvers.py), its solver in dp_cot_accuracy when a DP scores it, and its
per-row baseline in benchmarks/bench_datasets.py."""

from __future__ import annotations

import runpy

import pytest
from metric_helpers import REPO_ROOT, load_metric

from hf_copycot import tasks
from tests.reference_solvers import check_row

BUILT_IN = tuple(tasks.TASK_NAMES)
DP_TASKS = tuple(name for name in BUILT_IN if tasks.get_spec(name).metric == "dp_cot_accuracy")


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(REPO_ROOT / "benchmarks" / "bench_datasets.py"))


def rows_of(task: str, count: int = 24, split: str = "test") -> dict[str, list]:
    low, high = tasks.split_lengths(task, "small")[split]
    return tasks.generate(task, count, seed=5, min_length=low, max_length=high, split=split)


@pytest.mark.parametrize("task", BUILT_IN)
def test_every_task_has_a_reference_solver(task):
    rows = rows_of(task)
    for row in tasks.records(rows):
        check_row(row)  # raises "unknown task" for a task it has no solver for


def test_dp_tasks_are_the_ones_dp_cot_accuracy_solves():
    assert DP_TASKS  # lis, ed, local_dp, stream_dp at least
    module = load_metric("dp_cot_accuracy")
    solved = runpy.run_path(str(REPO_ROOT / "eval" / "dp_cot_accuracy" / "dp_cot_accuracy.py"))
    assert set(DP_TASKS) <= set(solved["TASKS"]) <= set(solved["PROMPT_FORMATS"])
    for task in DP_TASKS:  # its solver agrees with the generator on the metric's own inputs
        rows = rows_of(task, split="test_long")
        inputs = tasks.get_spec(task).metric_inputs(task, rows, True)
        completions = [
            cot + answer for cot, answer in zip(rows["cot"], rows["answer"], strict=True)
        ]
        scores = module.compute(predictions=completions, references=rows["answer"], **inputs)
        assert scores["exact_match"] == 1.0, task


@pytest.mark.parametrize("task", BUILT_IN)
def test_every_task_has_a_benchmark_baseline_that_writes_its_rows(bench, task):
    import random

    assert task in bench["BASELINES"] and task not in bench["without_baseline"]()
    low, high = tasks.split_lengths(task, "small")["train"]
    rng = random.Random(3)
    rows = [bench["BASELINES"][task](rng, i, low, high) for i in range(20)]
    assert all(list(row) == list(tasks.columns(task)) for row in rows)
    if task not in DP_TASKS:
        for row in rows:
            check_row(row)
        return
    # A DP baseline may draw its inputs its own way (ed: version 1's sampling), but writes the
    # registry's format: dp_cot_accuracy recomputes every chain from its prompt and finds it right.
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    inputs = tasks.get_spec(task).metric_inputs(task, columns, True)
    texts = [row["cot"] + row["answer"] for row in rows]
    scores = load_metric("dp_cot_accuracy").compute(
        predictions=texts, references=columns["answer"], **inputs
    )
    assert scores["exact_match"] == 1.0
