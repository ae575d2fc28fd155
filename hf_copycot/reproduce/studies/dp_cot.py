"""Dynamic programming with and without chain of thought, on a DP that is m-local for both models.

Feng et al.: with CoT a Transformer solves DP problems (LIS, edit distance) almost perfectly where
direct answers fail. Ren et al. (Theorem 5): on an m-local DP, a Mamba with CoT needs only a state
of size O(m), so it keeps up with a Transformer; on general DP (LIS, ED) its cost matches a
Transformer's, so at matched size the Transformer is expected to be ahead. `stream_dp` feeds each
input right before its step, so the DP is m-local for a recurrent model too (see
hf_copycot/tasks/stream_dp.py). Each pair trains on each task with CoT and without it (the answer
alone) to the gate or the budget, then is scored on in-range test rows.
"""

from __future__ import annotations

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, dp_run, dp_test, learned
from hf_copycot.reproduce.scales import DPTask, Scale
from hf_copycot.reproduce.statistics import MIN_LEARNED, UNTESTED, combine, gap_verdict, keeps_up

NAME = "dp_cot"
TITLE = "DP with and without chain of thought"
CLAIM = (
    "Chain of thought beats direct answers on DP problems (Feng et al.); on an m-local DP a "
    "Mamba with CoT keeps up with a Transformer, while on general DP (LIS, ED) the Transformer is "
    "ahead at matched size (Ren et al., Thm. 5)."
)
ANCHORS = (papers.FENG_DP, papers.REN_THEOREM_5)
LOCAL_TASKS = ("stream_dp",)  # m-local for a recurrent model: Mamba should keep up
MODES = {True: "CoT", False: "direct"}


def jobs(scale: Scale) -> list[Job]:
    out = []
    for dp in scale.dp_tasks:
        for use_cot in (True, False):
            for model in scale.pair:
                for seed in range(scale.seeds):
                    run = dp_run(scale, dp, model, seed, use_cot)
                    out += [run, dp_test(scale, dp, run)]
    return out


def runs_of(
    scale: Scale, lookup: Lookup, dp: DPTask, model: str, use_cot: bool
) -> tuple[dict, int]:
    """Per seed: test answer accuracy and learned?; and how many test problems training saw."""
    accuracy, flags, overlap = [], [], 0
    for seed in range(scale.seeds):
        run = dp_run(scale, dp, model, seed, use_cot)
        result, test = lookup(run), lookup(dp_test(scale, dp, run))
        seen = (result.get("train_test_overlap") or {}).get("eval_prompts_in_train", {})
        accuracy.append(test["results"]["test"][test["main_score"]])
        flags.append(learned(result, scale))
        overlap += seen.get("test", 0)
    return {"answer_accuracy": accuracy, "learned": flags}, overlap


def key(dp: DPTask, model: str, use_cot: bool) -> str:
    return f"{dp.task}/{model}/{MODES[use_cot]}"


def claims(scale: Scale, dp: DPTask, numbers: dict) -> dict[str, str]:
    """The sub-claims this task tests, each with its verdict."""
    models = scale.pair

    def acc(model: str, use_cot: bool) -> list[float]:
        return numbers[key(dp, model, use_cot)]["answer_accuracy"]

    def learned_runs(model: str, use_cot: bool) -> int:
        return sum(numbers[key(dp, model, use_cot)]["learned"])

    out = {}
    cot_learned = all(learned_runs(m, True) >= MIN_LEARNED for m in models)
    for model in models:
        out[f"CoT beats direct for {model}"] = (
            gap_verdict(acc(model, True), acc(model, False))
            if learned_runs(model, True)
            else UNTESTED
        )
    transformer, mamba = acc(scale.transformer, True), acc(scale.mamba, True)
    if dp.task in LOCAL_TASKS:
        claim, result = "Mamba with CoT keeps up", keeps_up(mamba, transformer)
    else:
        claim, result = "the Transformer with CoT is ahead", gap_verdict(transformer, mamba)
    out[claim] = result if cot_learned else UNTESTED
    return out


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Per task, model and mode: test answer accuracy and learned per seed; every sub-claim's
    verdict; how many test problems the training streams produced (0 by construction)."""
    out: dict = {}
    parts: dict[str, str] = {}
    overlap = 0
    for dp in scale.dp_tasks:
        for model in scale.pair:
            for use_cot in (True, False):
                out[key(dp, model, use_cot)], seen = runs_of(scale, lookup, dp, model, use_cot)
                overlap += seen
        for claim, result in claims(scale, dp, out).items():
            parts[f"{dp.task}: {claim}"] = result
    out["claims"] = parts
    out["train_test_overlap"] = overlap
    return out


def verdict(scale: Scale, numbers: dict) -> str:
    return combine(list(numbers["claims"].values()))


def tested(scale: Scale) -> str:
    """Which clauses the verdict covers, where the scale runs no general DP."""
    if any(dp.task not in LOCAL_TASKS for dp in scale.dp_tasks):
        return ""
    return (
        "clauses tested: CoT vs direct and Mamba keeping up on the m-local DP; the general-DP "
        "clause (LIS, ED) runs at the gpu scale only"
    )
