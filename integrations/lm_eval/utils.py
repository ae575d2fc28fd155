"""process_results hooks of the copy-cot tasks: each scores one generation with the evaluate module.

lm-eval loads this file by path, so the hooks find the metric modules of the checkout they sit in
(`../../eval/<name>`), and outside a checkout the same modules on the Hub (`hf-copycot/<name>`).
Either way the scoring code is the evaluate module's: there is no second implementation here.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import evaluate

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval"
HUB_ORG = "hf-copycot"  # placeholder until the metric Spaces are published; see README.md


@functools.cache
def scoring_module(name: str) -> ModuleType:
    """The Python module behind `evaluate.load(name)`, whose scoring functions score one doc."""
    local_script = EVAL_DIR / name / f"{name}.py"
    metric = evaluate.load(str(local_script) if local_script.is_file() else f"{HUB_ORG}/{name}")
    return inspect.getmodule(type(metric))


def _only(scores: dict[str, Any]) -> dict[str, float]:
    return {name: float(values[0]) for name, values in scores.items()}


def process_results_copy(doc: dict, results: list[str]) -> dict[str, float]:
    """copy, prefix_ngram, suffix_ngram: exact_match, char_accuracy, prefix_length."""
    module = scoring_module("copy_accuracy")
    return _only(module.score_copies(results[:1], [doc["answer"]]))


def process_results_phonebook(doc: dict, results: list[str]) -> dict[str, float]:
    """phonebook: exact_match and digit_accuracy of the first generated line (Jelassi et al.)."""
    module = scoring_module("phonebook_accuracy")
    return _only(module.score_lookups(results[:1], [doc["answer"]]))


def process_results_dp(doc: dict, results: list[str]) -> dict[str, float]:
    """lis, ed, local_dp: answer and step scores, the DP recomputed from the doc's prompt."""
    module = scoring_module("dp_cot_accuracy")
    scores, _ = module.score_chains(
        results[:1], [doc["answer"]], prompts=[doc["prompt"]], task=doc["task"], cot=True
    )
    return _only(scores)


def doc_to_text_stream_dp(doc: dict) -> str:
    """stream_dp without chain of thought: the prompt `m=M:`, then the inputs it is given."""
    return doc["prompt"] + " ".join(str(value) for value in doc["values"]) + "|"


def process_results_stream_dp(doc: dict, results: list[str]) -> dict[str, float]:
    """stream_dp: the answer written after the given inputs (generate_until cannot interleave the
    inputs with the states, so the harness scores it without chain of thought). With no chain the
    written target is the answer alone, so its exact match is the answer's accuracy."""
    module = scoring_module("dp_cot_accuracy")
    scores, _ = module.score_chains(
        results[:1],
        [doc["answer"]],
        prompts=[doc_to_text_stream_dp(doc)],
        task=doc["task"],
        cot=False,
    )
    scores = _only(scores)
    return {**scores, "exact_match": scores["answer_accuracy"]}
