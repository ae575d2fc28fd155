"""Training throughput of MambaForCausalLM on our scan vs a same-size GPT-NeoX, in one run.

Each (model, path, L) runs in its own subprocess, so that its peak memory is its own: on CPU the
growth of max RSS over the RSS after building the model and one tiny warm-up step (which loads
compiled kernels), on CUDA max_memory_allocated over the same point. Training step = forward +
backward + AdamW, batch 16, vocab 64; GPT-NeoX hidden 128, 4 layers, 4 heads, MLP 512, sdpa
attention; Mamba hidden 128, 4 layers, state 16. Tokens/s is batch * L / the median step time of a
run; GPT-NeoX and ours run alternately for --rounds rounds and each keeps its best run, so a burst
of load from other processes hits one run, not the ratio. Also prints forward-only speed (a prompt
through the model under no_grad, filling the generation cache).
The last line is `min mamba/neox training throughput ratio: R` (ours / GPT-NeoX, smallest over L).

    PYTHONPATH=. python benchmarks/bench_mamba_scan.py               # CPU, ~5 min on 2 quiet cores
    PYTHONPATH=. python benchmarks/bench_mamba_scan.py --quick       # NeoX and ours only, ~2 min
    PYTHONPATH=. python benchmarks/bench_mamba_scan.py --device cuda # GPU, float32 and bf16

Paths: numba (ours, CPU kernels, split over torch's OpenMP threads), numba-pool (the same kernels
on a thread pool of our own, as before hf_copycot/ssm/omp_team.py), chunked (ours, pure PyTorch: "ours" on a GPU), mambapy
(transformers with use_mambapy=True; needs `pip install mambapy`), reference (transformers'
sequential fallback; slow, so short L only), cuda (mamba-ssm's kernels, where they import).
On a GPU with mamba-ssm installed, transformers' own forward would call mamba-ssm; the reference
and mambapy runs then swap its kernel functions for their PyTorch fallbacks.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
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
# longest L each slow path runs at: (B, L, D, N) tensors on a CPU, a Python loop over L anywhere
MAX_LEN = {
    "cpu": {"chunked": 256, "mambapy": 512, "reference": 128},
    "cuda": {"reference": 256},
}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _use_transformers_fallback():
    """Make transformers' Mamba forward use its PyTorch code even where mamba-ssm imports;
    returns a function that puts the kernels back (benchmarks/gpu_check.py runs both)."""
    from transformers.models.mamba import modeling_mamba

    names = (
        "mamba_inner_fn",
        "causal_conv1d_fn",
        "mamba_selective_scan",
        "mamba_selective_state_update",  # decoding steps, for generate
        "causal_conv1d_update",
    )
    saved = {name: getattr(modeling_mamba, name) for name in names if hasattr(modeling_mamba, name)}
    for name, fn in saved.items():
        # the decorators wrap the PyTorch function with functools.wraps: unwrap reaches it
        setattr(modeling_mamba, name, inspect.unwrap(fn))

    def restore() -> None:
        for name, fn in saved.items():
            setattr(modeling_mamba, name, fn)

    return restore


def _build(path: str):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, MambaConfig, MambaForCausalLM

    from hf_copycot.mamba_scan import cuda_kernels_available, enable_fast_mamba

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
    if path in ("mambapy", "reference"):
        if cuda_kernels_available():
            _use_transformers_fallback()
        enable_fast_mamba(model, "reference")
    else:
        model.copycot_path = "numba" if path == "numba-pool" else path  # set in worker()
    return model


class _Clock:
    """Wall time of a step and peak memory above a base, on CPU (RSS) or CUDA (allocator)."""

    def __init__(self, device: str):
        import torch

        self.torch, self.cuda = torch, device == "cuda"

    def now(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()

    def mark_base(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            self.base = self.torch.cuda.memory_allocated() / 2**20
        else:
            self.base = _rss_mb()

    def peak_extra_mb(self) -> float:
        if self.cuda:
            return self.torch.cuda.max_memory_allocated() / 2**20 - self.base
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - self.base


def worker(path: str, seq_len: int, warmup: int, steps: int, device: str, dtype: str) -> dict:
    """One (path, L): training step times, peak memory, forward-only speed. Runs in a subprocess."""
    import torch
    import transformers

    from hf_copycot.mamba_scan import enable_fast_mamba

    transformers.logging.set_verbosity_error()
    if path == "numba-pool":
        from hf_copycot.ssm import numba_mixer

        numba_mixer.use_torch_team = False
    model = _build(path).to(device)
    if getattr(model, "copycot_path", None):
        enable_fast_mamba(model, model.copycot_path)
    autocast = (
        torch.autocast(device, dtype=torch.bfloat16)
        if dtype == "bf16"
        else contextlib.nullcontext()
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, VOCAB, (BATCH, seq_len), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    clock = _Clock(device)
    with autocast:  # load kernels and allocate gradients before the memory base
        model(ids[:2, :16], labels=ids[:2, :16]).loss.backward()
    clock.mark_base()
    times = []
    for i in range(warmup + steps):
        start = clock.now()
        with autocast:
            loss = model(ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            times.append(clock.now() - start)
    peak_mb = clock.peak_extra_mb()
    model.eval()
    infer = []
    with torch.no_grad(), autocast:
        for i in range(1 + max(1, steps)):
            start = clock.now()
            model(ids)  # eval: use_cache defaults to True, the prefill generate runs
            if i:
                infer.append(clock.now() - start)
    return {
        "train_tok_s": BATCH * seq_len / statistics.median(times),
        "peak_extra_mb": peak_mb,
        "infer_tok_s": BATCH * seq_len / statistics.median(infer),
        "steps": steps,
    }


def _run(path, seq_len, plan, threads, device, dtype) -> dict | None:
    warmup, steps = plan[path]
    cmd = [sys.executable, __file__, "--worker", path, str(seq_len), str(warmup), str(steps)]
    cmd += ["--threads", str(threads), "--device", device, "--dtypes", dtype]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  {path} {dtype} L={seq_len}: failed ({tail[0]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _nan_first(ratio: float) -> float:
    """Sort key that makes a missing ratio (nan: a failed run) the minimum, never hidden."""
    return float("-inf") if ratio != ratio else ratio


def _plan(device: str, quick: bool, has_mambapy: bool, has_kernels: bool) -> dict:
    """path -> (warmup steps, timed steps); the first two are the compared pair."""
    ours = "numba" if device == "cpu" else "chunked"
    plan = {"neox": (2, 5), ours: (2, 5)}
    if device == "cuda":
        plan = {"neox": (3, 10), ours: (3, 10)}
        if has_kernels:
            plan["cuda"] = (3, 10)
    if quick:
        return plan
    if device == "cpu":
        plan["numba-pool"] = (2, 5)
        plan["chunked"] = (0, 1)
    if has_mambapy:
        plan["mambapy"] = (1, 1) if device == "cpu" else (2, 5)
    plan["reference"] = (0, 1) if device == "cpu" else (1, 2)
    return plan


def _table(title, columns, lengths, results, dtype, key, extra=None):
    print(f"\n{title}")
    print("| L | " + " | ".join(columns) + (f" | {extra[0]} |" if extra else " |"))
    print("|---" * (len(columns) + 1 + bool(extra)) + "|")
    for seq_len in lengths:
        cells = []
        for path in columns:
            result = results.get((path, dtype, seq_len))
            cells.append(f"{result[key]:,.0f}" if result else "-")
        tail = f" | {extra[1][seq_len]:.2f} |" if extra else " |"
        print(f"| {seq_len} | " + " | ".join(cells) + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--quick", action="store_true", help="GPT-NeoX and ours only")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=["fp32", "bf16"],
        default=None,
        help="CUDA: fp32 and bf16 (autocast) by default; CPU: fp32",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="runs of NeoX and ours per L")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch

    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    dtypes = args.dtypes or (["fp32", "bf16"] if args.device == "cuda" else ["fp32"])
    if args.worker:
        path, seq_len, warmup, steps = args.worker
        result = worker(path, int(seq_len), int(warmup), int(steps), args.device, dtypes[0])
        print(json.dumps(result))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA device (torch.cuda.is_available() is False)")

    from hf_copycot.mamba_scan import cuda_kernels_available

    try:
        import mambapy  # noqa: F401

        has_mambapy = True
    except ImportError:
        has_mambapy = False
    has_kernels = args.device == "cuda" and cuda_kernels_available()
    plan = _plan(args.device, args.quick, has_mambapy, has_kernels)
    neox, ours = list(plan)[:2]
    rounds = args.rounds or (1 if args.device == "cuda" else 2 if args.quick else 3)
    started = time.time()
    where = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else platform.processor() or platform.machine()
    )
    print(
        f"machine: {where}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads, "
        f"{rounds} rounds, load average {os.getloadavg()[0]:.2f}, "
        f"mamba-ssm kernels: {'yes' if has_kernels else 'no'}"
    )
    if not has_mambapy and not args.quick:
        print("mambapy not installed: its path is skipped (pip install mambapy)")
    results: dict[tuple[str, str, int], dict] = {}

    def keep_best(path, dtype, seq_len):
        result = _run(path, seq_len, plan, threads, args.device, dtype)
        best = results.get((path, dtype, seq_len))
        if result and (not best or result["train_tok_s"] > best["train_tok_s"]):
            result["infer_tok_s"] = max(result["infer_tok_s"], (best or result)["infer_tok_s"])
            results[path, dtype, seq_len] = result
        elif best and result:
            best["infer_tok_s"] = max(best["infer_tok_s"], result["infer_tok_s"])

    for dtype in dtypes:
        for seq_len in args.lengths:
            for _ in range(rounds):  # alternate the two paths the ratio compares
                for path in (neox, ours):
                    keep_best(path, dtype, seq_len)
            for path in list(plan)[2:]:
                if seq_len <= MAX_LEN[args.device].get(path, seq_len):
                    keep_best(path, dtype, seq_len)
    columns = list(plan)
    all_ratios = []
    for dtype in dtypes:
        ratios = {}
        for seq_len in args.lengths:
            a, b = results.get((ours, dtype, seq_len)), results.get((neox, dtype, seq_len))
            ratios[seq_len] = a["train_tok_s"] / b["train_tok_s"] if a and b else float("nan")
        all_ratios += ratios.values()
        suffix = f", {args.device} {dtype}"
        _table(
            f"Training throughput, tokens/s (forward + backward + AdamW){suffix}",
            columns,
            args.lengths,
            results,
            dtype,
            "train_tok_s",
            (f"{ours} / neox", ratios),
        )
        _table(
            f"Peak memory during training, MB above the model after a warm-up step{suffix}",
            columns,
            args.lengths,
            results,
            dtype,
            "peak_extra_mb",
        )
        _table(
            f"Forward only (a prompt under no_grad, filling the cache), tokens/s{suffix}",
            columns,
            args.lengths,
            results,
            dtype,
            "infer_tok_s",
        )
    print(f"\n{time.time() - started:.0f} s, load average at the end {os.getloadavg()[0]:.2f}")
    print(f"min mamba/neox training throughput ratio: {min(all_ratios, key=_nan_first):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
