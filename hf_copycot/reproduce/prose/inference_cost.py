"""How inference_cost reads: time per token and cache bytes against the context."""

from __future__ import annotations

from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.studies import inference_cost as study


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    from hf_copycot.inference_cost import format_bytes

    models = scale.pair
    contexts = scale.cost_contexts
    latency = {
        m: {c: numbers[m][str(c)]["seconds_per_token"] * 1e3 for c in contexts} for m in models
    }
    memory = {m: {c: numbers[m][str(c)]["cache_bytes"] for c in contexts} for m in models}
    rows = [
        [
            c,
            *(f"{latency[m][c]:.2f} ms" for m in models),
            *(format_bytes(memory[m][c]) for m in models),
        ]
        for c in contexts
    ]
    plots.two_panels(
        latency,
        memory,
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        xlabel="context length (tokens)",
        left_ylabel="time per generated token (ms)",
        right_ylabel="cache bytes held",
    )

    def growth(model: str, field: str) -> float:
        return study.growth(numbers, scale, model, field)

    transformer, mamba = scale.transformer, scale.mamba
    paragraph = (
        f"From {min(contexts)} to {max(contexts)} context tokens the cache grows "
        f"{growth(transformer, 'cache_bytes'):.1f}x for {transformer} and "
        f"{growth(mamba, 'cache_bytes'):.2f}x for {mamba}; time per token grows "
        f"{growth(transformer, 'seconds_per_token'):.2f}x and "
        f"{growth(mamba, 'seconds_per_token'):.2f}x. These are tiny models on a CPU: per-token "
        "time is dominated by fixed overheads until contexts are long, so the memory column is "
        "the cleaner test here."
    )
    return section_of(
        study,
        verdict,
        paragraph,
        table=markdown_table(
            [
                "context",
                *(f"{m} ms/token" for m in models),
                *(f"{m} cache" for m in models),
            ],
            rows,
        ),
        numbers=numbers,
    )
