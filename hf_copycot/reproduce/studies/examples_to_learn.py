"""Examples to reach the gate on COPY, per architecture and maximum training length.

Ren et al. report Mamba failing to train at N_max = 40 where a Transformer trains stably; Jelassi et
al. find Transformers learn to copy from far fewer examples. Each pair trains on copy with lengths up
to each N_max until in-range validation exact match reaches the gate; examples-to-gate is the number
of training examples seen then (censored at the budget: a run that never reached it counts as the
budget, a lower bound).
"""

from __future__ import annotations

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, copy_run, examples_to_gate
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import MIN_LEARNED, UNTESTED, gap_verdict

NAME = "examples_to_learn"
TITLE = "COPY: examples to learn, vs maximum training length"
CLAIM = (
    "Mamba needs sharply more training examples than a Transformer to learn to copy, more so as "
    "the maximum length grows (Jelassi et al.; Ren et al.: Mamba fails at N_max = 40 where a "
    "Transformer trains stably)."
)
ANCHORS = (papers.JELASSI_SAMPLE_EFFICIENCY, papers.REN_COPY_TRAINING)


def jobs(scale: Scale) -> list[Job]:
    return [
        copy_run(scale, model, seed, n_max)
        for n_max in scale.n_max_values
        for model in scale.pair
        for seed in range(scale.seeds)
    ]


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """The gate, each N_max's budget in examples, and per model and N_max the examples each seed
    took to reach the gate (None: it never did)."""
    out: dict = {
        "gate": scale.gate,
        "budget_examples": {
            str(n): steps * scale.batch_size for n, steps in sorted(scale.copy_budgets.items())
        },
    }
    for n_max in scale.n_max_values:
        for model in scale.pair:
            out[f"{model}/N_max={n_max}"] = {
                "examples_to_gate": [
                    examples_to_gate(lookup(copy_run(scale, model, seed, n_max)), scale)
                    for seed in range(scale.seeds)
                ]
            }
    return out


def needed(numbers: dict, model: str, n_max: int) -> list[int]:
    """Examples to the gate per seed, a run that never got there counted as the budget."""
    budget = numbers["budget_examples"][str(n_max)]
    reached = numbers[f"{model}/N_max={n_max}"]["examples_to_gate"]
    return [budget if r is None else r for r in reached]


def learned_count(numbers: dict, model: str, n_max: int) -> int:
    return sum(r is not None for r in numbers[f"{model}/N_max={n_max}"]["examples_to_gate"])


def needs_more(transformer: list[float], mamba: list[float], learned_any: bool) -> str:
    """Does the Mamba need more examples than the Transformer?"""
    if not learned_any:
        return UNTESTED
    return gap_verdict(mamba, transformer)


def verdict(scale: Scale, numbers: dict) -> str:
    """At the largest N_max, where enough runs of either model learned."""
    top = max(scale.n_max_values)
    learned_any = any(learned_count(numbers, m, top) >= MIN_LEARNED for m in scale.pair)
    return needs_more(
        needed(numbers, scale.transformer, top), needed(numbers, scale.mamba, top), learned_any
    )
