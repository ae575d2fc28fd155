"""How state_size reads: capacity against the state with the bit bound, the control, the gaps."""

from __future__ import annotations

import math
from pathlib import Path

from hf_copycot.models import PRESETS
from hf_copycot.reproduce import plots
from hf_copycot.reproduce.report import Section, learned_phrase, markdown_table, section_of
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import INCONCLUSIVE, UNTESTED, Gap, mean_std
from hf_copycot.reproduce.studies import state_size as study
from hf_copycot.reproduce.studies.state_size import ALPHABET, bound_length


def _longest(values: list[int]) -> str:
    return f"{mean_std(values)[0]:.1f} ({', '.join(map(str, values))})"


def section(scale: Scale, numbers: dict, verdict: str, out_dir: Path) -> Section:
    sizes = sorted(scale.state_sizes)
    low, high = scale.state_lengths
    rows, points, curves = [], {}, {}
    for d in sizes:
        size = numbers[f"N={d}"]
        ssm, longest = size["ssm_state_floats"], size["longest_copied"]
        rows.append(
            [
                f"N={d}",
                f"{ssm:,} (+{size['conv_state_floats']:,} conv window)",
                f"{sum(size['learned'])} of {len(size['learned'])}",
                _longest(longest),
                f"{bound_length(ssm):,}",
            ]
        )
        points[f"N={d}"] = (ssm, [max(v, 1) for v in longest])  # log axis: 0 drawn at 1
        curves[f"N={d}"] = {int(k): v for k, v in size["by_length"].items()}
    small, large = sizes[0], sizes[-1]
    control = numbers["control"]
    control_longest = control["longest_copied"]
    rows.append(
        [
            f"N={small}, {2 * scale.state_budget} updates (control)",
            f"{control['ssm_state_floats']:,}",
            f"{sum(control['learned'])} of {len(control['learned'])}",
            _longest(control_longest),
            f"{bound_length(control['ssm_state_floats']):,}",
        ]
    )
    gaps = numbers["gaps"]
    grows = Gap.from_dict(gaps[f"N={large} - N={small}"])
    lifted = Gap.from_dict(gaps[f"control - N={small}"])
    still = Gap.from_dict(gaps[f"N={large} - control"])
    plots.capacity_panels(
        points,
        curves,
        out_dir / f"{study.NAME}.png",
        title=study.TITLE,
        bound={r[0]: bound_length(r[0]) for r in points.values()},
        control=(
            f"N={small}, twice the updates",
            control["ssm_state_floats"],
            [max(v, 1) for v in control_longest],
        ),
        trained_up_to=high,
        xlabel="Mamba SSM state (floats over all layers; log scale)",
        ylabel=f"longest length copied at >= {scale.gate:.0%} (log scale)",
    )
    smallest_floats = points[f"N={small}"][0]
    paragraph = (
        f"{scale.mamba} with `{scale.state_overrides}` (the regime a recorded pilot found the "
        f"state to bind in: docs/reproduce-cpu/PILOTS.md) and d_state {', '.join(map(str, sizes))}"
        f", trained on copy {low}-{high} to the gate or {scale.state_budget} updates, the smallest "
        f"state's runs continued for {scale.state_budget} more on fresh rows (the control: twice "
        f"the training), {scale.seeds} seeds each, scored "
        f"at every length up to {2 * high}. "
        + "; ".join(
            f"N={d}: {learned_phrase(sum(numbers[f'N={d}']['learned']), scale.seeds)}"
            for d in sizes
        )
        + f". Longest length copied at >= {scale.gate:.0%} at every "
        "length up to it (all runs: the sweep measures capacity, so a run that did not reach the "
        "gate counts too): "
        + ", ".join(f"N={d} {mean_std(numbers[f'N={d}']['longest_copied'])[0]:.1f}" for d in sizes)
        + f"; control {mean_std(control_longest)[0]:.1f}. Largest minus smallest state: "
        f"{grows.text(1, ' letters')}; twice the training lifts the smallest state by "
        f"{lifted.text(1, ' letters')}; the largest state minus the control: "
        f"{still.text(1, ' letters')}. "
        f"By counting bits, copying L of {ALPHABET} letters needs {math.log2(ALPHABET):.1f} L "
        f"bits, so even N={small} ({smallest_floats:,} float32 values) could hold "
        f"{bound_length(smallest_floats):,} letters: what binds here is the memory "
        "training makes usable, far below the bound."
    )
    if verdict == UNTESTED:
        paragraph += (
            f" Even the smallest state copied the whole training range (up to {high} letters): "
            "no state tried is small enough to bind."
        )
    elif verdict == INCONCLUSIVE and grows.has_interval and grows.low > 0:
        paragraph += (
            " The state binds (the largest state copies longer strings than the smallest, the "
            "interval excludes 0), but twice the training lifts the smallest state far enough "
            "that its gap to the largest holds 0: with these seeds, training time is not ruled "
            "out as the smallest state's limit, so the capacity reading stays open."
        )
    return section_of(
        study,
        verdict,
        paragraph,
        table=markdown_table(
            [
                "Mamba",
                "SSM state (floats)",
                "learned the range",
                f"longest copied at >= {scale.gate:.0%}: mean (per seed)",
                "bit bound (letters)",
            ],
            rows,
        ),
        numbers=numbers,
        scope=(
            f"A {scale.state_overrides.replace('num_hidden_layers=', '')}-layer Mamba of width "
            f"{PRESETS[scale.mamba].hidden_size} on strings of at most {2 * high} letters: how "
            "usable copy memory grows with d_state in a tiny model; the gpu scale's longer "
            "strings are where the bit bound itself would bind."
        ),
    )
