"""Batched greedy generation (`hf_copycot.evaluation.generate_batch`) against one prompt at a time.

256 copy prompts (the `copy` test split's lengths), each with its evaluation budget (answer tokens
+ 1). The baseline is `model.generate` called once per prompt, measured in the same process on the
same model (best of `--repeats` runs each); the script checks that both produce the same text and
prints the speed-up.

    python benchmarks/bench_generation.py [--num_prompts 256] [--batch_size 64] [--presets ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_copycot.data import length_range
from hf_copycot.evaluation import decode_until_eos, generate_batch
from hf_copycot.models import load_model_and_tokenizer
from hf_copycot.tasks import generate


def one_at_a_time(model, tokenizer, prompts, budgets):
    texts = []
    for prompt, budget in zip(prompts, budgets, strict=True):
        inputs = tokenizer([prompt], return_tensors="pt")
        out = model.generate(
            **inputs, max_new_tokens=budget, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
        texts.append(decode_until_eos(tokenizer, out[0, inputs.input_ids.shape[1] :].tolist()))
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_prompts", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--presets", nargs="+", default=["pythia-tiny", "mamba-tiny"])
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (shared CPUs)")
    args = parser.parse_args()

    low, high = length_range("copy", "test")
    rows = generate("copy", args.num_prompts, seed=0, min_length=low, max_length=high, split="test")
    prompts = rows["prompt"]
    budgets = [len(answer) + 1 for answer in rows["answer"]]
    print(
        f"{args.num_prompts} copy prompts, lengths {low}-{high}, torch threads {torch.get_num_threads()}"
    )
    for preset in args.presets:
        torch.manual_seed(0)
        # A wide initialisation gives confident, rarely-EOS predictions: both runs do full work.
        model, tokenizer = load_model_and_tokenizer(
            f"preset:{preset}", config_overrides="initializer_range=0.5"
        )
        model.eval()
        generate_batch(model, tokenizer, prompts[:8], max_new_tokens=budgets[:8])  # warm-up
        batched_s, single_s = float("inf"), float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            batched = generate_batch(
                model, tokenizer, prompts, max_new_tokens=budgets, batch_size=args.batch_size
            )
            batched_s = min(batched_s, time.perf_counter() - start)
            start = time.perf_counter()
            single = one_at_a_time(model, tokenizer, prompts, budgets)
            single_s = min(single_s, time.perf_counter() - start)
        # Padding changes the shapes of the matrix products, so logits differ in the last bits;
        # a rare near-tie can then flip a greedy choice. Anything beyond that is a bug.
        same = sum(a == b for a, b in zip(batched, single, strict=True))
        assert same >= 0.98 * len(prompts), f"only {same}/{len(prompts)} generations agree"
        tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in batched)
        print(
            f"{preset:12s} one at a time {single_s:6.2f} s | batched (batch {args.batch_size}) "
            f"{batched_s:6.2f} s | speed-up {single_s / batched_s:5.1f}x | {tokens} tokens | "
            f"identical generations {same}/{len(prompts)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
