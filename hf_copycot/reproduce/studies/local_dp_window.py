"""m-local DP: accuracy vs the window m, for the Mamba and the Transformer trained with CoT.

Ren et al., Theorem 5: when each DP step reads only the previous m states, a Mamba with CoT needs a
state of size O(m), not O(n), so it should keep up with a Transformer when m is small and fall
behind as m approaches n. The dp_cot study's local_dp models (trained on every m) are evaluated on
test rows with m fixed to each value; a window at or above the longest n stands for m = n on every
row (no locality), the way the training rows write it, so no prompt holds an m the models never saw.
"""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    Lookup,
    Section,
    compare,
    evaluate_job,
    fmt,
    markdown_table,
    mean_std,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import DPTask, Scale
from hf_copycot.reproduce.studies import dp_cot

NAME = "local_dp_window"
TITLE = "m-local DP: answer accuracy vs window m (CoT)"
CLAIM = (
    "On DP problems whose steps read only the last m states, Mamba with CoT keeps up with a "
    "Transformer when m is small (Ren et al., Thm. 5)."
)


def _local_dp(scale: Scale) -> DPTask | None:
    return next((dp for dp in scale.dp_tasks if dp.task == "local_dp"), None)


def no_locality(dp: DPTask, m: int) -> bool:
    """Whether window m covers every n of the task, i.e. stands for m = n on every row."""
    return m >= dp.max_length


def window_params(dp: DPTask, m: int) -> dict:
    """Generator parameters for window m: m fixed, or m = n per row when m covers every n."""
    if no_locality(dp, m):
        return {**dp.params, "m": None, "global_fraction": 1.0}
    return {**dp.params, "m": m}


def window_eval(scale: Scale, dp: DPTask, model: str, seed: int, m: int) -> Job:
    run = dp_cot.trained(scale, dp, model, seed, use_cot=True)
    return evaluate_job(
        scale,
        run,
        task="local_dp",
        lengths=(dp.min_length, dp.max_length),
        examples=scale.eval_examples,
        params=window_params(dp, m),
        seed=2000 + seed,
        label=f"local_dp m={m} {model} seed {seed}",
        info={"m": m},
    )


def jobs(scale: Scale) -> list[Job]:
    dp = _local_dp(scale)
    if dp is None:
        return []
    return [
        job
        for model in (scale.transformer, scale.mamba)
        for seed in range(scale.seeds)
        for m in scale.local_dp_windows
        for job in (
            dp_cot.trained(scale, dp, model, seed, True),
            window_eval(scale, dp, model, seed, m),
        )
    ]


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    dp = _local_dp(scale)
    if dp is None:
        return Section(NAME, TITLE, CLAIM, "not run", "This scale has no local_dp task.")
    models = (scale.transformer, scale.mamba)
    acc = {
        (model, m): [
            lookup(window_eval(scale, dp, model, seed, m))["results"]["test"]["answer_accuracy"]
            for seed in range(scale.seeds)
        ]
        for model in models
        for m in scale.local_dp_windows
    }
    windows = scale.local_dp_windows
    label = {m: ("n (no locality)" if no_locality(dp, m) else str(m)) for m in windows}
    rows = [[label[m], *(fmt(*mean_std(acc[model, m])) for model in models)] for m in windows]
    plots.lines_with_spread(
        {model: {m: acc[model, m] for m in windows} for model in models},
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="window m (log scale)",
        ylabel="answer accuracy",
        logx=True,
        xticklabels={m: "n" if no_locality(dp, m) else str(m) for m in windows},
    )

    def gap(m: int) -> float:
        return mean_std(acc[models[0], m])[0] - mean_std(acc[models[1], m])[0]

    small, large = min(windows), max(windows)
    transformer_small = mean_std(acc[models[0], small])[0]
    spread = sum(mean_std(acc[model, small])[1] for model in models)
    paragraph = (
        f"Models trained on local_dp (n = {dp.min_length}-{dp.max_length}, every m) with CoT, "
        f"evaluated with m fixed. At m = {small}: "
        f"{compare(acc[models[0], small], acc[models[1], small], models)}; at m = {label[large]}: "
        f"{compare(acc[models[0], large], acc[models[1], large], models)}. "
    )
    if dp.params.get("min_value", -1) >= 0:
        paragraph += (
            "With values >= 0 every dp value is at least dp_1, so a window that reaches back to "
            "position 1 makes the step trivial (dp_i = x_i + x_1): the no-locality point is the "
            "easiest here, not the hardest. "
        )
    if scale.seeds < 2:
        verdict = "inconclusive"
        paragraph += "One seed: no spread to compare against."
    elif transformer_small < 0.5:
        verdict = "inconclusive"
        paragraph += (
            f"The Transformer itself reaches only {transformer_small:.1%} at m = {small}: the "
            "models did not learn the task well enough at this scale to test the claim (the "
            "gpu scale trains wider models on longer problems)."
        )
    else:
        verdict = "supported" if gap(small) <= spread else "not supported"
        paragraph += (
            f"At m = {small} the gap is {'within' if verdict == 'supported' else 'beyond'} the "
            f"seed spread ({spread * 100:.1f} points)."
        )
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(["m", *models], rows),
        figure=f"{NAME}.png",
        numbers={f"{model}/m={m}": v for (model, m), v in acc.items()},
    )
