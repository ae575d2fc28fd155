"""Mamba state-size sweep: the longest string copied at the gate's accuracy vs the state it keeps.

Ren et al. (Theorems 1-2): a constant-size Mamba cannot copy arbitrarily long strings, while one
whose state grows linearly with the length can; a Transformer's KV cache grows with the input by
construction. A shallow Mamba (`state_overrides`: at the pair's four layers even d_state 1 copied
the cpu scale's whole range, so nothing bound) with each d_state of `state_sizes` trains on copy;
a length sweep finds the longest L such that exact match reaches the gate at every length up to L.
The smallest state also trains twice as long (each of its runs continued for the budget again, on
fresh rows): if that lifts it to the largest state's level, its plateau was training time, not
capacity. What this measures is usable memory after training, not the information bound.
"""

from __future__ import annotations

import math

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import (
    Lookup,
    by_length_scores,
    continued_job,
    copy_sweep,
    learned,
    train_job,
)
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import (
    INCONCLUSIVE,
    SUPPORTED,
    UNTESTED,
    bootstrap_gap,
    gap_verdict,
    longest_copied,
    mean_std,
)

NAME = "state_size"
TITLE = "COPY: longest length copied vs Mamba state size"
CLAIM = (
    "The longest string a Mamba copies grows with its state size (a state linear in the length "
    "suffices), while a Transformer's cache grows with the input (Ren et al., Thm. 1-2)."
)
ANCHORS = (papers.JELASSI_STATE_BOUND, papers.REN_COPY_THEOREMS)
ALPHABET = 26  # the copy task's letters


def mamba_run(scale: Scale, d_state: int, seed: int) -> Job:
    """The shallow Mamba with `d_state` trained on copy over the sweep's lengths."""
    return train_job(
        scale,
        model=scale.mamba,
        task="copy",
        seed=seed,
        steps=scale.state_budget,
        lengths=scale.state_lengths,
        group="copy",
        overrides=f"{scale.state_overrides},state_size={d_state}",
        label=f"copy {scale.mamba} {scale.state_overrides} N={d_state} seed {seed}",
    )


def control_run(scale: Scale, seed: int) -> Job:
    """The smallest state trained for twice the budget: its run continued for as many updates
    again, on fresh rows."""
    run = mamba_run(scale, min(scale.state_sizes), seed)
    label = f"{run.label} (+{scale.state_budget} updates)"
    return continued_job(run, scale.state_budget, label)


def runs_of(scale: Scale) -> list[Job]:
    return [
        *(mamba_run(scale, d, seed) for d in scale.state_sizes for seed in range(scale.seeds)),
        *(control_run(scale, seed) for seed in range(scale.seeds)),
    ]


def jobs(scale: Scale) -> list[Job]:
    return [job for run in runs_of(scale) for job in (run, copy_sweep(scale, run, run.label))]


def bound_length(state_floats: int) -> int:
    """The longest string a state of that many float32 values could hold, by counting bits."""
    return int(32 * state_floats / math.log2(ALPHABET))


def measured(scale: Scale, lookup: Lookup, runs: list[Job]) -> dict:
    """Per run: learned?, the longest length copied, the length curve; the state's floats."""
    results = [lookup(run) for run in runs]
    curves = [by_length_scores(lookup(copy_sweep(scale, run, "")), "exact_match") for run in runs]
    architecture = results[0].get("architecture", {})
    layers = architecture["num_layers"]
    return {
        "ssm_state_floats": architecture["ssm_state_floats_per_layer"] * layers,
        "conv_state_floats": architecture["conv_state_floats_per_layer"] * layers,
        "learned": [learned(result, scale) for result in results],
        "longest_copied": [longest_copied(curve, scale.gate) for curve in curves],
        "by_length": {str(k): [curve[k] for curve in curves] for k in curves[0]},
    }


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Per d_state and for the control: the state's floats, learned and longest copied per seed,
    the length curves; the three gaps the verdict reads (largest - smallest, control - smallest,
    largest - control)."""
    sizes = sorted(scale.state_sizes)
    seeds = range(scale.seeds)
    out: dict = {
        f"N={d}": measured(scale, lookup, [mamba_run(scale, d, seed) for seed in seeds])
        for d in sizes
    }
    small, large = sizes[0], sizes[-1]
    control = measured(scale, lookup, [control_run(scale, seed) for seed in seeds])
    out["control"] = {
        "d_state": small,
        "updates": 2 * scale.state_budget,
        "longest_copied": control["longest_copied"],
        "learned": control["learned"],
        "ssm_state_floats": control["ssm_state_floats"],
    }
    smallest = out[f"N={small}"]["longest_copied"]
    largest = out[f"N={large}"]["longest_copied"]
    controlled = control["longest_copied"]
    out["gaps"] = {
        f"N={large} - N={small}": bootstrap_gap(largest, smallest).as_dict(),
        f"control - N={small}": bootstrap_gap(controlled, smallest).as_dict(),
        f"N={large} - control": bootstrap_gap(largest, controlled).as_dict(),
    }
    return out


def capacity_verdict(smallest: list[int], largest: list[int], control: list[int], cap: int) -> str:
    """Does the longest copied length grow from the smallest state to the largest, and is the
    smallest state's limit one of capacity (twice the training does not reach the largest)?

    Untested when even the smallest state copies the whole training range (nothing binds)."""
    if mean_std(smallest)[0] >= cap:
        return UNTESTED
    grows = gap_verdict(largest, smallest)
    if grows != SUPPORTED:
        return grows
    return SUPPORTED if gap_verdict(largest, control) == SUPPORTED else INCONCLUSIVE


def verdict(scale: Scale, numbers: dict) -> str:
    sizes = sorted(scale.state_sizes)
    return capacity_verdict(
        numbers[f"N={sizes[0]}"]["longest_copied"],
        numbers[f"N={sizes[-1]}"]["longest_copied"],
        numbers["control"]["longest_copied"],
        scale.state_lengths[1],
    )
