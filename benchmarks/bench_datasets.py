"""Speed of the copy-cot generators and of the `full` dataset build.

For every task: rows/s of `hf_copycot.tasks.generate` against a plain per-row Python generator of
the same task (Python's `random`, one row at a time, the reference implementations' style), both
making the same number of rows at the task's `full` train lengths in the same run; the latency of a 32-row call (on-the-fly batches
during fine-tuning); then the wall time of `build_copy_cot.py --dataset_size full` for all configs.
Targets (issue 2): >= 20x the per-row baseline for copy and the n-gram tasks; full build < 2 min.

    python benchmarks/bench_datasets.py [--quick]      # prints a markdown table
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_copycot import dataset_repo, tasks
from hf_copycot.tasks import phonebook

LOWER = "abcdefghijklmnopqrstuvwxyz"


# --- plain per-row baselines ---------------------------------------------------------------------
# Characters are drawn one at a time (`rng.choice`, the plain way; the reference implementations
# join per-character lists) or with one `random.choices` call per row (a faster per-row variant).
CHAR_BY_CHAR = True


def draw(rng: random.Random, alphabet, k: int) -> str:
    if CHAR_BY_CHAR:
        return "".join([rng.choice(alphabet) for _ in range(k)])
    return "".join(rng.choices(alphabet, k=k))


def _row(task: str, i: int, prompt: str, cot: str, answer: str, length: int, **extra) -> dict:
    return {"id": f"{task}-train-0-{i}", "task": task, "prompt": prompt, "cot": cot, "answer": answer,
            "length": length, **extra}  # fmt: skip


def baseline_copy(rng: random.Random, i: int, low: int, high: int) -> dict:
    s = draw(rng, LOWER, rng.randint(low, high))
    return _row("copy", i, s + "|", "", s, len(s))


def _unique_ngram(rng: random.Random, low: int, high: int, n: int = 3) -> tuple[str, int]:
    while True:
        s = draw(rng, LOWER, rng.randint(low, high))
        starts = [j for j in range(len(s) - n) if s.find(s[j : j + n]) == s.rfind(s[j : j + n])]
        if starts:
            return s, rng.choice(starts)


def baseline_prefix_ngram(rng: random.Random, i: int, low: int, high: int) -> dict:
    s, j = _unique_ngram(rng, low, high)
    gram = s[j : j + 3]
    return _row("prefix_ngram", i, f"{gram}|{s}|", "", s[j + 3 :], len(s), ngram=gram)


def baseline_suffix_ngram(rng: random.Random, i: int, low: int, high: int) -> dict:
    s, j = _unique_ngram(rng, low, high)
    gram = s[j : j + 3]
    return _row("suffix_ngram", i, f"{s}|{gram}", "", s[j + 3 :], len(s), ngram=gram)


def baseline_phonebook(rng: random.Random, i: int, low: int, high: int) -> dict:
    first, last = phonebook.name_lists()
    n = rng.randint(low, high)
    picks = rng.sample(range(len(first) * len(last)), n)
    names = [f"{first[p // len(last)]} {last[p % len(last)]}" for p in picks]
    numbers = [str(rng.randint(6, 9)) + draw(rng, "0123456789", 9) for _ in range(n)]
    lines = [f"{name}: {number}" for name, number in zip(names, numbers, strict=True)]
    a, b, q = rng.sample(range(n), 3)
    prompt = "\n".join(lines) + f"\n\n{lines[a]}\n{lines[b]}\n\n{names[q]}:"
    return _row("phonebook", i, prompt, "", " " + numbers[q], n, query_name=names[q])


def baseline_lis(rng: random.Random, i: int, low: int, high: int) -> dict:
    n = rng.randint(low, high)
    xs = [rng.randint(0, 249) for _ in range(n)]
    t = rng.randint(1, n)
    for pos, value in zip(
        sorted(rng.sample(range(n), t)), sorted(rng.sample(range(250), t)), strict=True
    ):
        xs[pos] = value
    ends = [1] * n
    for k in range(n):
        for j in range(k):
            if xs[j] < xs[k]:
                ends[k] = max(ends[k], ends[j] + 1)
    return _row("lis", i, " ".join(map(str, xs)) + "|", " ".join(map(str, ends)) + "|", str(max(ends)), n,
                sequence=xs)  # fmt: skip


def baseline_ed(rng: random.Random, i: int, low: int, high: int) -> dict:
    """Draws a and b as version 1 did (a similar per-row cost); the DP table is the registry's."""
    n = rng.randint(low, high)
    letters = rng.sample(LOWER, rng.randint(3, 10))
    a = draw(rng, letters, n)
    if rng.random() < 0.4:
        b = draw(rng, letters, max(1, n + rng.randint(-3, 3)))
    else:
        q, out = rng.random(), []
        for ch in a:
            if rng.random() < q:
                op = rng.randrange(3)
                if op == 1:
                    out.append(rng.choice(letters))
                elif op == 2:
                    out += [rng.choice(letters), ch]
            else:
                out.append(ch)
        b = "".join(out) or a
    prev = list(range(len(b) + 1))  # Feng et al.'s boundary dp[0][j] = j, dp[i][0] = i
    rows = []
    for r in range(1, n + 1):
        cur = [r]
        for j in range(1, len(b) + 1):
            cur.append(
                min(prev[j] + 2, cur[j - 1] + 2, prev[j - 1] + (0 if a[r - 1] == b[j - 1] else 3))
            )
        rows.append(" ".join(map(str, cur[1:])))
        prev = cur
    return _row(
        "ed", i, f"{a}|{b}|", ",".join(rows) + "|", str(prev[-1]), n, string_a=a, string_b=b
    )


def baseline_local_dp(rng: random.Random, i: int, low: int, high: int) -> dict:
    n = rng.randint(low, high)
    xs = [rng.randint(-9, 9) for _ in range(n)]
    m = n if rng.random() < 0.25 else max(1, min(n - 1, int(n ** rng.random())))
    dp = [xs[0]]
    for k in range(1, n):
        dp.append(xs[k] + min(dp[max(0, k - m) : k]))
    prompt = f"m={m}:" + " ".join(map(str, xs)) + "|"
    return _row("local_dp", i, prompt, " ".join(map(str, dp)) + "|", str(dp[-1]), n, values=xs, m=m)


def baseline_stream_dp(rng: random.Random, i: int, low: int, high: int) -> dict:
    n = rng.randint(low, high)
    m = rng.choice([1, 2, 4, 8])
    xs = [rng.randint(0, 9) for _ in range(n)]
    ds: list[int] = []
    for k in range(n):
        ds.append((xs[k] + (ds[k - m] if k >= m else 0)) % 10)
    cot = " ".join(f"{x}:{d}" for x, d in zip(xs, ds, strict=True)) + "|"
    return _row("stream_dp", i, f"m={m}:", cot, str(ds[-1]), n, values=xs, m=m)


# The per-row baseline of each task; `tasks.TASK_NAMES` is the list measured, so a task registered
# without a baseline here is measured alone and named at the end (tests/test_task_consumers.py
# checks that every built-in task has one).
BASELINES = {
    "copy": baseline_copy,
    "prefix_ngram": baseline_prefix_ngram,
    "suffix_ngram": baseline_suffix_ngram,
    "phonebook": baseline_phonebook,
    "lis": baseline_lis,
    "ed": baseline_ed,
    "local_dp": baseline_local_dp,
    "stream_dp": baseline_stream_dp,
}


def without_baseline() -> list[str]:
    """Registered tasks this script has no per-row baseline for."""
    return [task for task in tasks.TASK_NAMES if task not in BASELINES]


# --- measurement ---------------------------------------------------------------------------------
def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_task(task: str, rows: int, repeats: int) -> dict:
    """Both generators make the same number of rows (same memory behaviour), best of `repeats`;
    a task without a baseline gets only its own numbers (nan for the baseline's)."""
    low, high = tasks.split_lengths(task, "full")["train"]
    vectorised = best_of(
        2 * repeats, lambda: tasks.generate(task, rows, seed=0, min_length=low, max_length=high)
    )
    batch = best_of(repeats, lambda: [tasks.generate(task, 32, seed=s, min_length=low, max_length=high) for s in range(20)]) / 20  # fmt: skip
    result = {"task": task, "lengths": f"{low}-{high}", "vectorised": rows / vectorised,
              "plain": float("nan"), "choices": float("nan"), "batch32_ms": batch * 1e3}  # fmt: skip
    if task not in BASELINES:
        return result

    def per_row():
        rng = random.Random(0)
        return [BASELINES[task](rng, i, low, high) for i in range(rows)]

    global CHAR_BY_CHAR
    CHAR_BY_CHAR = True
    plain = best_of(repeats, per_row)
    CHAR_BY_CHAR = False
    choices = best_of(repeats, per_row)
    return {**result, "plain": rows / plain, "choices": rows / choices}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows, no full build")
    args = parser.parse_args()
    string_rows, dp_rows, repeats = (2_000, 200, 1) if args.quick else (20_000, 2_000, 3)
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} before the run")
    print("\n| task | train lengths | `generate` rows/s | per-row Python, char by char | speed-up "
          "| per-row Python, `random.choices` | speed-up | one 32-row call |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task in tasks.TASK_NAMES:
        short_rows = task in ("copy", "prefix_ngram", "suffix_ngram")
        r = bench_task(task, string_rows if short_rows else dp_rows, repeats)
        print(f"| {task} | {r['lengths']} | {r['vectorised']:,.0f} | {r['plain']:,.0f} | "
              f"{r['vectorised'] / r['plain']:.1f}x | {r['choices']:,.0f} | "
              f"{r['vectorised'] / r['choices']:.1f}x | {r['batch32_ms']:.2f} ms |")  # fmt: skip
    if not args.quick:
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            out = dataset_repo.build_repo(
                Path(scratch) / "copy-cot", size="full", log=lambda *_: None
            )
            seconds = time.perf_counter() - start
            total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            rows_total = sum(
                n for t in tasks.TASK_NAMES for n in tasks.split_rows(t, "full").values()
            )
        print(
            f"\nfull build, all {len(tasks.TASK_NAMES)} configs: {seconds:.1f} s ({rows_total:,} rows, {total / 2**20:.0f} MiB of parquet)"
        )
    if without_baseline():
        print(f"\nno per-row baseline in this script for: {', '.join(without_baseline())}")
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
