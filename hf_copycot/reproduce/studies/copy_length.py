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
    MIN_LEARNED,
    UNTESTED,
    Anchor,
    Lookup,
    Section,
    bootstrap_gap,
    by_length_scores,
    combine,
    evaluate_job,
    fmt,
    learned,
    learned_phrase,
    markdown_table,
    mean_std,
    train_job,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import Gap, verdict_of

NAME = "copy_length"
TITLE = "COPY: accuracy vs string length"
CLAIM = (
    "A Transformer learns to copy and generalises to strings longer than it trained on (Jelassi "
    "et al.: strongly with Hard-ALiBi); a constant-size Mamba's copy accuracy falls with length "
    "(Jelassi et al.; Ren et al., Thm. 1-2)."
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


def models_of(scale: Scale) -> tuple[str, ...]:
    """The Transformers (RoPE first, then the positional-encoding variants), then the Mamba."""
    return (scale.transformer, *scale.copy_variants, scale.mamba)


def jobs(scale: Scale) -> list[Job]:
    out = []
    for model in models_of(scale):
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


def mamba_half(runs: list[dict]) -> tuple[str, Gap]:
    """Mamba's copy accuracy falls beyond the range: in-range minus beyond-range exact match on
    the runs that learned, its interval above 0."""
    done = [r for r in runs if r["learned"]]
    gap = bootstrap_gap([r["in_range"] for r in done], [r["beyond"] for r in done])
    if len(done) < MIN_LEARNED:
        return UNTESTED, gap
    return verdict_of(gap), gap


def transformer_half(runs: list[dict], mamba: list[dict]) -> tuple[str, Gap]:
    """A Transformer generalises beyond the range, better than the Mamba: its beyond-range exact
    match minus the Mamba's (runs that learned), the interval above 0 and its mean not ~0."""
    ours = [r["beyond"] for r in runs if r["learned"]]
    theirs = [r["beyond"] for r in mamba if r["learned"]]
    gap = bootstrap_gap(ours, theirs)
    if len(ours) < MIN_LEARNED or len(theirs) < MIN_LEARNED:
        return UNTESTED, gap
    result = verdict_of(gap)
    if result != CONTRADICTED and mean_std(ours)[0] < NOTHING:
        return CONTRADICTED, gap  # it does not generalise at all
    return result, gap


def claimed_variant(scale: Scale) -> str:
    """The Transformer the papers' strong claim is about: Hard-ALiBi where it runs."""
    return next((m for m in scale.copy_variants if m.endswith("hard-alibi")), scale.transformer)


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    low, high = scale.copy_lengths
    top = 2 * high
    models = models_of(scale)
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
                fmt(*mean_std([r["beyond"] for r in done])) if done else "n/a",
                f"{mean_std([r['longest_copied'] for r in done])[0]:.1f}" if done else "n/a",
                fmt(*mean_std([r["in_range"] for r in runs[model]])),
                fmt(*mean_std([r["beyond"] for r in runs[model]])),
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
    halves: dict[str, tuple[str, Gap]] = {
        f"{scale.mamba} falls beyond the range (in-range - beyond)": mamba_half(runs[scale.mamba])
    }
    for model in (scale.transformer, *scale.copy_variants):
        halves[f"{model} generalises beyond the range (its beyond - {scale.mamba}'s)"] = (
            transformer_half(runs[model], runs[scale.mamba])
        )
    numbers["halves"] = {claim: {"verdict": v, **g.as_dict()} for claim, (v, g) in halves.items()}
    claimed = claimed_variant(scale)
    result = combine(
        [
            verdict
            for claim, (verdict, _) in halves.items()
            if claim.startswith((scale.mamba, claimed))
        ]
    )
    paragraph = (
        f"Trained on lengths {low}-{high} to the gate or {scale.copy_budgets[high]} updates of "
        f"{scale.batch_size}; scored at every length up to {top}; headline numbers on the runs "
        "that learned, all-run means beside them. " + "; ".join(sentences) + ". Each half of the "
        "claim, on the runs that learned (exact match, beyond = lengths "
        f"{high + 1}-{top}): "
        + "; ".join(f"{claim}: **{v}** ({g.text()})" for claim, (v, g) in halves.items())
        + f". The section's verdict combines the Mamba half with {claimed}'s, the Transformer the "
        "papers' strong length-generalisation result is about (Jelassi et al. report it for "
        "Hard-ALiBi; nothing in either paper says RoPE generalises)."
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
                f"exact match {high + 1}-{top}, runs that learned",
                f"longest copied at >= {scale.gate:.0%}, runs that learned",
                f"exact match {low}-{high}, all runs",
                f"exact match {high + 1}-{top}, all runs",
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers=numbers,
        anchors=ANCHORS,
        scope=SCOPE.format(longest=top),
    )
