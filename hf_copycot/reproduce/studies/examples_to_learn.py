"""Examples to learn COPY, per architecture and maximum training length.

Ren et al. report Mamba failing to train at N_max = 40 where a Transformer trains stably; Jelassi et
al. find Transformers learn to copy from far fewer examples. Each pair trains on copy with lengths up
to each N_max, evaluated every `eval_every` updates; examples-to-learn is the number of training
examples seen when in-range exact match first reaches 90% (censored at the budget).
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import Lookup, Section, markdown_table, mean_std
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import SCALES, Scale
from hf_copycot.reproduce.studies.copy_length import trained

NAME = "examples_to_learn"
TITLE = "COPY: examples needed to learn, vs maximum length"
CLAIM = (
    "Mamba needs sharply more training examples than a Transformer as the maximum copy length "
    "grows (Ren et al.: Mamba fails at N_max = 40 where a Transformer trains stably)."
)
THRESHOLD = 0.9


def jobs(scale: Scale) -> list[Job]:
    return [
        trained(scale, model, seed, n_max)
        for n_max in scale.n_max_values
        for model in (scale.transformer, scale.mamba)
        for seed in range(scale.seeds)
    ]


def learning_curve(result: dict, batch_size: int) -> dict[int, float]:
    """examples seen -> test exact match, from the run's evaluation history."""
    return {
        point["step"] * batch_size: point["test/exact_match"]
        for point in result.get("history", [])
        if "test/exact_match" in point
    }


def examples_to_learn(curve: dict[int, float]) -> int | None:
    """First number of examples at which exact match reaches THRESHOLD (None: never)."""
    return next((examples for examples in sorted(curve) if curve[examples] >= THRESHOLD), None)


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    budget = scale.copy_steps * scale.batch_size
    numbers: dict = {"threshold": THRESHOLD, "budget_examples": budget}
    series, rows = {}, []
    needed: dict[tuple[str, int], list[float]] = {}
    for n_max in scale.n_max_values:
        for model in (scale.transformer, scale.mamba):
            curves = [
                learning_curve(lookup(trained(scale, model, seed, n_max)), scale.batch_size)
                for seed in range(scale.seeds)
            ]
            reached = [examples_to_learn(curve) for curve in curves]
            # Censored runs count as the budget: a lower bound on what they would need.
            needed[model, n_max] = [budget if r is None else r for r in reached]
            points: dict[int, list[float]] = {}
            for curve in curves:
                for examples, value in curve.items():
                    points.setdefault(examples, []).append(value)
            series[f"{model}, N_max={n_max}"] = points
            mean, std = mean_std(needed[model, n_max])
            censored = sum(r is None for r in reached)
            cell = f"{mean:,.0f}" + (f" ± {std:,.0f}" if std else "")
            if censored:
                cell = f">= {cell} ({censored}/{len(reached)} never reached {THRESHOLD:.0%})"
            rows.append([f"N_max = {n_max}", model, cell])
            numbers[f"{model}/N_max={n_max}"] = {"examples_to_learn": reached, "curves": curves}
    plots.lines_with_spread(
        series,
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="training examples seen",
        ylabel="exact match (in-range test)",
    )
    low_n, high_n = min(scale.n_max_values), max(scale.n_max_values)

    def growth(model: str) -> float:
        return mean_std(needed[model, high_n])[0] / max(1.0, mean_std(needed[model, low_n])[0])

    mamba_more = min(needed[scale.mamba, high_n]) > max(needed[scale.transformer, high_n])
    mamba_grows_faster = growth(scale.mamba) > growth(scale.transformer)
    if scale.seeds < 2:
        verdict = "inconclusive"
    else:
        verdict = "supported" if mamba_more and mamba_grows_faster else "not supported"
    paragraph = (
        f"Examples until in-range exact match first reaches {THRESHOLD:.0%} (budget "
        f"{budget:,} examples; 'never' counts as the budget, a lower bound). From N_max = {low_n} "
        f"to {high_n} the need grows {growth(scale.transformer):.1f}x for {scale.transformer} and "
        f"{growth(scale.mamba):.1f}x for {scale.mamba}; at N_max = {high_n} "
        + (
            f"every {scale.mamba} seed needs more examples than every {scale.transformer} seed."
            if mamba_more
            else f"the {scale.mamba} seeds do not all need more than the {scale.transformer} ones "
            f"(means {mean_std(needed[scale.mamba, high_n])[0]:,.0f} vs "
            f"{mean_std(needed[scale.transformer, high_n])[0]:,.0f})."
        )
    )
    if verdict == "not supported":
        paragraph += (
            f" Ren et al.'s Mamba failed at N_max = 40 with larger models; the gpu scale covers "
            f"N_max = {', '.join(map(str, SCALES['gpu'].n_max_values))}."
        )
    numbers["growth"] = {
        scale.transformer: growth(scale.transformer),
        scale.mamba: growth(scale.mamba),
    }
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(["maximum length", "model", "examples to learn"], rows),
        figure=f"{NAME}.png",
        numbers=numbers,
    )
