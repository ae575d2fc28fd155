"""Pilot runs that chose the cpu scale's regimes (docs/reproduce-cpu/PILOTS.md records them).

Each pilot is one training run and its length or lag sweep, built with the reproduction's own job
builders and run in this process, one thread (as `copycot reproduce` workers run). Prints one line
a pilot: the run, updates to the gate (or none), seconds, and the sweep.

    python benchmarks/pilots.py copy-pe          # RoPE / NoPE / Hard-ALiBi on copy 4-10
    python benchmarks/pilots.py state-copy       # 2-layer Mamba, d_state 1..16 on copy 4-16
    python benchmarks/pilots.py state-dp         # 2-layer Mamba, d_state 1/16 on stream_dp
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hf_copycot.reproduce.runner import MODEL_DIR
from hf_copycot.reproduce.runs import evaluate_job, execute, train_job, with_model_overrides
from hf_copycot.reproduce.scales import CPU


def run(job, sweep_of, out: Path) -> str:
    start = time.perf_counter()
    job_dir = out / job.key
    result = execute(job, job_dir, None)
    seconds = time.perf_counter() - start
    sweep = execute(sweep_of(job), out / "sweep", job_dir / MODEL_DIR)
    test = sweep["results"]["test"]
    if test.get("by_slice"):  # stream_dp: "m=1", ... -> answer accuracy per lag
        groups, main = test["by_slice"], sweep["main_score"]
    else:
        groups, main = test["by_length"], "exact_match"

    def order(item: tuple[str, dict]) -> int:
        return int(item[0].split("=")[-1])

    curve = " ".join(f"{k}:{v[main] * 100:.0f}" for k, v in sorted(groups.items(), key=order))
    return f"{job.label}: gate at {result.get('stopped_at_gate')}, {seconds:.0f} s | {curve}"


def copy_job(model: str, seed: int, low: int, high: int, steps: int, overrides: str | None = None):
    job = train_job(
        CPU,
        model=model,
        task="copy",
        seed=seed,
        steps=steps,
        lengths=(low, high),
        group="copy",
        label=f"copy {low}-{high} {model} {overrides or ''} seed {seed} ({steps} updates)",
    )
    return with_model_overrides(job, overrides) if overrides else job


def copy_sweep(job):
    low, high = job.info["lengths"]
    return evaluate_job(
        CPU,
        job,
        task="copy",
        lengths=(low, 2 * high),
        examples=48 * (2 * high - low + 1),
        seed=1000,
        label="sweep",
    )


def dp_job(overrides: str, seed: int, steps: int):
    params = {"m_choices": [1, 2, 4, 8], "modulus": 2}
    job = train_job(
        CPU,
        model="mamba-tiny",
        task="stream_dp",
        seed=seed,
        steps=steps,
        lengths=(2, 12),
        group="dp",
        params=params,
        label=f"stream_dp mamba-tiny {overrides} seed {seed}",
    )
    return with_model_overrides(job, overrides)


def dp_sweep(job):
    params = {"m_choices": [1, 2, 4, 8], "modulus": 2}
    return evaluate_job(
        CPU,
        job,
        task="stream_dp",
        lengths=(2, 12),
        examples=600,
        params=params,
        seed=job.info["seed"],
        label="test",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pilot", choices=["copy-pe", "state-copy", "state-dp"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--states", default="1,2,4,8,16")
    parser.add_argument("--models", default="pythia-tiny,pythia-tiny-nope,pythia-tiny-hard-alibi")
    parser.add_argument("--high", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(tempfile.mkdtemp(prefix="pilot-"))
    for seed in range(args.seeds):
        if args.pilot == "copy-pe":
            for model in args.models.split(","):
                job = copy_job(model, seed, 4, args.high or 10, args.steps or 3000)
                print(run(job, copy_sweep, out), flush=True)
        elif args.pilot == "state-copy":
            for d in args.states.split(","):
                job = copy_job(
                    "mamba-tiny",
                    seed,
                    4,
                    args.high or 16,
                    args.steps or 2000,
                    f"num_hidden_layers=2,state_size={d}",
                )
                print(run(job, copy_sweep, out), flush=True)
        else:
            for d in args.states.split(","):
                job = dp_job(f"num_hidden_layers=2,state_size={d}", seed, args.steps or 1000)
                print(run(job, dp_sweep, out), flush=True)


if __name__ == "__main__":
    main()
