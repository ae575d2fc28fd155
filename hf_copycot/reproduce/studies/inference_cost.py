"""Inference cost: per-token latency and cache memory of generation vs context length.

Mamba carries a constant state; a Transformer's KV cache grows with every token, and so does the
work of attending to it. Both copy-trained models of the pair (seed 0) read a prompt of each length
and generate; the time per new token and the bytes the cache holds are measured on the real
cache objects (`hf_copycot.inference_cost`), not computed. These runs execute alone, after the
training, so that no other job shares the cores while they are timed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import Lookup, Section, markdown_table
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.studies import copy_length

NAME = "inference_cost"
TITLE = "Inference cost vs context length"
CLAIM = (
    "Mamba generates with a constant-size state, so its per-token time and memory do not grow "
    "with the context; a Transformer's KV cache and per-token work grow linearly."
)


@dataclass
class CostArguments:
    """What one measurement job reads and generates."""

    contexts: list[int] = field(default_factory=list, metadata={"help": "Prompt lengths (tokens)."})
    new_tokens: int = field(default=32, metadata={"help": "Tokens generated per measurement."})


def cost_job(scale: Scale, model: str) -> Job:
    run = copy_length.trained(scale, model, 0)
    return Job(
        "inference_cost",
        f"inference cost {model}",
        (CostArguments(list(scale.cost_contexts), scale.cost_new_tokens),),
        needs=run.key,
        cost=sum(scale.cost_contexts) / 2000,
        info={"model": model},
    )


def jobs(scale: Scale) -> list[Job]:
    out = []
    for model in (scale.transformer, scale.mamba):
        out += [copy_length.trained(scale, model, 0), cost_job(scale, model)]
    return out


def measure(args: CostArguments, model_dir: Path) -> dict:
    """Runs in a worker: greedy generation after random prompts of each length."""
    import torch

    from hf_copycot.inference_cost import measure_generation
    from hf_copycot.models import load_model_and_tokenizer, scan_path

    model, tokenizer = load_model_and_tokenizer(str(model_dir))
    model.eval()
    generator = torch.Generator().manual_seed(0)
    letters = tokenizer.convert_tokens_to_ids(list("abcdefghijklmnopqrstuvwxyz"))
    out = {}
    for context in args.contexts:
        picks = torch.randint(len(letters), (1, context), generator=generator)
        input_ids = torch.tensor(letters)[picks]
        measure_generation(model, input_ids[:, :8], max_new_tokens=2)  # warm-up
        cost = measure_generation(model, input_ids, max_new_tokens=args.new_tokens)
        out[str(context)] = {
            "first_token_seconds": cost.first_token_seconds,
            "seconds_per_token": 1 / cost.tokens_per_second if cost.tokens_per_second else None,
            "kv_bytes": cost.memory.kv_bytes,
            "state_bytes": cost.memory.state_bytes,
            "cache_bytes": cost.memory.total_bytes,
            "threads": torch.get_num_threads(),
        }
    return {"contexts": out, "mamba_scan": scan_path(model)}


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    from hf_copycot.inference_cost import format_bytes

    models = (scale.transformer, scale.mamba)
    measured = {model: lookup(cost_job(scale, model))["contexts"] for model in models}
    contexts = scale.cost_contexts
    latency = {
        m: {c: measured[m][str(c)]["seconds_per_token"] * 1e3 for c in contexts} for m in models
    }
    memory = {m: {c: measured[m][str(c)]["cache_bytes"] for c in contexts} for m in models}
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
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="context length (tokens)",
        left_ylabel="time per generated token (ms)",
        right_ylabel="cache bytes held",
    )
    low, high = min(contexts), max(contexts)

    def growth(data: dict, model: str) -> float:
        return data[model][high] / data[model][low]

    mamba_flat = growth(memory, scale.mamba) == 1.0
    transformer_grows = growth(memory, scale.transformer) > 1.5
    paragraph = (
        f"From {low} to {high} context tokens the cache grows {growth(memory, scale.transformer):.1f}x "
        f"for {scale.transformer} and {growth(memory, scale.mamba):.2f}x for {scale.mamba}; time per "
        f"token grows {growth(latency, scale.transformer):.2f}x and "
        f"{growth(latency, scale.mamba):.2f}x. These are tiny models on a CPU: per-token time is "
        "dominated by fixed overheads until contexts are long, so the memory column is the cleaner "
        "test here."
    )
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict="supported" if mamba_flat and transformer_grows else "not supported",
        paragraph=paragraph,
        table=markdown_table(
            [
                "context",
                *(f"{m} ms/token" for m in models),
                *(f"{m} cache" for m in models),
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers=measured,
    )
