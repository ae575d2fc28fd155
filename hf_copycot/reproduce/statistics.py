"""What the runs mean: seed statistics and the verdict rules every study applies.

A gap between two groups of runs (one value per seed) is read from a percentile bootstrap of the
difference of their means: each group resampled with replacement, `RESAMPLES` times, with a fixed
seed, so the same numbers give the same interval. A verdict comes from where that 95% interval
lies, never from the means alone. With a handful of seeds the percentile interval is narrower than
the truth (it cannot see beyond the values drawn), so the report always states the seeds beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SUPPORTED = "supported"
CONTRADICTED = "contradicted at this scale"
INCONCLUSIVE = "inconclusive"
UNTESTED = "could not be tested"
MEASURED = "measured"
# A study whose analysis raised (a bug, or a run it needs failed): reported, never fatal.
FAILED = "failed"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNTESTED, MEASURED, FAILED)

LEVEL = 0.95
RESAMPLES = 10_000
# "Keeps up": behind by less than this (in the score's units, 5 points of accuracy) with 95%
# confidence; fixed before any run.
KEEP_UP_MARGIN = 0.05
# Runs per model (of the scale's seeds) that must learn their training range before a study
# compares what they do beyond it.
MIN_LEARNED = 2


def clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); NaN for empty input."""
    values = clean(values)
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class Gap:
    """mean(a) - mean(b) with its bootstrap interval; `low`/`high` are NaN when a side has fewer
    than two values (no spread to resample)."""

    gap: float
    low: float
    high: float
    sizes: tuple[int, int]

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.low)

    def text(self, scale: float = 100, unit: str = " points") -> str:
        """'+12.3 points, 95% interval [4.1, 20.0], 5 vs 5 seeds'."""
        seeds = f"{self.sizes[0]} vs {self.sizes[1]} seeds"
        if math.isnan(self.gap):
            return f"no gap ({seeds})"
        head = f"{self.gap * scale:+.1f}{unit}"
        if not self.has_interval:
            return f"{head} ({seeds}: no interval)"
        return (
            f"{head}, {LEVEL:.0%} interval [{self.low * scale:+.1f}, {self.high * scale:+.1f}], "
            f"{seeds}"
        )

    def as_dict(self) -> dict:
        return {"gap": self.gap, "ci95": [self.low, self.high], "seeds": list(self.sizes)}

    @classmethod
    def from_dict(cls, data: dict) -> Gap:
        """The gap `as_dict` wrote (a study's numbers, as results.json keeps them)."""
        return cls(data["gap"], *data["ci95"], tuple(data["seeds"]))


def bootstrap_gap(a: Sequence[float | None], b: Sequence[float | None], seed: int = 0) -> Gap:
    """mean(a) - mean(b) and its percentile bootstrap interval (seeded: same input, same bytes)."""
    a, b = np.asarray(clean(a)), np.asarray(clean(b))
    sizes = (len(a), len(b))
    if not len(a) or not len(b):
        return Gap(float("nan"), float("nan"), float("nan"), sizes)
    gap = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Gap(gap, float("nan"), float("nan"), sizes)
    rng = np.random.default_rng(seed)
    resampled = a[rng.integers(0, len(a), (RESAMPLES, len(a)))].mean(axis=1) - b[
        rng.integers(0, len(b), (RESAMPLES, len(b)))
    ].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return Gap(gap, float(low), float(high), sizes)


def gap_verdict(higher: Sequence[float], lower: Sequence[float]) -> str:
    """SUPPORTED when the 95% interval of mean(higher) - mean(lower) lies above 0, CONTRADICTED
    when it lies below, INCONCLUSIVE when it holds 0 or a side has fewer than two seeds."""
    return verdict_of(bootstrap_gap(higher, lower))


def verdict_of(gap: Gap) -> str:
    """`gap_verdict` of a gap already computed (studies report the gap beside its verdict)."""
    if not gap.has_interval:
        return INCONCLUSIVE
    if gap.low > 0:
        return SUPPORTED
    if gap.high < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def keeps_up(
    follower: Sequence[float], leader: Sequence[float], margin: float = KEEP_UP_MARGIN
) -> str:
    """SUPPORTED when `follower` is behind `leader` by less than `margin` with 95% confidence
    (the interval's low end above -margin), CONTRADICTED when it is behind by more than `margin`
    with that confidence (high end below -margin), INCONCLUSIVE otherwise."""
    gap = bootstrap_gap(follower, leader)
    if not gap.has_interval:
        return INCONCLUSIVE
    if gap.low > -margin:
        return SUPPORTED
    if gap.high < -margin:
        return CONTRADICTED
    return INCONCLUSIVE


def compare(higher: Sequence[float], lower: Sequence[float], names: tuple[str, str]) -> str:
    """One readable phrase: who leads, by how much, and the interval of the gap."""
    gap = bootstrap_gap(higher, lower)
    if math.isnan(gap.gap):
        return f"no runs to compare {names[0]} with {names[1]}"
    leader, trailer = names if gap.gap >= 0 else names[::-1]
    phrase = f"{leader} ahead of {trailer} by {abs(gap.gap) * 100:.1f} points"
    if not gap.has_interval:
        return phrase + f" ({gap.sizes[0]} vs {gap.sizes[1]} seeds: no interval)"
    clears = gap.low > 0 or gap.high < 0
    return (
        phrase
        + f" ({names[0]} - {names[1]}: {gap.text()}; "
        + ("the interval excludes 0)" if clears else "the interval holds 0)")
    )


def range_mean(curve: dict[int, float], low: int, high: int) -> float:
    """Mean score over the lengths of `curve` in [low, high]."""
    values = [value for length, value in curve.items() if low <= length <= high]
    return sum(values) / max(1, len(values))


def longest_copied(curve: dict[int, float], threshold: float) -> int:
    """Largest L with exact match >= threshold at every length up to L (0 if the first fails)."""
    longest = 0
    for length in sorted(curve):
        if curve[length] < threshold:
            break
        longest = length
    return longest


def combine(verdicts: Sequence[str]) -> str:
    """One verdict for a claim from its parts: any contradiction, untested or open part shows."""
    for verdict in (FAILED, CONTRADICTED, UNTESTED, INCONCLUSIVE):
        if verdict in verdicts:
            return verdict
    return SUPPORTED
