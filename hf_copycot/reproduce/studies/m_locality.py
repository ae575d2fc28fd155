"""m-local DP: answer accuracy vs the lag m, for the Mamba and the Transformer trained with CoT.

Ren et al., Theorem 5: when each DP step reads only the state m steps back, a Mamba with CoT needs a
state of size O(m), not O(n), so it should keep up with a Transformer when m is small (and may
fall behind as m grows). The dp_cot study's stream_dp models (trained on a mix of m) are scored on
their held-out test rows, and the task reports those scores per lag m (`by_slice`, rows with
n > m only: with m >= n a stream_dp step never reads back). No job of its own.
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    MIN_LEARNED,
    UNTESTED,
    Lookup,
    Section,
    bootstrap_gap,
    combine,
    compare,
    fmt,
    keeps_up,
    learned,
    learned_phrase,
    markdown_table,
    mean_std,
    with_model_overrides,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import DPTask, Scale
from hf_copycot.reproduce.statistics import verdict_of
from hf_copycot.reproduce.studies import dp_cot

NAME = "m_locality"
TITLE = "m-local DP: answer accuracy vs lag m (CoT)"
CLAIM = (
    "On a DP whose step reads the state m steps back, a Mamba with CoT keeps up with a "
    "Transformer when m is small: a state of size O(m) suffices (Ren et al., Thm. 5)."
)
TASK = "stream_dp"


def stream_task(scale: Scale) -> DPTask | None:
    return next((dp for dp in scale.dp_tasks if dp.task == TASK), None)


def jobs(scale: Scale) -> list[Job]:
    dp = stream_task(scale)
    if dp is None:
        return []
    runs = [
        dp_cot.trained(scale, dp, model, seed, True)
        for model in (scale.transformer, scale.mamba)
        for seed in range(scale.seeds)
    ]
    runs += [
        shallow_run(scale, dp, d, seed)
        for d in scale.locality_state_sizes
        for seed in range(scale.seeds)
    ]
    return [job for run in runs for job in (run, dp_cot.scored(scale, dp, run))]


def shallow_run(scale: Scale, dp: DPTask, d_state: int, seed: int) -> Job:
    """The state sweep's shallow Mamba with `d_state`, trained with CoT like the pair."""
    run = dp_cot.trained(scale, dp, scale.mamba, seed, True)
    overrides = f"{scale.state_overrides},state_size={d_state}"
    return with_model_overrides(
        run, overrides, label=f"{dp.task} cot {scale.mamba} {overrides} seed {seed}"
    )


def lag_curves(scale: Scale, lookup: Lookup, dp: DPTask, runs: list[Job]):
    """(m -> accuracy per run, m -> test rows, learned per run) over `runs`' scored test rows."""
    curve: dict[float, list[float]] = {}
    counts: dict[int, int] = {}
    flags = []
    for run in runs:
        flags.append(learned(lookup(run), scale))
        for m, (accuracy, rows) in by_lag(lookup(dp_cot.scored(scale, dp, run))).items():
            if m in scale.dp_windows:
                curve.setdefault(m, []).append(accuracy)
                counts[m] = rows
    return curve, counts, flags


def by_lag(result: dict) -> dict[int, tuple[float, int]]:
    """m -> (answer accuracy, rows) on a scored job's test rows that read back."""
    slices = result["results"]["test"].get("by_slice") or {}
    main = result["main_score"]
    return {int(key.split("=")[1]): (s[main], s["count"]) for key, s in slices.items()}


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    dp = stream_task(scale)
    if dp is None:
        return Section(NAME, TITLE, CLAIM, UNTESTED, f"This scale trains no {TASK} model.")
    models = (scale.transformer, scale.mamba)
    curves: dict[str, dict[float, list[float]]] = {}
    counts: dict[int, int] = {}
    learned_runs = {}
    for model in models:
        runs = [dp_cot.trained(scale, dp, model, seed, True) for seed in range(scale.seeds)]
        curves[model], found, learned_runs[model] = lag_curves(scale, lookup, dp, runs)
        counts |= found
    shallow = {}
    for d in scale.locality_state_sizes:
        runs = [shallow_run(scale, dp, d, seed) for seed in range(scale.seeds)]
        shallow[f"N={d}"], _, learned_runs[f"shallow N={d}"] = lag_curves(scale, lookup, dp, runs)
    ms = sorted(set(curves[scale.transformer]) & set(curves[scale.mamba]))
    plots.lines_with_spread(
        {model: {m: curves[model][m] for m in ms} for model in models}
        | {
            f"{scale.mamba} {scale.state_overrides}, {name}": {m: c[m] for m in ms if m in c}
            for name, c in shallow.items()
        },
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="lag m (the state each step reads back)",
        ylabel="answer accuracy",
        logx=True,
        xticklabels={m: str(m) for m in ms},
    )
    rows = [
        [
            f"m = {m}",
            f"{counts[m]}",
            *(fmt(*mean_std(curves[model][m])) for model in models),
            *(fmt(*mean_std(c.get(m, []))) for c in shallow.values()),
        ]
        for m in ms
    ]
    testable = bool(ms) and all(sum(learned_runs[m]) >= MIN_LEARNED for m in models)
    paragraph = (
        f"The dp_cot study's {TASK} models, trained with CoT on n = {dp.min_length}-"
        f"{dp.max_length} and m drawn from {dp.params.get('m_choices')}, scored on their held-out "
        "test rows grouped by m (rows with n > m, so every problem reads back at least once). "
        + "; ".join(
            f"{model}: {learned_phrase(sum(learned_runs[model]), scale.seeds)}" for model in models
        )
        + ". "
    )
    parts: dict[str, str] = {}
    if ms:
        small, large = ms[0], ms[-1]
        if testable:
            parts[f"{scale.mamba} keeps up at m = {small}"] = keeps_up(
                curves[scale.mamba][small], curves[scale.transformer][small]
            )
        paragraph += (
            f"At m = {small}: "
            f"{compare(curves[scale.mamba][small], curves[scale.transformer][small], models[::-1])}"
            f"; at m = {large}: "
            f"{compare(curves[scale.mamba][large], curves[scale.transformer][large], models[::-1])}."
            f" {scale.mamba} goes from {fmt(*mean_std(curves[scale.mamba][small]))} at m = {small} "
            f"to {fmt(*mean_std(curves[scale.mamba][large]))} at m = {large}, "
            f"{scale.transformer} from {fmt(*mean_std(curves[scale.transformer][small]))} to "
            f"{fmt(*mean_std(curves[scale.transformer][large]))}: Theorem 5 expects a fixed-size "
            "state to keep up at small m, not at every m."
        )
    if len(shallow) >= 2 and ms:
        names = list(shallow)
        low_name, high_name = names[0], names[-1]
        low_curve, high_curve = shallow[low_name], shallow[high_name]
        at_small = bootstrap_gap(high_curve.get(small, []), low_curve.get(small, []))
        at_large = bootstrap_gap(high_curve.get(large, []), low_curve.get(large, []))
        parts[f"a larger state helps at m = {large} ({high_name} vs {low_name})"] = verdict_of(
            at_large
        )
        paragraph += (
            f" Theorem 5 crossed with state size ({scale.mamba} with `{scale.state_overrides}`, "
            f"d_state {', '.join(n[2:] for n in shallow)}): {high_name} minus {low_name} at "
            f"m = {small}: {at_small.text()}; at m = {large}: {at_large.text()}. "
            + "; ".join(
                f"shallow {name}: {learned_phrase(sum(learned_runs[f'shallow {name}']), scale.seeds)}"
                for name in shallow
            )
            + "."
        )
    if not testable:
        paragraph += " Too few CoT runs learned the training range to compare."
    verdict = combine(list(parts.values())) if parts else UNTESTED
    if parts:
        paragraph += " Parts: " + "; ".join(f"{k}: {v}" for k, v in parts.items()) + "."
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(
            [
                "lag",
                "test rows",
                *(f"{model} answer accuracy" for model in models),
                *(f"shallow {scale.mamba} {name}" for name in shallow),
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers={model: {str(m): curves[model][m] for m in ms} for model in models}
        | {f"shallow {name}": {str(m): c.get(m, []) for m in ms} for name, c in shallow.items()}
        | {"claims": parts},
        anchors=dp_cot.ANCHORS[1:],
        scope=(
            f"Lags up to {max(ms, default=0)} on streams of at most {dp.max_length} digits: the "
            "small-m end of Theorem 5 at tiny scale."
        ),
    )
