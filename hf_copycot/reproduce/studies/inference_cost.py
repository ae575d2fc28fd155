"""Inference cost: per-token latency and cache memory of generation vs context length.

Mamba carries a constant state; a Transformer's KV cache grows with every token, and so does the
work of attending to it. Both copy-trained models of the pair (seed 0) read a prompt of each length
and generate; the time per new token and the bytes the cache holds are measured on the real
cache objects (`hf_copycot.inference_cost`, through `runs.cost_job`), not computed. These runs
execute alone, after the training, so that no other job shares the cores while they are timed.
"""

from __future__ import annotations

from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, copy_run, cost_job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import CONTRADICTED, SUPPORTED

NAME = "inference_cost"
TITLE = "Inference cost vs context length"
CLAIM = (
    "Mamba generates with a constant-size state, so its per-token time and memory do not grow "
    "with the context; a Transformer's KV cache and per-token work grow linearly."
)
ANCHORS = ()


def jobs(scale: Scale) -> list[Job]:
    out = []
    for model in scale.pair:
        out += [copy_run(scale, model, 0), cost_job(scale, model)]
    return out


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Per model and context: time per token, first-token time and the cache's bytes."""
    return {model: lookup(cost_job(scale, model))["contexts"] for model in scale.pair}


def growth(numbers: dict, scale: Scale, model: str, field: str) -> float:
    """`field` at the longest context over the shortest."""
    low, high = min(scale.cost_contexts), max(scale.cost_contexts)
    return numbers[model][str(high)][field] / numbers[model][str(low)][field]


def verdict(scale: Scale, numbers: dict) -> str:
    """Memory: the Mamba's cache flat, the Transformer's grown more than 1.5x (per-token time on a
    CPU is dominated by fixed overheads at these sizes)."""
    flat = growth(numbers, scale, scale.mamba, "cache_bytes") == 1.0
    grows = growth(numbers, scale, scale.transformer, "cache_bytes") > 1.5
    return SUPPORTED if flat and grows else CONTRADICTED
