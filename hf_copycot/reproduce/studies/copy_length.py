"""COPY accuracy at every length, from the shortest trained to twice the longest.

Jelassi et al. (and Ren et al., Theorems 1-2): a Transformer learns to copy and generalises to
longer strings; a constant-size Mamba's accuracy falls with length. Each model (the pair and the
positional-encoding variants) trains on copy over `copy_lengths` until it reaches the gate (or its
budget), then `copycot evaluate` scores every length up to twice the longest. Each half of the
claim is read on the runs that learned the training range.
"""

from __future__ import annotations

from hf_copycot.reproduce import papers
from hf_copycot.reproduce.runner import Job
from hf_copycot.reproduce.runs import Lookup, by_length_scores, copy_run, copy_sweep, learned
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import (
    CONTRADICTED,
    MIN_LEARNED,
    UNTESTED,
    Gap,
    bootstrap_gap,
    combine,
    longest_copied,
    mean_std,
    range_mean,
    verdict_of,
)

NAME = "copy_length"
TITLE = "COPY: accuracy vs string length"
CLAIM = (
    "A Transformer learns to copy and generalises to strings longer than it trained on (Jelassi "
    "et al.: strongly with Hard-ALiBi); a constant-size Mamba's copy accuracy falls with length "
    "(Jelassi et al.; Ren et al., Thm. 1-2)."
)
ANCHORS = (papers.JELASSI_LENGTH_GENERALISATION,)
NOTHING = 0.1  # beyond-range exact match below which a model "does not generalise"


def models_of(scale: Scale) -> tuple[str, ...]:
    """The Transformers (RoPE first, then the positional-encoding variants), then the Mamba."""
    return (scale.transformer, *scale.copy_variants, scale.mamba)


def jobs(scale: Scale) -> list[Job]:
    out = []
    for model in models_of(scale):
        for seed in range(scale.seeds):
            run = copy_run(scale, model, seed)
            out += [run, copy_sweep(scale, run, f"{model} seed {seed}")]
    return out


def model_runs(scale: Scale, lookup: Lookup, model: str) -> list[dict]:
    """Per seed: learned?, the length curve, in-range and beyond-range exact match."""
    low, high = scale.copy_lengths
    out = []
    for seed in range(scale.seeds):
        run = copy_run(scale, model, seed)
        curve = by_length_scores(lookup(copy_sweep(scale, run, "")), "exact_match")
        out.append(
            {
                "seed": seed,
                "learned": learned(lookup(run), scale),
                "curve": curve,
                "in_range": range_mean(curve, low, high),
                "beyond": range_mean(curve, high + 1, 2 * high),
                "longest_copied": longest_copied(curve, scale.gate),
            }
        )
    return out


def mamba_half(runs: list[dict]) -> tuple[str, Gap]:
    """Mamba's copy accuracy falls beyond the range: in-range minus beyond-range exact match on
    the runs that learned, its interval above 0."""
    done = [r for r in runs if r["learned"]]
    gap = bootstrap_gap([r["in_range"] for r in done], [r["beyond"] for r in done])
    if len(done) < MIN_LEARNED:
        return UNTESTED, gap
    return verdict_of(gap), gap


def transformer_half(runs: list[dict], mamba: list[dict]) -> tuple[str, Gap]:
    """A Transformer generalises beyond the range, better than the Mamba: its beyond-range exact
    match minus the Mamba's (runs that learned), the interval above 0 and its mean not ~0."""
    ours = [r["beyond"] for r in runs if r["learned"]]
    theirs = [r["beyond"] for r in mamba if r["learned"]]
    gap = bootstrap_gap(ours, theirs)
    if len(ours) < MIN_LEARNED or len(theirs) < MIN_LEARNED:
        return UNTESTED, gap
    result = verdict_of(gap)
    if result != CONTRADICTED and mean_std(ours)[0] < NOTHING:
        return CONTRADICTED, gap  # it does not generalise at all
    return result, gap


def claimed_variant(scale: Scale) -> str:
    """The Transformer the papers' strong claim is about: Hard-ALiBi where it runs."""
    return next((m for m in scale.copy_variants if m.endswith("hard-alibi")), scale.transformer)


def mamba_claim(scale: Scale) -> str:
    return f"{scale.mamba} falls beyond the range (in-range - beyond)"


def transformer_claim(scale: Scale, model: str) -> str:
    return f"{model} generalises beyond the range (its beyond - {scale.mamba}'s)"


def numbers(scale: Scale, lookup: Lookup) -> dict:
    """Per model: learned, in-range and beyond-range exact match, longest copied and the length
    curve, a value per seed; each half of the claim with its gap and verdict."""
    runs = {model: model_runs(scale, lookup, model) for model in models_of(scale)}
    out: dict = {
        model: {
            "learned": [r["learned"] for r in runs[model]],
            "in_range_exact_match": [r["in_range"] for r in runs[model]],
            "beyond_range_exact_match": [r["beyond"] for r in runs[model]],
            "longest_copied": [r["longest_copied"] for r in runs[model]],
            "by_length": {
                str(length): [r["curve"][length] for r in runs[model]]
                for length in runs[model][0]["curve"]
            },
        }
        for model in models_of(scale)
    }
    halves = {mamba_claim(scale): mamba_half(runs[scale.mamba])}
    for model in (scale.transformer, *scale.copy_variants):
        halves[transformer_claim(scale, model)] = transformer_half(runs[model], runs[scale.mamba])
    out["halves"] = {claim: {"verdict": v, **g.as_dict()} for claim, (v, g) in halves.items()}
    return out


def verdict(scale: Scale, numbers: dict) -> str:
    """The Mamba half with the half of the Transformer the papers' strong result is about."""
    halves = numbers["halves"]
    claimed = (mamba_claim(scale), transformer_claim(scale, claimed_variant(scale)))
    return combine([halves[claim]["verdict"] for claim in claimed])
