"""What a greedy generation costs a Mamba and a Transformer: memory held and speed, by length.

Builds a parameter-matched pair of presets (default mamba-small / pythia-small, untrained: cost does
not depend on the weights), feeds each a prompt of L tokens and generates N more with the arena's
greedy loop, and prints per L: the bytes the cache holds (read off the real cache objects, checked
against `expected_cache_memory`), time to first token and decode speed, with the Mamba / Transformer
ratio (the Transformer is the baseline run in the same process). Also extrapolates the memory to
lengths too long to run here, from the same formula.

    python benchmarks/bench_inference_cost.py [--lengths 64 256 1024] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import platform

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from hf_copycot.inference_cost import expected_cache_memory, format_bytes, measure_generation
from hf_copycot.models import load_model_and_tokenizer


def best_of(runs: int, model, input_ids, new_tokens: int):
    """The run with the fastest decode (the shared machine's noise only ever slows a run down)."""
    costs = [measure_generation(model, input_ids, max_new_tokens=new_tokens) for _ in range(runs)]
    return max(costs, key=lambda cost: cost.tokens_per_second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mamba", default="preset:mamba-small")
    parser.add_argument("--transformer", default="preset:pythia-small")
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    models = {
        "mamba": load_model_and_tokenizer(args.mamba)[0].eval(),
        "transformer": load_model_and_tokenizer(args.transformer)[0].eval(),
    }
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; {args.mamba} "
        f"({models['mamba'].num_parameters():,} parameters) vs {args.transformer} "
        f"({models['transformer'].num_parameters():,}); {args.new_tokens} new tokens, "
        f"best of {args.runs}"
    )
    print(
        "| prompt tokens | Mamba state | Transformer KV cache | memory ratio | first token "
        "(Mamba / Transformer) | decode tok/s (Mamba / Transformer) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    vocab = models["mamba"].config.vocab_size
    for model in models.values():  # warm-up: first calls pay for allocation and lazy imports
        measure_generation(model, torch.full((1, 16), 5), max_new_tokens=8)
    for length in args.lengths:
        input_ids = torch.randint(3, vocab, (1, length), generator=torch.Generator().manual_seed(0))
        cost = {
            name: best_of(args.runs, model, input_ids, args.new_tokens)
            for name, model in models.items()
        }
        for name, model in models.items():
            read = length + len(cost[name].token_ids) - 1
            assert cost[name].memory == expected_cache_memory(model.config, read), name
        mamba, transformer = cost["mamba"], cost["transformer"]
        print(
            f"| {length} | {format_bytes(mamba.memory.total_bytes)} | "
            f"{format_bytes(transformer.memory.total_bytes)} | "
            f"{mamba.memory.total_bytes / transformer.memory.total_bytes:.3f}x | "
            f"{mamba.first_token_seconds * 1000:.1f} / {transformer.first_token_seconds * 1000:.1f} ms "
            f"({mamba.first_token_seconds / transformer.first_token_seconds:.2f}x) | "
            f"{mamba.tokens_per_second:,.0f} / {transformer.tokens_per_second:,.0f} "
            f"({mamba.tokens_per_second / transformer.tokens_per_second:.2f}x) |"
        )
    print("\nMemory extrapolated from the configs (float32, batch 1):")
    for length in (10_000, 100_000, 1_000_000):
        state = expected_cache_memory(models["mamba"].config, length).total_bytes
        kv = expected_cache_memory(models["transformer"].config, length).total_bytes
        print(f"  {length:>9,} tokens: Mamba {format_bytes(state)}, Transformer {format_bytes(kv)}")


if __name__ == "__main__":
    main()
