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
    compare,
    fmt,
    keeps_up,
    learned,
    learned_phrase,
    markdown_table,
    mean_std,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import DPTask, Scale
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
    return [job for run in runs for job in (run, dp_cot.scored(scale, dp, run))]


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
    curves: dict[str, dict[float, list[float]]] = {model: {} for model in models}
    counts: dict[int, int] = {}
    learned_runs = {}
    for model in models:
        flags = []
        for seed in range(scale.seeds):
            run = dp_cot.trained(scale, dp, model, seed, True)
            flags.append(learned(lookup(run), scale))
            for m, (accuracy, rows) in by_lag(lookup(dp_cot.scored(scale, dp, run))).items():
                if m in scale.dp_windows:
                    curves[model].setdefault(m, []).append(accuracy)
                    counts[m] = rows
        learned_runs[model] = flags
    ms = sorted(set(curves[scale.transformer]) & set(curves[scale.mamba]))
    plots.lines_with_spread(
        {model: {m: curves[model][m] for m in ms} for model in models},
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="lag m (the state each step reads back)",
        ylabel="answer accuracy",
        logx=True,
        xticklabels={m: str(m) for m in ms},
    )
    rows = [
        [f"m = {m}", f"{counts[m]}", *(fmt(*mean_std(curves[model][m])) for model in models)]
        for m in ms
    ]
    testable = bool(ms) and all(sum(flags) >= MIN_LEARNED for flags in learned_runs.values())
    verdict = UNTESTED
    paragraph = (
        f"The dp_cot study's {TASK} models, trained with CoT on n = {dp.min_length}-"
        f"{dp.max_length} and m drawn from {dp.params.get('m_choices')}, scored on their held-out "
        "test rows grouped by m (rows with n > m, so every problem reads back at least once). "
        + "; ".join(
            f"{model}: {learned_phrase(sum(flags), len(flags))}"
            for model, flags in learned_runs.items()
        )
        + ". "
    )
    if ms:
        small, large = ms[0], ms[-1]
        if testable:
            verdict = keeps_up(curves[scale.mamba][small], curves[scale.transformer][small])
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
    if not testable:
        paragraph += " Too few CoT runs learned the training range to compare."
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(
            ["lag", "test rows", *(f"{model} answer accuracy" for model in models)], rows
        ),
        figure=f"{NAME}.png",
        numbers={model: {str(m): curves[model][m] for m in ms} for model in models},
        anchors=dp_cot.ANCHORS[1:],
        scope=(
            f"Lags up to {max(ms, default=0)} on streams of at most {dp.max_length} digits: the "
            "small-m end of Theorem 5 at tiny scale."
        ),
    )
