"""How dp_cot reads: a row per task, model and mode; CoT against direct and model against model
in words; which clauses the verdict covers."""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, fmt, learned_phrase, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import compare, mean_std
from hf_copycot.reproduce.studies import dp_cot as study


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    models = scale.pair
    rows, bars, sentences = [], {}, []
    for dp in scale.dp_tasks:
        for model in models:
            for use_cot in (True, False):
                mode = study.MODES[use_cot]
                values = numbers[study.key(dp, model, use_cot)]
                accuracy, flags = values["answer_accuracy"], values["learned"]
                done = [a for a, ok in zip(accuracy, flags, strict=True) if ok]
                rows.append(
                    [
                        dp.task,
                        model,
                        mode,
                        f"{sum(flags)} of {len(flags)}",
                        fmt(*mean_std(done)) if done else "n/a",
                        fmt(*mean_std(accuracy)),
                    ]
                )
                bars.setdefault(f"{model} {mode}", []).append(accuracy)
                sentences.append(
                    f"{dp.task} {model} {mode}: {learned_phrase(sum(flags), len(flags))}"
                )
        cot = {m: numbers[study.key(dp, m, True)]["answer_accuracy"] for m in models}
        for model in models:
            direct = numbers[study.key(dp, model, False)]["answer_accuracy"]
            sentences.append(f"{dp.task} {model}: {compare(cot[model], direct, ('CoT', 'direct'))}")
        sentences.append(
            f"{dp.task} with CoT: {compare(cot[scale.mamba], cot[scale.transformer], models[::-1])}"
        )
    plots.grouped_bars(
        [dp.task for dp in scale.dp_tasks],
        bars,
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        ylabel="test answer accuracy",
    )
    tested = study.tested(scale)
    tasks_text = ", ".join(
        f"{dp.task} n = {dp.min_length}-{dp.max_length}" for dp in scale.dp_tasks
    )
    paragraph = (
        f"Trained on {tasks_text} (to the gate or {scale.dp_steps} updates), scored on in-range "
        f"test problems; the training streams held {numbers['train_test_overlap']} of them. "
        + "; ".join(sentences)
        + ". Parts of the claim: "
        + "; ".join(f"{claim}: {result}" for claim, result in numbers["claims"].items())
        + "."
        + (f" The verdict covers these parts only ({tested})." if tested else "")
    )
    return section_of(
        study,
        verdict,
        paragraph,
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
        numbers=numbers,
        tested=tested,
        scope=(
            "Tiny models on short streams of digits: whether CoT is needed and whether a tiny "
            "Mamba keeps up on a DP that is local for it; Feng et al.'s LIS and ED at n = 50-100 "
            "with one token per number are in the gpu scale."
        ),
    )
