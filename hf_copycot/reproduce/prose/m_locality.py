"""How m_locality reads: accuracy per lag for the pair and the shallow Mamba's states."""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, fmt, learned_phrase, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import MIN_LEARNED, UNTESTED, Gap, compare, mean_std
from hf_copycot.reproduce.studies import m_locality as study


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    dp = study.stream_task(scale)
    if dp is None:
        return Section(
            study.NAME,
            study.TITLE,
            study.CLAIM,
            UNTESTED,
            f"This scale trains no {study.TASK} model.",
        )
    models = scale.pair
    ms = study.lags(numbers, scale)
    curves = {model: {m: numbers[model][str(m)] for m in ms} for model in models}
    shallow = {
        study.shallow_name(d): {m: numbers[f"shallow {study.shallow_name(d)}"][str(m)] for m in ms}
        for d in scale.locality_state_sizes
    }
    learned = numbers["learned"]
    plots.lines_with_spread(
        curves
        | {
            f"{scale.mamba} {scale.state_overrides}, {name}": {m: v for m, v in c.items() if v}
            for name, c in shallow.items()
        },
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        xlabel="lag m (the state each step reads back)",
        ylabel="answer accuracy",
        logx=True,
        xticklabels={m: str(m) for m in ms},
    )
    rows = [
        [
            f"m = {m}",
            f"{numbers['test_rows'][str(m)]}",
            *(fmt(*mean_std(curves[model][m])) for model in models),
            *(fmt(*mean_std(c[m])) for c in shallow.values()),
        ]
        for m in ms
    ]
    testable = bool(ms) and all(sum(learned[m]) >= MIN_LEARNED for m in models)
    paragraph = (
        f"The dp_cot study's {study.TASK} models, trained with CoT on n = {dp.min_length}-"
        f"{dp.max_length} and m drawn from {dp.params.get('m_choices')}, scored on their held-out "
        "test rows grouped by m (rows with n > m, so every problem reads back at least once). "
        + "; ".join(
            f"{model}: {learned_phrase(sum(learned[model]), scale.seeds)}" for model in models
        )
        + ". "
    )
    mamba, transformer = curves[scale.mamba], curves[scale.transformer]
    if ms:
        small, large = ms[0], ms[-1]
        paragraph += (
            f"At m = {small}: {compare(mamba[small], transformer[small], models[::-1])}"
            f"; at m = {large}: {compare(mamba[large], transformer[large], models[::-1])}."
            f" {scale.mamba} goes from {fmt(*mean_std(mamba[small]))} at m = {small} "
            f"to {fmt(*mean_std(mamba[large]))} at m = {large}, "
            f"{scale.transformer} from {fmt(*mean_std(transformer[small]))} to "
            f"{fmt(*mean_std(transformer[large]))}: Theorem 5 expects a fixed-size "
            "state to keep up at small m, not at every m."
        )
    if len(shallow) >= 2 and ms:
        names = list(shallow)
        at_small, at_large = (
            Gap.from_dict(numbers["state_gaps"][f"m = {m}"]) for m in (small, large)
        )
        paragraph += (
            f" Theorem 5 crossed with state size ({scale.mamba} with `{scale.state_overrides}`, "
            f"d_state {', '.join(n[2:] for n in shallow)}): {names[-1]} minus {names[0]} at "
            f"m = {small}: {at_small.text()}; at m = {large}: {at_large.text()}. "
            + "; ".join(
                f"shallow {name}: {learned_phrase(sum(learned[f'shallow {name}']), scale.seeds)}"
                for name in shallow
            )
            + "."
        )
    if not testable:
        paragraph += " Too few CoT runs learned the training range to compare."
    parts = numbers["claims"]
    if parts:
        paragraph += " Parts: " + "; ".join(f"{k}: {v}" for k, v in parts.items()) + "."
    return section_of(
        study,
        verdict,
        paragraph,
        table=markdown_table(
            [
                "lag",
                "test rows",
                *(f"{model} answer accuracy" for model in models),
                *(f"shallow {scale.mamba} {name}" for name in shallow),
            ],
            rows,
        ),
        numbers=numbers,
        scope=(
            f"Lags up to {max(ms, default=0)} on streams of at most {dp.max_length} digits: the "
            "small-m end of Theorem 5 at tiny scale."
        ),
    )
