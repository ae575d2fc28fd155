"""What a greedy generation costs a Mamba and a Transformer: memory held and decode speed, by context.

For each parameter-matched preset pair (default `tiny` and `small`; untrained, cost does not depend
on the weights) three models run in one process: GPT-NeoX (the baseline), the Mamba as every
generation here runs it (our kernels for the prompt, the fused decoding step of
`hf_copycot.ssm.numba_decode` for each new token) and the same Mamba decoding with transformers' own
step (`enable_fast_mamba(..., fused_decode=False)`, the prompt still on our kernels). Each reads a
prompt of L tokens and generates N more with the greedy loop the Space and the studies use
(`measure_generation`); per L the script prints the bytes the cache holds (read off the real cache
objects, checked against `expected_cache_memory`), time to first token and decode tokens/s, with
ratios. The three models alternate over rounds and each keeps its best round (noise from other
jobs only ever slows a run down), so a burst of load hits one run, not a ratio. The two Mamba paths
must give the same tokens. Ends with the smallest fused Mamba / GPT-NeoX decode ratio at contexts of
at least 1,024 tokens.

    python benchmarks/bench_inference_cost.py [--presets tiny small] [--lengths 64 1024] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from hf_copycot.inference_cost import (
    GenerationCost,
    expected_cache_memory,
    format_bytes,
    measure_generation,
)
from hf_copycot.mamba_scan import enable_fast_mamba
from hf_copycot.models import load_model_and_tokenizer

MODELS = ("neox", "step", "fused")  # the order they run in within a round
LONG = 1024  # the closing line's minimum is over contexts of at least this many tokens


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(preset: str) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    fused = load_model_and_tokenizer(f"preset:mamba-{preset}", mamba_scan="numba")[0].eval()
    step = copy.deepcopy(fused)
    enable_fast_mamba(step, "numba", fused_decode=False)
    torch.manual_seed(0)
    neox = load_model_and_tokenizer(f"preset:pythia-{preset}")[0].eval()
    return {"neox": neox, "step": step, "fused": fused}


def best_rounds(models, input_ids, new_tokens: int, rounds: int) -> dict[str, list[GenerationCost]]:
    """Every round runs each model once, in turn."""
    runs: dict[str, list[GenerationCost]] = {name: [] for name in MODELS}
    for _ in range(rounds):
        for name in MODELS:
            runs[name].append(
                measure_generation(models[name], input_ids, max_new_tokens=new_tokens)
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024, 4096, 16384])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: batch-1 decoding of models this small is latency-bound; "
        "on a shared 2-core machine two OpenMP threads made GPT-NeoX 10-30x slower, spinning "
        "against other jobs, which would flatter every ratio)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(
        f"{cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; {args.new_tokens} new tokens "
        f"after each prompt, batch 1, float32; best of {args.rounds} rounds"
    )
    ratios: dict[tuple[str, int], float] = {}
    same_tokens = generations = 0
    for preset in args.presets:
        models = build(preset)
        sizes = ", ".join(f"{name} {m.num_parameters():,}" for name, m in models.items())
        print(f"\n### {preset}: mamba-{preset} vs pythia-{preset} (parameters: {sizes})\n")
        print(
            "| context | Mamba state | GPT-NeoX KV cache | first token, ms (Mamba / GPT-NeoX) | "
            "decode tok/s: GPT-NeoX | Mamba, transformers' step | **Mamba, fused** | "
            "step / NeoX | **fused / NeoX** | fused / step |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        vocab = models["fused"].config.vocab_size
        for model in models.values():  # warm-up: JIT, allocation, lazy imports
            measure_generation(model, torch.full((1, 16), 5), max_new_tokens=8)
        for length in args.lengths:
            gen = torch.Generator().manual_seed(length)
            input_ids = torch.randint(3, vocab, (1, length), generator=gen)
            runs = best_rounds(models, input_ids, args.new_tokens, args.rounds)
            best = {name: max(r, key=lambda c: c.tokens_per_second) for name, r in runs.items()}
            first = {name: min(c.first_token_seconds for c in r) for name, r in runs.items()}
            for name, cost in best.items():
                read = length + len(cost.token_ids) - 1
                assert cost.memory == expected_cache_memory(models[name].config, read), name
            for fused, step in zip(runs["fused"], runs["step"], strict=True):
                generations += 1
                same_tokens += fused.token_ids == step.token_ids
            speed = {name: cost.tokens_per_second for name, cost in best.items()}
            ratios[preset, length] = speed["fused"] / speed["neox"]
            print(
                f"| {length:,} | {format_bytes(best['fused'].memory.total_bytes)} | "
                f"{format_bytes(best['neox'].memory.total_bytes)} | "
                f"{first['fused'] * 1e3:.1f} / {first['neox'] * 1e3:.1f} | "
                f"{speed['neox']:,.0f} | {speed['step']:,.0f} | **{speed['fused']:,.0f}** | "
                f"{speed['step'] / speed['neox']:.2f} | **{ratios[preset, length]:.2f}** | "
                f"{speed['fused'] / speed['step']:.2f} |"
            )
        config = {name: models[name].config for name in ("fused", "neox")}
        extrapolated = []
        for length in (100_000, 1_000_000):
            state = expected_cache_memory(config["fused"], length).total_bytes
            kv = expected_cache_memory(config["neox"], length).total_bytes
            extrapolated.append(f"{length:,} tokens: {format_bytes(state)} vs {format_bytes(kv)}")
        print(f"\nMemory from the configs (Mamba vs GPT-NeoX): {'; '.join(extrapolated)}")
    print(
        f"\nload average at the end {os.getloadavg()[0]:.2f}; {time.perf_counter() - started:.0f} s; "
        f"tokens identical between the two Mamba paths in {same_tokens}/{generations} generations"
    )
    long = [ratio for (_, length), ratio in ratios.items() if length >= LONG]
    lowest = f"{min(long):.2f}" if long else "n/a"
    print(f"min mamba/neox decode throughput ratio at >= {LONG} context: {lowest}")


if __name__ == "__main__":
    main()
