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

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    MIN_LEARNED,
    UNTESTED,
    Anchor,
    Lookup,
    Section,
    combine,
    compare,
    evaluate_job,
    fmt,
    gap_verdict,
    keeps_up,
    learned,
    learned_phrase,
    markdown_table,
    mean_std,
    train_job,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import DPTask, Scale

NAME = "dp_cot"
TITLE = "DP with and without chain of thought"
CLAIM = (
    "Chain of thought beats direct answers on DP problems (Feng et al.); on an m-local DP a "
    "Mamba with CoT keeps up with a Transformer, while on general DP (LIS, ED) the Transformer is "
    "ahead at matched size (Ren et al., Thm. 5)."
)
LOCAL_TASKS = ("stream_dp",)  # m-local for a recurrent model: Mamba should keep up
ANCHORS = (
    Anchor(
        "Feng et al. 2023",
        "LIS and ED results (assets/result.png and logs of the authors' repository; the paper's "
        "main results figure)",
        "test accuracy with CoT (3 layers) 99.5% / 99.8% / 99.99% on LIS n = 50 / 80 / 100 and "
        "100% / 100% / 99.99% on ED n = 12 / 16 / 20, against 64.4 / 30.0 / 22.6% and "
        "75.2 / 54.7 / 42.6% for 3-layer direct models (5 layers: 95.9 / 75.2 / 55.1% and "
        "93.4 / 79.9 / 64.0%)",
        "Transformers of width 256, 1M training problems, mean of 4 seeds at epoch 99",
        "github.com/guyuntian/CoT_benchmark (logs/LIS, logs/edit_distance)",
    ),
    Anchor(
        "Ren et al. 2024",
        "Theorem 5 and the CoT experiments (as summarised)",
        "a constant-size Mamba of size O(m) with CoT solves an m-locality DP; in their CoT "
        "experiments (LIS, arithmetic) the Transformer is consistently more accurate than Mamba",
        "the paper's from-scratch models",
        "arXiv 2410.03810, as summarised by a secondary source; not verified against the PDF",
    ),
)


def trained(
    scale: Scale,
    dp: DPTask,
    model: str,
    seed: int,
    use_cot: bool,
    learning_rate: float | None = None,
) -> Job:
    mode = "cot" if use_cot else "direct"
    return train_job(
        scale,
        model=model,
        task=dp.task,
        seed=seed,
        steps=scale.dp_steps,
        lengths=(dp.min_length, dp.max_length),
        group="dp",
        use_cot=use_cot,
        params=dp.params,
        learning_rate=learning_rate,
        tokenizer=dp.tokenizer,
        label=f"{dp.task} {mode} {model} seed {seed}"
        + (f" lr {learning_rate:g}" if learning_rate else ""),
    )


def scored(scale: Scale, dp: DPTask, run: Job) -> Job:
    """In-range test accuracy of a trained DP model, on the test rows its training held out
    (same seed, lengths and parameters: the training stream never produced one of them)."""
    return evaluate_job(
        scale,
        run,
        task=dp.task,
        lengths=(dp.min_length, dp.max_length),
        examples=scale.dp_test_examples,
        params=dp.params,
        seed=run.info["seed"],
        label=f"test {run.label}",
    )


def jobs(scale: Scale) -> list[Job]:
    out = []
    for dp in scale.dp_tasks:
        for use_cot in (True, False):
            for model in (scale.transformer, scale.mamba):
                for seed in range(scale.seeds):
                    run = trained(scale, dp, model, seed, use_cot)
                    out += [run, scored(scale, dp, run)]
    return out


def runs_of(scale: Scale, lookup: Lookup, dp: DPTask, model: str, use_cot: bool) -> list[dict]:
    """Per seed: learned?, test answer accuracy, and how many test problems training saw."""
    out = []
    for seed in range(scale.seeds):
        run = trained(scale, dp, model, seed, use_cot)
        result, test = lookup(run), lookup(scored(scale, dp, run))
        overlap = (result.get("train_test_overlap") or {}).get("eval_prompts_in_train", {})
        out.append(
            {
                "learned": learned(result, scale),
                "accuracy": test["results"]["test"][test["main_score"]],
                "overlap": overlap.get("test", 0),
            }
        )
    return out


def claims(scale: Scale, dp: DPTask, runs: dict) -> dict[str, str]:
    """The sub-claims this task tests, each with its verdict."""
    models = (scale.transformer, scale.mamba)
    acc = {key: [r["accuracy"] for r in value] for key, value in runs.items()}
    out = {}
    cot_learned = all(sum(r["learned"] for r in runs[m, True]) >= MIN_LEARNED for m in models)
    for model in models:
        out[f"CoT beats direct for {model}"] = (
            gap_verdict(acc[model, True], acc[model, False])
            if any(r["learned"] for r in runs[model, True])
            else UNTESTED
        )
    transformer, mamba = acc[scale.transformer, True], acc[scale.mamba, True]
    if dp.task in LOCAL_TASKS:
        key, result = "Mamba with CoT keeps up", keeps_up(mamba, transformer)
    else:
        key, result = "the Transformer with CoT is ahead", gap_verdict(transformer, mamba)
    out[key] = result if cot_learned else UNTESTED
    return out


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    models = (scale.transformer, scale.mamba)
    rows, numbers, bars, parts, sentences = [], {}, {}, {}, []
    overlap = 0
    for dp in scale.dp_tasks:
        runs = {
            (model, use_cot): runs_of(scale, lookup, dp, model, use_cot)
            for model in models
            for use_cot in (True, False)
        }
        for (model, use_cot), values in runs.items():
            mode = "CoT" if use_cot else "direct"
            accuracy = [r["accuracy"] for r in values]
            count = sum(r["learned"] for r in values)
            overlap += sum(r["overlap"] for r in values)
            done = [r["accuracy"] for r in values if r["learned"]]
            rows.append(
                [
                    dp.task,
                    model,
                    mode,
                    f"{count} of {len(values)}",
                    fmt(*mean_std(done)) if done else "n/a",
                    fmt(*mean_std(accuracy)),
                ]
            )
            bars.setdefault(f"{model} {mode}", []).append(accuracy)
            numbers[f"{dp.task}/{model}/{mode}"] = {
                "answer_accuracy": accuracy,
                "learned": [r["learned"] for r in values],
            }
            sentences.append(f"{dp.task} {model} {mode}: {learned_phrase(count, len(values))}")
        for claim, verdict in claims(scale, dp, runs).items():
            parts[f"{dp.task}: {claim}"] = verdict
        cot = {m: [r["accuracy"] for r in runs[m, True]] for m in models}
        for model in models:
            direct = [r["accuracy"] for r in runs[model, False]]
            sentences.append(f"{dp.task} {model}: {compare(cot[model], direct, ('CoT', 'direct'))}")
        sentences.append(
            f"{dp.task} with CoT: {compare(cot[scale.mamba], cot[scale.transformer], models[::-1])}"
        )
    numbers["claims"] = parts
    numbers["train_test_overlap"] = overlap  # test problems the training streams produced
    plots.grouped_bars(
        [dp.task for dp in scale.dp_tasks],
        bars,
        out_dir / f"{NAME}.png",
        title=TITLE,
        ylabel="test answer accuracy",
    )
    result = combine(list(parts.values()))
    general = [dp.task for dp in scale.dp_tasks if dp.task not in LOCAL_TASKS]
    tested = (
        ""
        if general
        else (
            "clauses tested: CoT vs direct and Mamba keeping up on the m-local DP; the general-DP "
            "clause (LIS, ED) runs at the gpu scale only"
        )
    )
    tasks_text = ", ".join(
        f"{dp.task} n = {dp.min_length}-{dp.max_length}" for dp in scale.dp_tasks
    )
    paragraph = (
        f"Trained on {tasks_text} (to the gate or {scale.dp_steps} updates), scored on in-range "
        f"test problems; the training streams held {overlap} of them. "
        + "; ".join(sentences)
        + ". Parts of the claim: "
        + "; ".join(f"{claim}: {verdict}" for claim, verdict in parts.items())
        + "."
        + (f" The verdict covers these parts only ({tested})." if tested else "")
    )
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=result,
        paragraph=paragraph,
        table=markdown_table(
            [
                "task",
                "model",
                "mode",
                "learned the range",
                "test answer accuracy, runs that learned",
                "all runs",
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers=numbers,
        tested=tested,
        anchors=ANCHORS,
        scope=(
            "Tiny models on short streams of digits: whether CoT is needed and whether a tiny "
            "Mamba keeps up on a DP that is local for it; Feng et al.'s LIS and ED at n = 50-100 "
            "with one token per number are in the gpu scale."
        ),
    )
