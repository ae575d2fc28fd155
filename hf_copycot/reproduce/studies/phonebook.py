"""Phone-book lookup with the released checkpoints, few-shot (Jelassi et al., Figure 1).

Jelassi et al.: pretrained Pythia beats pretrained Mamba of the same size at retrieving a number
from a phone book, and the gap grows with the book. Each released checkpoint of the gpu scale is
scored with `copycot evaluate` (two few-shot lines in the prompt, no training) on books of each
size. The checkpoints come from the Hub, so CPU scales without Hub access do not run this study.
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import Lookup, Section, evaluate_job, fmt, markdown_table, mean_std
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import Scale

NAME = "phonebook"
TITLE = "Phone book: accuracy vs entries (released checkpoints, few-shot)"
CLAIM = (
    "Pretrained Pythia beats a pretrained Mamba of equal size at phone-book lookup, more so as "
    "the book grows (Jelassi et al.)."
)


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


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    if not scale.phonebook_models:
        return Section(
            NAME,
            TITLE,
            CLAIM,
            "not run",
            f"Not run in the {scale.name} preset: the claim is about the released Mamba and Pythia "
            "checkpoints (130M parameters and up), which need the Hub and, to be quick, a GPU. "
            "Run `copycot reproduce --scale gpu` on a machine with both; a from-scratch phone "
            "book at this scale would need far more than the CPU budget to learn the lookup.",
        )
    acc = {
        (model, n): [
            lookup(lookup_eval(scale, model, n, seed))["results"]["test"]["exact_match"]
            for seed in range(scale.seeds)
        ]
        for model in scale.phonebook_models
        for n in scale.phonebook_entries
    }
    short = {model: model.split("/")[-1] for model in scale.phonebook_models}
    rows = [
        [short[model], *(fmt(*mean_std(acc[model, n])) for n in scale.phonebook_entries)]
        for model in scale.phonebook_models
    ]
    plots.lines_with_spread(
        {short[model]: {n: acc[model, n] for n in scale.phonebook_entries} for model in short},
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="phone-book entries",
        ylabel="exact match",
        logx=True,
    )
    pairs = list(zip(scale.phonebook_models[::2], scale.phonebook_models[1::2], strict=False))
    largest = max(scale.phonebook_entries)
    wins = [
        mean_std(acc[pythia, largest])[0] > mean_std(acc[mamba, largest])[0]
        for mamba, pythia in pairs
    ]
    paragraph = f"At {largest} entries: " + "; ".join(
        f"{short[pythia]} {mean_std(acc[pythia, largest])[0]:.1%} vs {short[mamba]} "
        f"{mean_std(acc[mamba, largest])[0]:.1%}"
        for mamba, pythia in pairs
    )
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict="supported" if wins and all(wins) else "not supported",
        paragraph=paragraph + ".",
        table=markdown_table(["model", *(f"N = {n}" for n in scale.phonebook_entries)], rows),
        figure=f"{NAME}.png",
        numbers={f"{model}/N={n}": v for (model, n), v in acc.items()},
    )
