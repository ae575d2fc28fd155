"""Mamba state-size sweep: the longest string copied at the gate's accuracy vs the state it keeps.

Ren et al. (Theorems 1-2): a constant-size Mamba cannot copy arbitrarily long strings, while one
whose state grows linearly with the length can; a Transformer's KV cache grows with the input by
construction. Mambas at the pair's width with d_state from `state_sizes` train on copy like the copy
study; a length sweep finds the longest L such that exact match reaches the gate at every length up
to L. What this measures is usable memory after training, not the information bound.
"""

from __future__ import annotations

import math
from pathlib import Path

from hf_copycot.models import PRESETS
from hf_copycot.reproduce import plots
from hf_copycot.reproduce.plan import (
    MIN_LEARNED,
    UNTESTED,
    Anchor,
    Lookup,
    Section,
    gap_verdict,
    learned,
    learned_phrase,
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
ALPHABET = 26  # the copy task's letters
ANCHORS = (
    Anchor(
        "Jelassi et al. 2024",
        "Theorem 2.7 / Corollary 2.8 (numbering as summarised)",
        "a model with a fixed state copies strings of length L over D symbols with error above "
        "1/2 once its state holds fewer than about L log2 D bits",
        "a bound for any generalized state space model",
        "arXiv 2402.01032, as summarised by a secondary source; not verified against the PDF",
    ),
    Anchor(
        "Ren et al. 2024",
        "Theorems 1-3 (as summarised)",
        "a constant-size Mamba needs exponentially growing scores to copy from distance L; a "
        "Mamba whose size grows linearly with the length can copy exactly",
        "theory",
        "arXiv 2410.03810, as summarised by a secondary source; not verified against the PDF",
    ),
)


def mamba_run(scale: Scale, d_state: int, seed: int) -> Job:
    shape = PRESETS[scale.mamba]
    base = copy_length.trained(scale, scale.mamba, seed, scale.state_n_max)
    if d_state == shape.state_size:
        return base  # the examples-to-gate study's own run at this N_max
    return with_model_overrides(
        base,
        f"state_size={d_state}",
        label=f"copy {scale.mamba} N={d_state} seed {seed}",
    )


def jobs(scale: Scale) -> list[Job]:
    out = []
    for seed in range(scale.seeds):
        for d_state in scale.state_sizes:
            run = mamba_run(scale, d_state, seed)
            out += [run, copy_length.sweep(scale, run, f"N={d_state} seed {seed}")]
        run = copy_length.trained(scale, scale.transformer, seed, scale.state_n_max)
        out += [run, copy_length.sweep(scale, run, f"{scale.transformer} seed {seed}")]
    return out


def _runs(scale: Scale, lookup: Lookup, runs: list[Job]) -> tuple[list[int], int]:
    """(longest copied per seed, how many learned the training range)."""
    longest = [
        copy_length.longest_copied(
            copy_length.curves_of(lookup(copy_length.sweep(scale, run, ""))), scale.gate
        )
        for run in runs
    ]
    return longest, sum(learned(lookup(run), scale) for run in runs)


def bound_length(state_floats: int) -> int:
    """The longest string a state of that many float32 values could hold, by counting bits."""
    return int(32 * state_floats / math.log2(ALPHABET))


def verdict(longest: list[list[int]], learned_by_size: list[int]) -> str:
    """Does the longest copied length grow from the smallest state to the largest?

    Untested when the largest state did not learn the range, or when even the smallest state
    did: then no state tried is small enough to bind, and the training range caps every length.
    """
    if learned_by_size[-1] < MIN_LEARNED or learned_by_size[0] >= MIN_LEARNED:
        return UNTESTED
    return gap_verdict(longest[-1], longest[0])


def analyse(scale: Scale, lookup: Lookup, out_dir: Path) -> Section:
    sizes = sorted(scale.state_sizes)
    rows, points, numbers, longest_by_size, learned_by_size = [], [], {}, [], []
    for d_state in sizes:
        runs = [mamba_run(scale, d_state, seed) for seed in range(scale.seeds)]
        longest, count = _runs(scale, lookup, runs)
        architecture = lookup(runs[0]).get("architecture", {})
        ssm = architecture["ssm_state_floats_per_layer"] * architecture["num_layers"]
        conv = architecture["conv_state_floats_per_layer"] * architecture["num_layers"]
        mean, std = mean_std(longest)
        rows.append(
            [
                f"Mamba N={d_state}",
                f"{ssm:,} (+{conv:,} conv window)",
                f"{count} of {len(runs)}",
                f"{mean:.1f}" + (f" ± {std:.1f}" if std else ""),
                f"{bound_length(ssm):,}",
            ]
        )
        points.append((ssm, mean, f"N={d_state}"))
        numbers[f"N={d_state}"] = {
            "ssm_state_floats": ssm,
            "conv_state_floats": conv,
            "learned": count,
            "longest_copied": longest,
        }
        longest_by_size.append(longest)
        learned_by_size.append(count)
    runs = [
        copy_length.trained(scale, scale.transformer, seed, scale.state_n_max)
        for seed in range(scale.seeds)
    ]
    longest, count = _runs(scale, lookup, runs)
    kv = lookup(runs[0]).get("architecture", {}).get("kv_cache_floats_per_token") or 0
    mean, std = mean_std(longest)
    # The cache a Transformer holds when it has read a string of that length and its copy.
    transformer_cache = int(kv * (2 * max(mean, 1) + 1))
    rows.append(
        [
            f"{scale.transformer} (KV cache at 2L+1 tokens)",
            f"{transformer_cache:,}",
            f"{count} of {len(runs)}",
            f"{mean:.1f}" + (f" ± {std:.1f}" if std else ""),
            "grows with L",
        ]
    )
    numbers[scale.transformer] = {
        "kv_cache_floats_per_token": kv,
        "learned": count,
        "longest_copied": longest,
    }
    plots.scatter_with_reference(
        points,
        out_dir / f"{NAME}.png",
        title=TITLE,
        xlabel="Mamba SSM state (floats over all layers; log scale)",
        ylabel=f"longest length copied at >= {scale.gate:.0%}",
        references=[(transformer_cache or 1, mean, f"{scale.transformer} (KV cache)")],
        ylim=(0, 2 * scale.state_n_max + 0.5),
        hline=(scale.state_n_max, "longest length trained on"),
    )
    result = verdict(longest_by_size, learned_by_size)
    counts = "; ".join(
        f"N={d}: {learned_phrase(c, scale.seeds)}"
        for d, c in zip(sizes, learned_by_size, strict=True)
    )
    paragraph = (
        f"{scale.mamba} at its width with d_state {', '.join(map(str, sizes))}, trained on copy "
        f"{scale.copy_min}-{scale.state_n_max} to the gate or {scale.copy_budgets[scale.state_n_max]} "
        f"updates and scored at every length up to {2 * scale.state_n_max}. {counts}; "
        f"{scale.transformer}: "
        f"{learned_phrase(count, scale.seeds)}. Longest length copied at >= {scale.gate:.0%} "
        "(mean over all runs): "
        + ", ".join(f"{label} {m:.1f}" for _, m, label in points)
        + f"; {scale.transformer} {mean:.1f}. "
        f"By counting bits, copying L of {ALPHABET} letters needs L log2 {ALPHABET} = "
        f"{math.log2(ALPHABET):.1f} L bits, so even the smallest state here "
        f"({points[0][0]:,} float32 values) could hold {bound_length(points[0][0]):,} letters: "
        "this study measures the memory training makes usable, not the bound."
    )
    if result == UNTESTED and learned_by_size[0] >= MIN_LEARNED:
        paragraph += (
            f" Even the smallest state learned the whole training range (up to "
            f"{scale.state_n_max} letters), so no state tried is small enough to limit copying "
            "here: the lengths copied are capped by the training range, not by the state."
        )
    elif result == UNTESTED:
        paragraph += " Too few runs of the largest state learned the range to compare."
    return Section(
        name=NAME,
        title=TITLE,
        claim=CLAIM,
        verdict=result,
        paragraph=paragraph,
        table=markdown_table(
            [
                "model",
                "state (floats)",
                "learned the range",
                f"longest copied at >= {scale.gate:.0%}",
                "bit bound (letters)",
            ],
            rows,
        ),
        figure=f"{NAME}.png",
        numbers=numbers,
        anchors=ANCHORS,
        scope=(
            "States of a few hundred to a few thousand floats on strings of at most "
            f"{2 * scale.state_n_max} letters: how usable memory grows with d_state in tiny models; "
            "the gpu scale's longer strings are where a bound of this kind would bind."
        ),
    )
