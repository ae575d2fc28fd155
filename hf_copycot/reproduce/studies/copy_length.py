"""COPY accuracy at every length, from the shortest trained to twice the longest.

Jelassi et al. (and Ren et al., Theorems 1-2): a Transformer learns to copy and generalises to
longer strings; a constant-size Mamba's accuracy falls with length. Each architecture of the pair
trains on copy over `copy_lengths` until it reaches the gate (or its budget), then `copycot
evaluate` scores every length up to twice the longest. Length generalisation is read on the runs
that learned the training range, beside the means over all runs.
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    CONTRADICTED,
    INCONCLUSIVE,
    MIN_LEARNED,
    UNTESTED,
    Anchor,
    Lookup,
    Section,
    by_length_scores,
    compare,
    evaluate_job,
    fmt,
    gap_verdict,
    learned,
    learned_phrase,
    markdown_table,
    mean_std,
    train_job,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import Scale

NAME = "copy_length"
TITLE = "COPY: accuracy vs string length"
CLAIM = (
    "A Transformer learns to copy and generalises to strings longer than it trained on; a "
    "constant-size Mamba's copy accuracy falls with length (Jelassi et al.; Ren et al., Thm. 1-2)."
)
NOTHING = 0.1  # beyond-range exact match below which a model "does not generalise"
ANCHORS = (
    Anchor(
        "Jelassi et al. 2024",
        "copy length generalisation (figure number not checked here)",
        "trained on strings of length <= 50 and tested up to 1,000, every model copies in "
        "distribution; Mamba's accuracy drops to zero almost immediately beyond the training "
        "length, a Transformer's decays gradually, and one with Hard-ALiBi stays near perfect "
        "up to 1,000",
        "about 160M-parameter models, 26-letter alphabet",
        "arXiv 2402.01032, as summarised by a secondary source; not verified against the PDF",
    ),
)
SCOPE = (
    "Models of about 0.1 M parameters copying at most {longest} letters: whether the two "
    "architectures already differ at this size, not how the papers' 160M-parameter models behave."
)


def trained(
    scale: Scale,
    model: str,
    seed: int,
    n_max: int | None = None,
    learning_rate: float | None = None,
) -> Job:
    """The copy training run shared by this study, examples-to-gate and the state sweep
    (`learning_rate`: a rate of the grid, for `--tune_lr`; default the tuned one)."""
    low, high = scale.copy_lengths
    high = n_max or high
    return train_job(
        scale,
        model=model,
        task="copy",
        seed=seed,
        steps=scale.copy_budgets[high],
        lengths=(low, high),
        group="copy",
        learning_rate=learning_rate,
        label=f"copy<={high} {model} seed {seed}"
        + (f" lr {learning_rate:g}" if learning_rate else ""),
    )


def sweep_max(run: Job) -> int:
    """Twice the longest length the run trained on."""
    return 2 * run.info["lengths"][1]


def sweep(scale: Scale, run: Job, label: str) -> Job:
    """Copy accuracy at every length from the shortest trained to twice the longest."""
    low, top = run.info["lengths"][0], sweep_max(run)
    lengths = top - low + 1
    return evaluate_job(
        scale,
        run,
        task="copy",
        lengths=(low, top),
        examples=max(2 * scale.eval_examples, 48 * lengths),  # ~48 rows a length
        seed=1000 + run.info["seed"],
        label=f"length sweep {label}",
    )


def jobs(scale: Scale) -> list[Job]:
    out = []
    for model in (scale.transformer, scale.mamba):
        for seed in range(scale.seeds):
            run = trained(scale, model, seed)
            out += [run, sweep(scale, run, f"{model} seed {seed}")]
    return out


def curves_of(result: dict) -> dict[int, float]:
    """length -> exact match of one length sweep."""
    return by_length_scores(result, "exact_match")


def range_mean(curve: dict[int, float], low: int, high: int) -> float:
    values = [value for length, value in curve.items() if low <= length <= high]
    return sum(values) / max(1, len(values))


def longest_copied(curve: dict[int, float], threshold: float) -> int:
    """Largest L with exact match >= threshold at every length up to L (0 if the first fails)."""
    longest = 0
    for length in sorted(curve):
        if curve[length] < threshold:
            break
        longest = length
    return longest


def model_runs(scale: Scale, lookup: Lookup, model: str) -> list[dict]:
    """Per seed: learned?, the length curve, in-range and beyond-range exact match."""
    low, high = scale.copy_lengths
    out = []
    for seed in range(scale.seeds):
        run = trained(scale, model, seed)
        curve = curves_of(lookup(sweep(scale, run, "")))
        out.append(
            {
                "seed": seed,
                "learned": learned(lookup(run), scale),
                "curve": curve,
                "in_range": range_mean(curve, low, high),
                "beyond": range_mean(curve, high + 1, 2 * high),
                "longest_copied": longest_copied(curve, scale.gate),
            }
        )
    return out


def verdict(transformer: list[float], mamba: list[float]) -> str:
    """On runs that learned the range: does the Transformer generalise beyond it, better?"""
    if len(transformer) < MIN_LEARNED or len(mamba) < MIN_LEARNED:
        return UNTESTED
    result = gap_verdict(transformer, mamba)
    if result == INCONCLUSIVE and mean_std(transformer)[0] < NOTHING:
        return CONTRADICTED  # the Transformer does not generalise at all
    return result


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    low, high = scale.copy_lengths
    top = 2 * high
    models = (scale.transformer, scale.mamba)
    runs = {model: model_runs(scale, lookup, model) for model in models}
    rows, series, numbers, sentences = [], {}, {}, []
    for model in models:
        done = [r for r in runs[model] if r["learned"]]
        series[model] = {
            length: [r["curve"][length] for r in runs[model]] for length in runs[model][0]["curve"]
        }
        numbers[model] = {
            "learned": [r["learned"] for r in runs[model]],
            "in_range_exact_match": [r["in_range"] for r in runs[model]],
            "beyond_range_exact_match": [r["beyond"] for r in runs[model]],
            "longest_copied": [r["longest_copied"] for r in runs[model]],
            "by_length": {str(k): v for k, v in series[model].items()},
        }
        rows.append(
            [
                model,
                f"{len(done)} of {len(runs[model])}",
                fmt(*mean_std([r["in_range"] for r in runs[model]])),
                fmt(*mean_std([r["beyond"] for r in runs[model]])),
                fmt(*mean_std([r["beyond"] for r in done])) if done else "n/a",
                f"{mean_std([r['longest_copied'] for r in done])[0]:.1f}" if done else "n/a",
            ]
        )
        sentences.append(f"{model}: {learned_phrase(len(done), len(runs[model]))}")
    plots.lines_with_spread(
        series,
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="string length (characters)",
        ylabel="exact match",
        vline=(high + 0.5, "longest trained"),
    )
    beyond = {m: [r["beyond"] for r in runs[m] if r["learned"]] for m in models}
    result = verdict(beyond[scale.transformer], beyond[scale.mamba])
    paragraph = (
        f"Trained on lengths {low}-{high} to the gate or {scale.copy_budgets[high]} updates of "
        f"{scale.batch_size}; scored at every length up to {top}. " + "; ".join(sentences) + ". "
    )
    if result == UNTESTED:
        paragraph += (
            f"Fewer than {MIN_LEARNED} runs of a model learned the range, so there is no "
            "length generalisation to compare: a run that cannot copy the lengths it trained on "
            "says nothing about longer ones."
        )
    else:
        paragraph += (
            f"On the runs that learned, beyond the range ({high + 1}-{top}): "
            f"{compare(beyond[scale.transformer], beyond[scale.mamba], models)}"
            f" ({scale.transformer} {fmt(*mean_std(beyond[scale.transformer]))}, "
            f"{scale.mamba} {fmt(*mean_std(beyond[scale.mamba]))})."
        )
        if result == CONTRADICTED and mean_std(beyond[scale.transformer])[0] < NOTHING:
            paragraph += (
                " Neither architecture copies much past the longest trained length here: the "
                "Transformer's advantage the papers report does not appear at this scale."
            )
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=result,
        paragraph=paragraph,
        table=markdown_table(
            [
                "model",
                "learned the range",
                f"exact match {low}-{high}, all runs",
                f"exact match {high + 1}-{top}, all runs",
                f"exact match {high + 1}-{top}, runs that learned",
                f"longest copied at >= {scale.gate:.0%}, runs that learned",
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers=numbers,
        anchors=ANCHORS,
        scope=SCOPE.format(longest=top),
    )
