"""How phonebook reads: accuracy per checkpoint and book size; why cpu scales skip it."""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, fmt, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import mean_std
from hf_copycot.reproduce.studies import phonebook as study


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    if not scale.phonebook_models:
        return Section(
            study.NAME,
            study.TITLE,
            study.CLAIM,
            verdict,
            f"Not run in the {scale.name} scale: the claim is about the released Mamba and Pythia "
            "checkpoints (130M parameters and up), which need the Hub and, to be quick, a GPU. "
            "Run `copycot reproduce --scale gpu` on a machine with both; a from-scratch phone "
            "book at this scale would need far more than the CPU budget to learn the lookup.",
        )
    entries = scale.phonebook_entries
    short = {model: model.split("/")[-1] for model in scale.phonebook_models}
    rows = [
        [short[model], *(fmt(*mean_std(numbers[study.key(model, n)])) for n in entries)]
        for model in scale.phonebook_models
    ]
    plots.lines_with_spread(
        {short[model]: {n: numbers[study.key(model, n)] for n in entries} for model in short},
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        xlabel="phone-book entries",
        ylabel="exact match",
        logx=True,
    )
    largest = max(entries)
    paragraph = f"At {largest} entries: " + "; ".join(
        f"{short[pythia]} {mean_std(numbers[study.key(pythia, largest)])[0]:.1%} vs "
        f"{short[mamba]} {mean_std(numbers[study.key(mamba, largest)])[0]:.1%}"
        for mamba, pythia in study.pairs(scale)
    )
    return section_of(
        study,
        verdict,
        paragraph + ".",
        table=markdown_table(["model", *(f"N = {n}" for n in entries)], rows),
        numbers=numbers,
    )
