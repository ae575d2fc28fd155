"""Matplotlib figures of the report: one PNG per study, readable axes and legends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hf_copycot.reproduce.statistics import mean_std


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
    ylim: tuple[float, float] | None = (0, 1.05),
    limits: Sequence[float] | None = None,
    limit_label: str = "budget",
) -> None:
    """Bars per group (x) and series (colour): the mean over seeds, every seed as a dot on its
    bar; `limits` draws a dashed level per group (e.g. each group's budget)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4.2))
    width = 0.8 / max(1, len(bars))
    for index, (name, values) in enumerate(bars.items()):
        xs = [g + (index - (len(bars) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [mean_std(v)[0] for v in values], width, label=name, alpha=0.8)
        for x, seeds in zip(xs, values, strict=True):
            ax.scatter([x] * len(seeds), seeds, color="black", s=10, zorder=3)
    if limits is not None:
        for g, level in enumerate(limits):
            ax.hlines(
                level,
                g - 0.45,
                g + 0.45,
                colors="grey",
                linestyles="--",
                linewidth=1,
                label=limit_label if g == 0 else None,
            )
    ax.set_xticks(range(len(groups)), groups)
    if ylim is not None:
        ax.set_ylim(*ylim)
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


def capacity_panels(
    points: Mapping[str, tuple[float, Sequence[float]]],
    curves: Mapping[str, Mapping[float, Sequence[float]]],
    path: Path,
    *,
    title: str,
    bound: Mapping[float, float],
    control: tuple[str, float, Sequence[float]] | None = None,
    trained_up_to: float,
    xlabel: str,
    ylabel: str,
) -> None:
    """Left: a measured capacity (one dot per seed, the mean joined by a line) against a state
    size on log-log axes, with an information bound as a dashed line; right: the per-length
    curves behind it, mean and min-max band over seeds."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [points[name][0] for name in points]
    means = [mean_std(points[name][1])[0] for name in points]
    left.plot(xs, means, "o-", color="C0", label="mean over seeds")
    for name, (x, values) in points.items():
        left.scatter([x] * len(values), values, color="C0", alpha=0.4, s=14)
        left.annotate(
            name, (x, mean_std(values)[0]), textcoords="offset points", xytext=(4, -12), fontsize=8
        )
    if control is not None:
        name, x, values = control
        left.scatter([x] * len(values), values, marker="x", color="C3", label=name, zorder=3)
    bx = sorted(bound)
    left.plot(bx, [bound[x] for x in bx], "--", color="grey", label="bit bound (letters)")
    left.axhline(
        trained_up_to, color="grey", linestyle=":", linewidth=1, label="longest length trained on"
    )
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set(xlabel=xlabel, ylabel=ylabel)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize="small")
    for index, (name, series) in enumerate(curves.items()):
        lengths = sorted(series)
        mean = [mean_std(series[x])[0] for x in lengths]
        low = [min(series[x]) for x in lengths]
        high = [max(series[x]) for x in lengths]
        right.plot(lengths, mean, color=f"C{index}", label=name, linewidth=1.6)
        right.fill_between(lengths, low, high, color=f"C{index}", alpha=0.15)
    right.axvline(trained_up_to + 0.5, color="grey", linestyle="--", linewidth=1)
    right.set_ylim(-0.02, 1.02)
    right.set(xlabel="string length (characters)", ylabel="exact match (mean, min-max band)")
    right.grid(alpha=0.3)
    right.legend(fontsize="small")
    fig.suptitle(title)
    _save(fig, path)
