"""Phone-book lookup with the released checkpoints, few-shot (Jelassi et al., Figure 1).

Jelassi et al.: pretrained Pythia beats pretrained Mamba of the same size at retrieving a number
from a phone book, and the gap grows with the book. Each released checkpoint of the gpu scale is
scored with `copycot evaluate` (two few-shot lines in the prompt, no training) on books of each
size. The checkpoints come from the Hub, so CPU scales without Hub access do not run this study.
"""

from __future__ import annotations

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, evaluate_job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import CONTRADICTED, SUPPORTED, UNTESTED, mean_std

NAME = "phonebook"
TITLE = "Phone book: accuracy vs entries (released checkpoints, few-shot)"
CLAIM = (
    "Pretrained Pythia beats a pretrained Mamba of equal size at phone-book lookup, more so as "
    "the book grows (Jelassi et al.)."
)
ANCHORS = (papers.JELASSI_PHONEBOOK,)


def lookup_eval(scale: Scale, model: str, entries: int, seed: int) -> Job:
    return evaluate_job(
        scale,
        None,
        task="phonebook",
        lengths=(entries, entries),
        examples=scale.eval_examples,
        model=model,
        seed=seed,
        label=f"phonebook N={entries} {model.split('/')[-1]} seed {seed}",
        info={"model": model, "entries": entries, "seed": seed},
    )


def jobs(scale: Scale) -> list[Job]:
    return [
        lookup_eval(scale, model, entries, seed)
        for model in scale.phonebook_models
        for entries in scale.phonebook_entries
        for seed in range(scale.seeds)
    ]


def key(model: str, entries: int) -> str:
    return f"{model}/N={entries}"


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Exact match per checkpoint, book size and seed (empty where the scale runs none)."""
    return {
        key(model, n): [
            lookup(lookup_eval(scale, model, n, seed))["results"]["test"]["exact_match"]
            for seed in range(scale.seeds)
        ]
        for model in scale.phonebook_models
        for n in scale.phonebook_entries
    }


def pairs(scale: Scale) -> list[tuple[str, str]]:
    """(Mamba, Pythia) of equal size: the checkpoints are listed in that order."""
    models = scale.phonebook_models
    return list(zip(models[::2], models[1::2], strict=False))


def verdict(scale: Scale, numbers: dict) -> str:
    """Pythia ahead of its Mamba at the largest book, for every pair."""
    if not scale.phonebook_models:
        return UNTESTED
    largest = max(scale.phonebook_entries)
    wins = [
        mean_std(numbers[key(pythia, largest)])[0] > mean_std(numbers[key(mamba, largest)])[0]
        for mamba, pythia in pairs(scale)
    ]
    return SUPPORTED if wins and all(wins) else CONTRADICTED
