"""m-local DP: answer accuracy vs the lag m, for the Mamba and the Transformer trained with CoT.

Ren et al., Theorem 5: when each DP step reads only the state m steps back, a Mamba with CoT needs a
state of size O(m), not O(n), so it should keep up with a Transformer when m is small (and may
fall behind as m grows). The dp_cot study's stream_dp models (trained on a mix of m) are scored on
test problems with m fixed to each value, at lengths m + 1 and up so that every problem reads back
at least once (with m >= n a stream_dp step never reads back).
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    CONTRADICTED,
    SUPPORTED,
    UNTESTED,
    Lookup,
    Section,
    compare,
    evaluate_job,
    fmt,
    learned,
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


def lengths_for(dp: DPTask, m: int) -> tuple[int, int]:
    """Lengths whose every problem reads back at least once at lag m."""
    return max(dp.min_length, m + 1), dp.max_length


def window_eval(scale: Scale, dp: DPTask, model: str, seed: int, m: int) -> Job:
    run = dp_cot.trained(scale, dp, model, seed, use_cot=True)
    return evaluate_job(
        scale,
        run,
        task=TASK,
        lengths=lengths_for(dp, m),
        examples=scale.eval_examples,
        params={**dp.params, "m": m},
        seed=3000 + seed,
        label=f"m={m} {model} seed {seed}",
        info={"m": m},
    )


def windows(scale: Scale, dp: DPTask) -> list[int]:
    return [m for m in scale.dp_windows if m < dp.max_length]


def jobs(scale: Scale) -> list[Job]:
    dp = stream_task(scale)
    if dp is None:
        return []
    return [
        window_eval(scale, dp, model, seed, m)
        for model in (scale.transformer, scale.mamba)
        for seed in range(scale.seeds)
        for m in windows(scale, dp)
    ]


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    dp = stream_task(scale)
    if dp is None:
        return Section(NAME, TITLE, CLAIM, UNTESTED, f"This scale trains no {TASK} model.")
    models = (scale.transformer, scale.mamba)
    ms = windows(scale, dp)
    curves: dict[str, dict[float, list[float]]] = {}
    learned_runs = {
        model: [
            learned(lookup(dp_cot.trained(scale, dp, model, seed, True)), scale)
            for seed in range(scale.seeds)
        ]
        for model in models
    }
    for model in models:
        curves[model] = {}
        for m in ms:
            results = [
                lookup(window_eval(scale, dp, model, seed, m)) for seed in range(scale.seeds)
            ]
            curves[model][m] = [r["results"]["test"][r["main_score"]] for r in results]
    plots.lines_with_spread(
        curves,
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="lag m (the state each step reads back)",
        ylabel="answer accuracy",
        logx=True,
        xticklabels={m: str(m) for m in ms},
    )
    rows = [[f"m = {m}", *(fmt(*mean_std(curves[model][m])) for model in models)] for m in ms]
    small = min(ms)
    testable = all(sum(flags) >= 2 for flags in learned_runs.values())
    (mt, st), (mm, sm) = (
        mean_std(curves[scale.transformer][small]),
        mean_std(curves[scale.mamba][small]),
    )
    verdict = UNTESTED if not testable else SUPPORTED if mm >= mt - (st + sm) else CONTRADICTED
    paragraph = (
        f"The dp_cot study's {TASK} models trained with CoT on n = {dp.min_length}-"
        f"{dp.max_length} and m from {dp.params.get('m_choices')}, scored at each m on lengths "
        f"m + 1 to {dp.max_length}. At m = {small}: "
        f"{compare(curves[scale.mamba][small], curves[scale.transformer][small], models[::-1])}; "
        f"at m = {max(ms)}: "
        f"{compare(curves[scale.mamba][max(ms)], curves[scale.transformer][max(ms)], models[::-1])}."
    )
    if not testable:
        paragraph += " Too few CoT runs learned the training range to compare."
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(["lag", *(f"{model} answer accuracy" for model in models)], rows),
        figure=f"{NAME}.png",
        numbers={model: {str(m): curves[model][m] for m in ms} for model in models},
        anchors=dp_cot.ANCHORS[1:],
        scope=(
            f"Lags up to {max(ms)} on streams of at most {dp.max_length} digits: the small-m end "
            "of Theorem 5 at tiny scale."
        ),
    )
