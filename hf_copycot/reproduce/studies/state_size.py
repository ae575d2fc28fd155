"""Mamba state-size sweep: the longest string copied at >= 90% vs the state a Mamba carries.

Ren et al. (Theorems 1-2): a constant-size Mamba cannot copy arbitrarily long strings, while one
whose state grows linearly with the length can; a Transformer's KV cache grows with the input by
construction. Mambas of several (d_model, d_state) train on copy like the copy study's pair; the
length sweep finds the longest length L such that exact match is >= 90% at every length up to L.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hf_copycot.models import PRESETS
from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    Lookup,
    Section,
    markdown_table,
    mean_std,
    with_model_overrides,
)
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.studies import copy_length

NAME = "state_size"
TITLE = "COPY: longest length copied vs Mamba state size"
CLAIM = (
    "The longest string a Mamba copies grows with its state size (a state linear in the length "
    "suffices), while a Transformer's cache grows with the input (Ren et al., Thm. 1-2)."
)
THRESHOLD = 0.9


def mamba_run(scale: Scale, d_model: int, d_state: int, seed: int) -> Job:
    shape = PRESETS[scale.mamba]
    base = copy_length.trained(scale, scale.mamba, seed)
    if (d_model, d_state) == (shape.hidden_size, shape.state_size):
        return base  # the copy study's own run
    return with_model_overrides(
        base,
        f"hidden_size={d_model},state_size={d_state}",
        label=f"copy {scale.mamba} d={d_model} N={d_state} seed {seed}",
        cost=base.cost * max(0.5, d_model / shape.hidden_size),
    )


def jobs(scale: Scale) -> list[Job]:
    out = []
    for seed in range(scale.seeds):
        for d_model, d_state in scale.state_grid:
            run = mamba_run(scale, d_model, d_state, seed)
            out += [run, copy_length.sweep(scale, run, f"d={d_model} N={d_state} seed {seed}")]
        run = copy_length.trained(scale, scale.transformer, seed)
        out += [run, copy_length.sweep(scale, run, f"{scale.transformer} seed {seed}")]
    return out


def longest_copied(by_length: dict[int, float]) -> int:
    """Largest L with exact match >= THRESHOLD at every length up to L (0 if the first fails)."""
    longest = 0
    for length in sorted(by_length):
        if by_length[length] < THRESHOLD:
            break
        longest = length
    return longest


def _longest(scale: Scale, lookup: Lookup, run: Job) -> int:
    curve = copy_length.curves_of(lookup(copy_length.sweep(scale, run, "")))
    return longest_copied(curve)


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    rows, points, numbers = [], [], {}
    for d_model, d_state in scale.state_grid:
        runs = [mamba_run(scale, d_model, d_state, seed) for seed in range(scale.seeds)]
        longest = [_longest(scale, lookup, run) for run in runs]
        state = lookup(runs[0]).get("architecture", {}).get("recurrent_state_floats")
        mean, std = mean_std(longest)
        label = f"d={d_model}, N={d_state}"
        rows.append([f"Mamba {label}", f"{state:,}" if state else "?", _cell(mean, std)])
        points.append((state or 1, mean, label))
        numbers[label] = {"recurrent_state_floats": state, "longest_copied": longest}
    runs = [copy_length.trained(scale, scale.transformer, seed) for seed in range(scale.seeds)]
    longest = [_longest(scale, lookup, run) for run in runs]
    kv = lookup(runs[0]).get("architecture", {}).get("kv_cache_floats_per_token") or 0
    mean, std = mean_std(longest)
    # The cache a Transformer holds when it has read a string of the longest length and its copy.
    transformer_state = kv * (2 * max(mean, 1) + 1)
    rows.append(
        [
            f"{scale.transformer} (KV cache at 2L+1 tokens)",
            f"{transformer_state:,.0f}",
            _cell(mean, std),
        ]
    )
    numbers[scale.transformer] = {"kv_cache_floats_per_token": kv, "longest_copied": longest}
    plots.scatter_with_reference(
        points,
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="recurrent state (floats; log scale)",
        ylabel=f"longest length copied at >= {THRESHOLD:.0%}",
        references=[(transformer_state or 1, mean, f"{scale.transformer} (KV cache)")],
    )
    ordered = sorted(points)
    monotone = all(b[1] >= a[1] for a, b in itertools.pairwise(ordered))
    grows = len(ordered) > 1 and ordered[-1][1] > ordered[0][1]
    tested = scale.copy_long[1]
    paragraph = (
        f"Longest length copied at >= {THRESHOLD:.0%} (lengths {scale.copy_lengths[0]}-{tested} "
        f"tested, {scale.copy_lengths[0]}-{scale.copy_lengths[1]} trained), mean over "
        f"{scale.seeds} seed(s): "
        + "; ".join(f"{label}: {mean:.1f}" for _, mean, label in ordered)
        + f"; {scale.transformer}: {mean_std(longest)[0]:.1f}. "
    )
    if grows and monotone:
        paragraph += "The longest copied length does not fall and rises with the state size."
        verdict = "supported" if scale.seeds > 1 else "inconclusive"
    else:
        paragraph += "The longest copied length does not rise steadily with the state here"
        smallest = min(state for state, _, _ in ordered)
        if smallest > 10 * tested:
            paragraph += (
                f": even the smallest state ({smallest:,} floats) is far larger than the {tested} "
                "characters a string holds, so the capacity bound of Theorems 1-2 is not what "
                "limits these models; it needs states comparable to the string (the gpu "
                "scale's longer strings and smaller states)."
            )
        else:
            paragraph += "."
        verdict = "not supported"
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=markdown_table(["model", "state (floats)", "longest copied at >= 90%"], rows),
        figure=f"{NAME}.png",
        numbers=numbers,
    )


def _cell(mean: float, std: float) -> str:
    return f"{mean:.1f}" + (f" ± {std:.1f}" if std else "")
