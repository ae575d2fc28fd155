"""How copy_length reads: the length curves, a row per model, each half of the claim in words."""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, fmt, learned_phrase, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import Gap, mean_std
from hf_copycot.reproduce.studies import copy_length as study

SCOPE = (
    "Models of about 0.1 M parameters copying at most {longest} letters: whether the two "
    "architectures already differ at this size, not how the papers' 160M-parameter models behave."
)


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    low, high = scale.copy_lengths
    top = 2 * high
    rows, series, sentences = [], {}, []
    for model in study.models_of(scale):
        values = numbers[model]
        flags = values["learned"]
        beyond = values["beyond_range_exact_match"]
        done = [b for b, ok in zip(beyond, flags, strict=True) if ok]
        longest = [n for n, ok in zip(values["longest_copied"], flags, strict=True) if ok]
        series[model] = {int(length): v for length, v in values["by_length"].items()}
        rows.append(
            [
                model,
                f"{len(done)} of {len(flags)}",
                fmt(*mean_std(done)) if done else "n/a",
                f"{mean_std(longest)[0]:.1f}" if done else "n/a",
                fmt(*mean_std(values["in_range_exact_match"])),
                fmt(*mean_std(beyond)),
            ]
        )
        sentences.append(f"{model}: {learned_phrase(len(done), len(flags))}")
    plots.lines_with_spread(
        series,
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        xlabel="string length (characters)",
        ylabel="exact match",
        vline=(high + 0.5, "longest trained"),
    )
    halves = numbers["halves"]
    paragraph = (
        f"Trained on lengths {low}-{high} to the gate or {scale.copy_budgets[high]} updates of "
        f"{scale.batch_size}; scored at every length up to {top}; headline numbers on the runs "
        "that learned, all-run means beside them. " + "; ".join(sentences) + ". Each half of the "
        "claim, on the runs that learned (exact match, beyond = lengths "
        f"{high + 1}-{top}): "
        + "; ".join(
            f"{claim}: **{half['verdict']}** ({Gap.from_dict(half).text()})"
            for claim, half in halves.items()
        )
        + f". The section's verdict combines the Mamba half with {study.claimed_variant(scale)}'s, "
        "the Transformer the papers' strong length-generalisation result is about (Jelassi et al. "
        "report it for Hard-ALiBi; nothing in either paper says RoPE generalises)."
    )
    return section_of(
        study,
        verdict,
        paragraph,
        table=markdown_table(
            [
                "model",
                "learned the range",
                f"exact match {high + 1}-{top}, runs that learned",
                f"longest copied at >= {scale.gate:.0%}, runs that learned",
                f"exact match {low}-{high}, all runs",
                f"exact match {high + 1}-{top}, all runs",
            ],
            rows,
        ),
        numbers=numbers,
        scope=SCOPE.format(longest=top),
    )
