"""AdamW step time on the reproduction's models: the implementation finetune.py picks (fused
where every parameter is on a CPU or CUDA device) against torch's default (per-tensor on CPU).

The models are tiny (70k-110k parameters), so an update's optimizer step is a noticeable share of
it on a CPU: about a tenth of a pythia-tiny update. Prints ms per step and the ratio, measured in
one process with the two implementations alternated round by round.

    python benchmarks/bench_optimizer.py [--steps 300] [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hf_copycot.finetune import make_optimizer, optimizer_options, parameter_groups
from hf_copycot.models import load_model_and_tokenizer

MODELS = {
    "pythia-tiny-hard-alibi": None,
    "mamba-tiny (2 layers, d_state 16)": ("mamba-tiny", "num_hidden_layers=2,state_size=16"),
}


def step_ms(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], steps: int) -> float:
    for param in params:
        param.grad = torch.randn_like(param)
    for _ in range(10):  # warm-up
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return 1000 * (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds per variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (reproduce: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"AdamW step, ms (median of {args.rounds} rounds of {args.steps} steps, "
          f"{args.threads} thread(s)); ratio = default / ours")  # fmt: skip
    for label, spec in MODELS.items():
        preset, overrides = spec or (label, None)
        model, _ = load_model_and_tokenizer(f"preset:{preset}", config_overrides=overrides)
        params = [p for p in model.parameters() if p.requires_grad]
        groups = parameter_groups(model, 0.1)
        default = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95))
        ours = make_optimizer(model, argparse.Namespace(weight_decay=0.1, learning_rate=1e-3))
        times: dict[str, list[float]] = {"default": [], "ours": []}
        for _ in range(args.rounds):
            times["default"].append(step_ms(default, params, args.steps))
            times["ours"].append(step_ms(ours, params, args.steps))
        base, mine = (statistics.median(times[name]) for name in ("default", "ours"))
        print(f"{label:36s} {sum(p.numel() for p in params):>8,} params  default {base:6.3f}  "
              f"ours ({optimizer_options(params)}) {mine:6.3f}  ratio {base / mine:4.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
