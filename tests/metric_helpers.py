"""Load the eval/ metric modules the way users do (evaluate.load on the folder), once a session."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from types import ModuleType

import evaluate

REPO_ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO_ROOT / "eval"
METRIC_NAMES = ("copy_accuracy", "phonebook_accuracy", "dp_cot_accuracy")


@functools.cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    return evaluate.load(str(EVAL_DIR / name))


def scoring_module(name: str) -> ModuleType:
    """The module evaluate imported for `name`: its plain scoring functions, as loaded."""
    return inspect.getmodule(type(load_metric(name)))
