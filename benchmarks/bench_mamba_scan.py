"""Training throughput of MambaForCausalLM on our scan vs a same-size GPT-NeoX, in one run.

Each (model, path, L) runs in its own subprocess, so that its peak memory (growth of max RSS over
the RSS after building the model) is its own. Training step = forward + backward + AdamW,
batch 16, vocab 64; GPT-NeoX hidden 128, 4 layers, 4 heads, MLP 512, sdpa attention; Mamba hidden
128, 4 layers, state 16. Tokens/s is batch * L / the median step time of a run; GPT-NeoX and ours
run alternately for --rounds rounds and each keeps its best run, so a burst of load from other
processes hits one run, not the ratio. Also prints forward-only speed (a prompt through the model
under no_grad, filling the generation cache) and, where CUDA is present, a GPU comparison.
The last line is `min mamba/neox training throughput ratio: R`.

    PYTHONPATH=. python benchmarks/bench_mamba_scan.py            # ~6 min on 2 quiet cores
    PYTHONPATH=. python benchmarks/bench_mamba_scan.py --quick    # NeoX and ours only, ~2 min

Paths: numba (ours, CPU kernels), chunked (ours, pure PyTorch, meant for GPUs), mambapy
(transformers with use_mambapy=True; needs `pip install mambapy`), reference (transformers'
sequential fallback; slow, so one step at L=128 only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BATCH, VOCAB, HIDDEN, LAYERS = 16, 64, 128, 4
ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _build(path: str):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, MambaConfig, MambaForCausalLM

    from hf_copycot.mamba_scan import enable_fast_mamba

    torch.manual_seed(0)
    if path == "neox":
        config = GPTNeoXConfig(
            vocab_size=VOCAB,
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            intermediate_size=4 * HIDDEN,
            max_position_embeddings=4096,
        )
        return GPTNeoXForCausalLM._from_config(config, attn_implementation="sdpa")
    config = MambaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        state_size=16,
        use_mambapy=path == "mambapy",
    )
    model = MambaForCausalLM(config)
    enable_fast_mamba(model, "reference" if path in ("mambapy", "reference") else path)
    return model


def worker(path: str, seq_len: int, warmup: int, steps: int, threads: int) -> dict:
    """One (path, L): training step times, peak memory, forward-only speed. Runs in a subprocess."""
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(threads)
    model = _build(path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, VOCAB, (BATCH, seq_len), generator=torch.Generator().manual_seed(0))
    base_mb = _rss_mb()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        model(ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.eval()
    infer = []
    with torch.no_grad():
        for i in range(1 + max(1, steps)):
            start = time.perf_counter()
            model(ids)  # eval: use_cache defaults to True, the prefill generate runs
            if i:
                infer.append(time.perf_counter() - start)
    return {
        "train_tok_s": BATCH * seq_len / statistics.median(times),
        "peak_extra_mb": peak_mb - base_mb,
        "infer_tok_s": BATCH * seq_len / statistics.median(infer),
        "steps": steps,
    }


def _run(path, seq_len, warmup, steps, threads) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", path, str(seq_len), str(warmup), str(steps)]
    cmd += ["--threads", str(threads)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  {path} L={seq_len}: failed ({tail[0]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _nan_first(ratio: float) -> float:
    """Sort key that makes a missing ratio (nan: a failed run) the minimum, never hidden."""
    return float("-inf") if ratio != ratio else ratio


def gpu_comparison(seq_len: int = 512) -> None:
    """Forward + backward on CUDA: ours (chunked) vs transformers' fallback vs mamba-ssm."""
    import torch

    from hf_copycot.mamba_scan import cuda_kernels_available, enable_fast_mamba

    paths = ["chunked", "reference"] + (["cuda"] if cuda_kernels_available() else [])
    print(f"\nGPU ({torch.cuda.get_device_name()}), forward + backward, L={seq_len}, batch {BATCH}")
    for dtype in (torch.float32, torch.bfloat16):
        for path in paths:
            model = _build("reference").to("cuda", dtype)
            enable_fast_mamba(model, path)
            ids = torch.randint(0, VOCAB, (BATCH, seq_len), device="cuda")
            times = []
            for i in range(4 if path != "reference" else 2):
                torch.cuda.synchronize()
                start = time.perf_counter()
                model(ids, labels=ids).loss.backward()
                torch.cuda.synchronize()
                if i:
                    times.append(time.perf_counter() - start)
            tok_s = BATCH * seq_len / statistics.median(times)
            print(f"  {dtype!s:15s} {path:10s} {tok_s:12,.0f} tok/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--quick", action="store_true", help="GPT-NeoX and ours (numba) only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="runs of NeoX and ours per L")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch

    threads = args.threads or torch.get_num_threads()
    if args.worker:
        path, seq_len, warmup, steps = args.worker
        print(json.dumps(worker(path, int(seq_len), int(warmup), int(steps), threads)))
        return 0

    try:
        import mambapy  # noqa: F401

        has_mambapy = True
    except ImportError:
        has_mambapy = False
    plan = {"neox": (2, 5), "numba": (2, 5)}  # path -> (warmup steps, timed steps)
    if not args.quick:
        plan["chunked"] = (0, 1)
        if has_mambapy:
            plan["mambapy"] = (1, 1)
        plan["reference"] = (0, 1)
    rounds = args.rounds or (2 if args.quick else 3)
    started = time.time()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {threads} threads, {rounds} rounds, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if not has_mambapy and not args.quick:
        print("mambapy not installed: its path is skipped (pip install mambapy)")
    results: dict[tuple[str, int], dict | None] = {}

    def keep_best(path, seq_len, result):
        best = results.get((path, seq_len))
        if result and (not best or result["train_tok_s"] > best["train_tok_s"]):
            result["infer_tok_s"] = max(result["infer_tok_s"], (best or result)["infer_tok_s"])
            results[path, seq_len] = result
        elif best and result:
            best["infer_tok_s"] = max(best["infer_tok_s"], result["infer_tok_s"])

    for seq_len in args.lengths:
        for _ in range(rounds):  # alternate the two paths the ratio compares
            for path in ("neox", "numba"):
                keep_best(path, seq_len, _run(path, seq_len, *plan[path], threads))
        for path, (warmup, steps) in plan.items():
            if path in ("neox", "numba"):
                continue
            if path == "reference" and seq_len > 128:
                continue  # ~190 tok/s at L=128 and four times slower per doubling of L
            if path == "chunked" and seq_len > 256:
                continue  # for GPUs; on a CPU it moves (B, L, D, N) tensors at ~1 GB/s
            if path == "mambapy" and seq_len > 512:
                continue  # GBs and minutes at L=1024
            keep_best(path, seq_len, _run(path, seq_len, warmup, steps, threads))
    columns = list(plan)

    def cell(path, seq_len, key, fmt="{:,.0f}"):
        result = results.get((path, seq_len))
        return fmt.format(result[key]) if result else "-"

    print("\nTraining throughput, tokens/s (forward + backward + AdamW)")
    print("| L | " + " | ".join(columns) + " | numba / neox |")
    print("|---" * (len(columns) + 2) + "|")
    ratios = []
    for seq_len in args.lengths:
        neox, ours = results.get(("neox", seq_len)), results.get(("numba", seq_len))
        ratio = ours["train_tok_s"] / neox["train_tok_s"] if neox and ours else float("nan")
        ratios.append(ratio)
        row = [cell(p, seq_len, "train_tok_s") for p in columns]
        print(f"| {seq_len} | " + " | ".join(row) + f" | {ratio:.2f} |")
    print("\nPeak memory during training, MB above the built model (max RSS growth)")
    print("| L | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for seq_len in args.lengths:
        row = [cell(p, seq_len, "peak_extra_mb") for p in columns]
        print(f"| {seq_len} | " + " | ".join(row) + " |")
    print("\nForward only (a prompt under no_grad, filling the cache), tokens/s")
    print("| L | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for seq_len in args.lengths:
        row = [cell(p, seq_len, "infer_tok_s") for p in columns]
        print(f"| {seq_len} | " + " | ".join(row) + " |")
    if torch.cuda.is_available():
        gpu_comparison()
    print(f"\n{time.time() - started:.0f} s, load average at the end {os.getloadavg()[0]:.2f}")
    print(f"min mamba/neox training throughput ratio: {min(ratios, key=_nan_first):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
