"""Speed of the eval/ metrics: copy_accuracy's numpy scoring against a plain Python loop.

Scores N copy pairs of length L (default 100k x 200, the issue's target: under 2 s) three ways in
one process: the vectorised `score_copies`, the full `evaluate` `compute()` (which adds evaluate's
Arrow round trip), and a plain Python loop with the same definitions, and prints the ratios. Also
prints the throughput of phonebook_accuracy and dp_cot_accuracy for reference.

    python benchmarks/bench_metrics.py [--pairs 100000] [--length 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import evaluate
import numpy as np

EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"


def copy_pairs(pairs: int, length: int, seed: int) -> tuple[list[str], list[str]]:
    """References over a-z; a third copied right, a third truncated, a third wrong after a point."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(ord("a"), ord("z") + 1, size=(pairs, length), dtype=np.uint32)
    references = codes.view(f"<U{length}").ravel().tolist()
    breaks = rng.integers(0, length, size=pairs)
    predictions = []
    for i, (reference, cut) in enumerate(zip(references, breaks.tolist(), strict=True)):
        if i % 3 == 0:
            predictions.append(reference + "</s>")
        elif i % 3 == 1:
            predictions.append(reference[:cut])
        else:
            predictions.append(reference[:cut] + "z" * (length - cut) + "\n")
    return predictions, references


def python_loop(predictions: list[str], references: list[str], markers) -> dict[str, float]:
    """The same three scores, one pair and one character at a time."""
    exact = chars = prefix = 0.0
    for prediction, reference in zip(predictions, references, strict=True):
        end = len(prediction)
        for marker in markers:
            found = prediction.find(marker)
            if found != -1 and found < end:
                end = found
        prediction = prediction[:end]
        exact += prediction == reference
        agree, first_miss = 0, None
        for i in range(min(len(prediction), len(reference))):
            if prediction[i] == reference[i]:
                agree += 1
            elif first_miss is None:
                first_miss = i
        longer = max(len(prediction), len(reference))
        chars += agree / longer if longer else 1.0
        prefix += min(len(prediction), len(reference)) if first_miss is None else first_miss
    n = len(references)
    return {"exact_match": exact / n, "char_accuracy": chars / n, "prefix_length": prefix / n}


def best_of(repeats: int, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    copy_accuracy = evaluate.load(str(EVAL_DIR / "copy_accuracy"))
    module = inspect.getmodule(type(copy_accuracy))
    predictions, references = copy_pairs(args.pairs, args.length, args.seed)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}"
    )
    print(f"copy_accuracy on {args.pairs} pairs of length {args.length} (best of {args.repeats}):")

    core_s, core = best_of(args.repeats, lambda: module.score_copies(predictions, references))
    full_s, full = best_of(
        args.repeats,
        lambda: copy_accuracy.compute(predictions=predictions, references=references),
    )
    loop_s, loop = best_of(
        1, lambda: python_loop(predictions, references, module.DEFAULT_END_MARKERS)
    )
    for name, value in loop.items():  # same scores, or the comparison means nothing
        assert np.isclose(core[name].mean(), value) and np.isclose(full[name], value), name
    print(f"  python loop (baseline)        {loop_s:7.3f} s   1.0x")
    print(f"  score_copies (numpy)          {core_s:7.3f} s  {loop_s / core_s:5.1f}x")
    print(f"  compute() incl. evaluate I/O  {full_s:7.3f} s  {loop_s / full_s:5.1f}x")

    phonebook = evaluate.load(str(EVAL_DIR / "phonebook_accuracy"))
    numbers = [f" {n}" for n in np.random.default_rng(args.seed).integers(6e9, 1e10, 100_000)]
    phone_s, _ = best_of(1, lambda: phonebook.compute(predictions=numbers, references=numbers))
    print(f"phonebook_accuracy compute() on 100000 rows: {phone_s:.3f} s")

    dp = evaluate.load(str(EVAL_DIR / "dp_cot_accuracy"))
    dp_module = inspect.getmodule(type(dp))
    rng = np.random.default_rng(args.seed)
    prompts, generations, answers = [], [], []
    for _ in range(10_000):
        a = "".join(rng.choice(list("abcd"), 20))
        b = "".join(rng.choice(list("abcd"), 20))
        rows, answer, _ = dp_module.solve_prompt("ed", f"{a}|{b}|")
        prompts.append(f"{a}|{b}|")
        generations.append(",".join(" ".join(map(str, row)) for row in rows) + "|" + answer)
        answers.append(answer)
    dp_s, _ = best_of(
        1,
        lambda: dp.compute(predictions=generations, references=answers, prompts=prompts, task="ed"),
    )
    print(f"dp_cot_accuracy compute() on 10000 ed rows of 20x20: {dp_s:.3f} s")


if __name__ == "__main__":
    main()
