"""m-local DP: answer accuracy vs the lag m, for the Mamba and the Transformer trained with CoT.

Ren et al., Theorem 5: when each DP step reads only the state m steps back, a Mamba with CoT needs a
state of size O(m), not O(n), so it should keep up with a Transformer when m is small (and may
fall behind as m grows). The pair's stream_dp CoT models (dp_cot's runs, trained on a mix of m)
and the shallow Mamba of the state sweep at each of `locality_state_sizes` are scored on their
held-out test rows, which the task reports per lag m (`by_slice`, rows with n > m only: with
m >= n a stream_dp step never reads back).
"""

from __future__ import annotations

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, dp_run, dp_test, learned, with_model_overrides
from hf_copycot.reproduce.scales import DPTask, Scale
from hf_copycot.reproduce.statistics import (
    MIN_LEARNED,
    UNTESTED,
    bootstrap_gap,
    combine,
    keeps_up,
    verdict_of,
)

NAME = "m_locality"
TITLE = "m-local DP: answer accuracy vs lag m (CoT)"
CLAIM = (
    "On a DP whose step reads the state m steps back, a Mamba with CoT keeps up with a "
    "Transformer when m is small: a state of size O(m) suffices (Ren et al., Thm. 5)."
)
ANCHORS = (papers.REN_THEOREM_5,)
TASK = "stream_dp"


def stream_task(scale: Scale) -> DPTask | None:
    return next((dp for dp in scale.dp_tasks if dp.task == TASK), None)


def shallow_name(d_state: int) -> str:
    return f"N={d_state}"


def shallow_run(scale: Scale, dp: DPTask, d_state: int, seed: int) -> Job:
    """The state sweep's shallow Mamba with `d_state`, trained with CoT like the pair."""
    run = dp_run(scale, dp, scale.mamba, seed, True)
    overrides = f"{scale.state_overrides},state_size={d_state}"
    return with_model_overrides(
        run, overrides, label=f"{dp.task} cot {scale.mamba} {overrides} seed {seed}"
    )


def runs_of(scale: Scale, dp: DPTask) -> dict[str, list[Job]]:
    """The pair's CoT runs and the shallow Mamba's, a list of seeds each."""
    seeds = range(scale.seeds)
    out = {model: [dp_run(scale, dp, model, seed, True) for seed in seeds] for model in scale.pair}
    for d in scale.locality_state_sizes:
        out[f"shallow {shallow_name(d)}"] = [shallow_run(scale, dp, d, seed) for seed in seeds]
    return out


def jobs(scale: Scale) -> list[Job]:
    dp = stream_task(scale)
    if dp is None:
        return []
    runs = [run for group in runs_of(scale, dp).values() for run in group]
    return [job for run in runs for job in (run, dp_test(scale, dp, run))]


def by_lag(result: dict) -> dict[int, tuple[float, int]]:
    """m -> (answer accuracy, rows) on a scored job's test rows that read back."""
    slices = result["results"]["test"].get("by_slice") or {}
    main = result["main_score"]
    return {int(key.split("=")[1]): (s[main], s["count"]) for key, s in slices.items()}


def lag_curves(scale: Scale, lookup: Lookup, dp: DPTask, runs: list[Job]):
    """(m -> accuracy per run, m -> test rows, learned per run) over `runs`' scored test rows."""
    curve: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    flags = []
    for run in runs:
        flags.append(learned(lookup(run), scale))
        for m, (accuracy, rows) in by_lag(lookup(dp_test(scale, dp, run))).items():
            if m in scale.dp_windows:
                curve.setdefault(m, []).append(accuracy)
                counts[m] = rows
    return curve, counts, flags


def lags(numbers: dict, scale: Scale) -> list[int]:
    """The lags both models of the pair were scored at."""
    return [int(m) for m in numbers[scale.transformer]]


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Per model (the pair, then the shallow Mamba per d_state): answer accuracy per lag and seed;
    learned per seed; test rows per lag; the gaps between the largest and smallest shallow states
    at the smallest and largest lag; each part of the claim's verdict. Empty without stream_dp."""
    dp = stream_task(scale)
    if dp is None:
        return {}
    curves, counts, flags = {}, {}, {}
    for name, runs in runs_of(scale, dp).items():
        curves[name], found, flags[name] = lag_curves(scale, lookup, dp, runs)
        if name in scale.pair:
            counts |= found
    transformer, mamba = (curves[model] for model in scale.pair)
    ms = sorted(set(transformer) & set(mamba))
    out: dict = {name: {str(m): curve.get(m, []) for m in ms} for name, curve in curves.items()}
    parts: dict[str, str] = {}
    gaps: dict[str, dict] = {}
    shallow = [f"shallow {shallow_name(d)}" for d in scale.locality_state_sizes]
    if ms:
        small, large = ms[0], ms[-1]
        if all(sum(flags[model]) >= MIN_LEARNED for model in scale.pair):
            parts[f"{scale.mamba} keeps up at m = {small}"] = keeps_up(
                mamba[small], transformer[small]
            )
        if len(shallow) >= 2:
            low, high = curves[shallow[0]], curves[shallow[-1]]
            at = {m: bootstrap_gap(high.get(m, []), low.get(m, [])) for m in (small, large)}
            gaps = {f"m = {m}": gap.as_dict() for m, gap in at.items()}
            names = (
                f"{shallow[-1].removeprefix('shallow ')} vs {shallow[0].removeprefix('shallow ')}"
            )
            parts[f"a larger state helps at m = {large} ({names})"] = verdict_of(at[large])
    out["claims"] = parts
    out["learned"] = flags
    out["test_rows"] = {str(m): counts[m] for m in ms}
    out["state_gaps"] = gaps
    return out


def verdict(scale: Scale, numbers: dict) -> str:
    parts = numbers.get("claims")
    return combine(list(parts.values())) if parts else UNTESTED
