"""Matplotlib figures of the report: one PNG per study, readable axes and legends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hf_copycot.reproduce.plan import mean_std


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def lines_with_spread(
    series: Mapping[str, Mapping[float, Sequence[float]]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    vline: tuple[float, str] | None = None,
    logx: bool = False,
    ylim: tuple[float, float] | None = (-0.02, 1.02),
    xticklabels: Mapping[float, str] | None = None,
) -> None:
    """One line per series: the mean over seeds, bold, and every seed as a thin line of the same
    colour (with a few seeds a ± std band misleads: one failed seed draws a band off the axis)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, points in series.items():
        xs = sorted(points)
        means = [mean_std(points[x])[0] for x in xs]
        (line,) = ax.plot(xs, means, marker="o", markersize=3, linewidth=2, label=name)
        seeds = min((len(points[x]) for x in xs), default=0)
        for seed in range(seeds if seeds > 1 else 0):
            ax.plot(
                xs, [points[x][seed] for x in xs], color=line.get_color(), alpha=0.35, linewidth=0.8
            )
    if any(min(map(len, p.values()), default=0) > 1 for p in series.values()):
        ax.plot([], [], color="grey", alpha=0.5, linewidth=0.8, label="single seeds")
    if vline is not None:
        ax.axvline(vline[0], color="grey", linestyle="--", linewidth=1)
        ax.text(
            vline[0],
            0.98,
            f" {vline[1]}",
            color="grey",
            va="top",
            fontsize="small",
            transform=ax.get_xaxis_transform(),
        )
    if logx:
        ax.set_xscale("log", base=2)
    if xticklabels:
        ax.set_xticks(list(xticklabels), list(xticklabels.values()))
    if ylim:
        ax.set_ylim(*ylim)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def grouped_bars(
    groups: Sequence[str],
    bars: Mapping[str, Sequence[Sequence[float]]],
    path: Path,
    *,
    title: str,
    ylabel: str,
) -> None:
    """Bars per group (x) and series (colour), mean over seeds with ± std error bars."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4.2))
    width = 0.8 / max(1, len(bars))
    for index, (name, values) in enumerate(bars.items()):
        stats = [mean_std(v) for v in values]
        xs = [g + (index - (len(bars) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [m for m, _ in stats], width, yerr=[s for _, s in stats], capsize=3, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, 1.05)
    ax.set(title=title, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def scatter_with_reference(
    points: Sequence[tuple[float, float, str]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    references: Sequence[tuple[float, float, str]] = (),
    ylim: tuple[float, float] | None = None,
    hline: tuple[float, str] | None = None,
) -> None:
    """Labelled points (x, y, label); references drawn as distinct markers; `hline` marks a
    level (e.g. the longest length trained on)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    points = sorted(points)  # a line left to right, whatever order the grid was given in
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label="Mamba")
        for x, y, label in points:
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for x, y, label in references:
        ax.plot([x], [y], "s", markersize=8, label=label)
    if hline is not None:
        ax.axhline(hline[0], color="grey", linestyle="--", linewidth=1, label=hline[1])
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xscale("log", base=2)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def two_panels(
    left: Mapping[str, Mapping[float, float]],
    right: Mapping[str, Mapping[float, float]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    left_ylabel: str,
    right_ylabel: str,
) -> None:
    """Two log-log panels sharing the x axis (e.g. latency and memory vs context length)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, data, ylabel in ((axes[0], left, left_ylabel), (axes[1], right, right_ylabel)):
        for name, points in data.items():
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    _save(fig, path)
