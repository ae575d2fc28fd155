"""The metrics, as the package finds them: the `eval/` modules, shipped inside hf_copycot.

`eval/<name>/` holds each `evaluate` module (also a Hub Space that `evaluate.load` fetches alone).
The wheel carries those folders as the package data of `hf_copycot.metric_modules` (pyproject maps
that package to `eval/`), so an installed hf-copycot scores with the very same files as a clone, no
path into a checkout and no Hub access needed. Which metric scores a task, and with which
arguments, is the task's own declaration (`TaskSpec.metric`, `TaskSpec.metric_inputs`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from hf_copycot import tasks
from hf_copycot.errors import DataError

MODULES_PACKAGE = "hf_copycot.metric_modules"


def metric_path(name: str) -> Path:
    """The folder of the `evaluate` module `name` inside the installed package."""
    folder = Path(str(resources.files(MODULES_PACKAGE) / name))
    if not (folder / f"{name}.py").is_file():
        raise DataError(
            f"metric module {name!r} is not in {folder.parent}; reinstall hf-copycot "
            "(`pip install -e .` in a clone)"
        )
    return folder


@functools.cache
def load_metric(name: str):
    """The `evaluate` module `name`, kept in memory (no cache files, so processes scoring at once
    do not share any)."""
    import evaluate

    return evaluate.load(str(metric_path(name)), keep_in_memory=True)


def score(task: str, predictions: list[str], rows: Mapping[str, Sequence], use_cot: bool) -> dict:
    """The task's metric on `predictions` (JSON-serialisable, with per-length groups)."""
    spec = tasks.get_spec(task)
    metric = load_metric(spec.metric)
    return metric.compute(
        predictions=predictions,
        references=list(rows["answer"]),
        **spec.metric_inputs(task, rows, use_cot),
    )
