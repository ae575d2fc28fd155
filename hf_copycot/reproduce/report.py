"""How the results read: a study's `Section` (claim, verdict, what this run shows, table, plot),
the wording helpers every study's prose shares, and results.json and report.md with every number
beside its run's flags and seed."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hf_copycot.publishing import write_json, write_text
from hf_copycot.reproduce.papers import Anchor
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import FAILED


@dataclass
class Section:
    """What a study puts in the report and in results.json."""

    name: str
    title: str
    claim: str  # the paper's claim, in one or two sentences
    verdict: str  # one of statistics.VERDICTS
    paragraph: str  # what this run shows, with its numbers
    table: str = ""  # markdown
    figure: str | None = None  # PNG file name, next to report.md
    numbers: dict = field(default_factory=dict)
    anchors: tuple[Anchor, ...] = ()
    scope: str = ""  # one sentence: what scale this result speaks for
    tested: str = ""  # which clauses of the claim the verdict covers, where not all of them


def section_of(
    study,
    verdict: str,
    paragraph: str,
    *,
    numbers: dict | None = None,
    table: str = "",
    figure: bool = True,
    scope: str = "",
    tested: str = "",
) -> Section:
    """A study's section: its name, title, claim and the papers' numbers from the study module,
    its figure `<name>.png` (drawn by its prose) unless `figure` is False."""
    return Section(
        name=study.NAME,
        title=study.TITLE,
        claim=study.CLAIM,
        verdict=verdict,
        paragraph=paragraph,
        table=table,
        figure=f"{study.NAME}.png" if figure else None,
        numbers=numbers if numbers is not None else {},
        anchors=study.ANCHORS,
        scope=scope,
        tested=tested,
    )


def failed_section(study, error: Exception) -> Section:
    """A study whose analysis raised: its error line in place of its results."""
    line = f"{type(error).__name__}: {error}".splitlines()[0]
    return Section(
        name=study.NAME,
        title=study.TITLE,
        claim=study.CLAIM,
        verdict=FAILED,
        paragraph=f"This study could not be analysed: `{line}`. The other studies' sections "
        "are unaffected; the runs' logs are under `runs/` (see `results.json`).",
        numbers={"error": line},
    )


def fmt(mean: float, std: float | None = None, percent: bool = True) -> str:
    if math.isnan(mean):
        return "n/a"
    scale, unit = (100, "%") if percent else (1, "")
    text = f"{mean * scale:.1f}{unit}" if percent else f"{mean:.3g}"
    if std:
        text += f" ± {std * scale:.1f}" if percent else f" ± {std:.2g}"
    return text


def learned_phrase(count: int, total: int) -> str:
    """The report's fixed wording, so that a reader (or a script) can find it."""
    return f"learned the training range: {count} of {total} runs"


def anchors_markdown(anchors: Sequence[Anchor]) -> str:
    """The papers' own numbers, one bullet each."""
    return "\n".join(
        f"- {a.paper}, {a.where}: {a.value} ({a.scale}; source: {a.source})" for a in anchors
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write(
    out_dir: Path,
    *,
    scale: Scale,
    sections: list[Section],
    runs: list[dict],
    seconds: float,
    command: str,
    reused: int = 0,
) -> Path:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    write_json(
        out_dir / "results.json",
        {
            "preset": scale.name,  # the scale's name (the key keeps its name: results.json as before)
            "created": now,
            "command": command,
            "seconds": round(seconds, 1),
            "runs_reused": reused,
            "machine": info,
            "scale": dataclasses.asdict(scale),
            "studies": {
                s.name: {
                    "title": s.title,
                    "claim": s.claim,
                    "verdict": s.verdict,
                    "paragraph": s.paragraph,
                    "numbers": s.numbers,
                    "anchors": [dataclasses.asdict(a) for a in s.anchors],
                    "scope": s.scope,
                }
                for s in sections
            },
            "runs": runs,
        },
    )
    worker_minutes = sum(run.get("seconds", 0) for run in runs) / 60
    timing = f"{seconds / 60:.1f} minutes"
    if reused:
        # A re-run reuses cached runs: its wall time is not what the study costs.
        timing += (
            f" ({reused} of {len(runs)} runs reused from an earlier invocation; the runs took "
            f"{worker_minutes:.1f} worker-minutes when they ran)"
        )
    lines = [
        f"# hf-copycot reproduction: `{scale.name}` scale",
        "",
        f"`{command}`, {now}, {timing} on {info['platform']} "
        f"({info['cpu_count']} cores, torch {info['torch']}"
        + (f", {info['cuda']}" if info["cuda"] else "")
        + f"). Models: {scale.mamba} vs {scale.transformer} (parameter-matched presets; the copy "
        f"study adds {', '.join(scale.copy_variants) or 'no other positional encoding'}), "
        f"{scale.seeds} seed(s); mean ± standard deviation over seeds. Every number, with the "
        "flags of the run that produced it, is in `results.json`.",
        "",
        f"Protocol: every training run stops when its in-range validation score reaches "
        f"{scale.gate:.0%} (the gate: our protocol, fixed before any run, in the spirit of "
        f"zoology's train-to-criterion; checked every {scale.eval_every} updates) or its budget of updates runs out; learning rates were chosen per architecture "
        "on in-range validation (`copycot reproduce --tune_lr`). Each study says how many runs "
        "*learned the training range* (reached the gate) and gives its numbers on those runs "
        "beside the means over all runs.",
        "",
        "Every gap is read from a seeded percentile bootstrap of the difference of the two "
        "groups' means over seeds (10,000 resamples): a claim is *supported* when the 95% "
        "interval of the gap it predicts lies on its side of 0 (for 'keeps up': above -5 "
        "points); *contradicted at this scale* when it lies on the other side, or the effect is "
        "absent where the claim predicts one; *inconclusive* when the interval holds 0; *could "
        "not be tested* when too few runs learned their task, or nothing binds at this scale. "
        "Each section states its intervals and seeds; with a handful of seeds a percentile "
        "interval is narrower than the truth, so read the per-seed numbers beside it. Headline "
        "numbers are on the runs that learned, all-run means beside them. The verdicts describe "
        "this run at this scale, not the papers.",
        "",
    ]
    failed_runs = [run for run in runs if run.get("failed")]
    failed_studies = [s for s in sections if s.verdict == FAILED]
    if failed_studies or failed_runs:
        lines += [
            f"**{len(failed_studies)} of {len(sections)} studies failed; {len(failed_runs)} of "
            f"{len(runs)} runs failed.** The other sections stand on their own runs.",
            "",
        ]
        lines += [
            f"- run `{r['label']}` failed: {r['failed']}"
            + (f" (log: `{r['log']}`)" if r["log"] else "")
            for r in failed_runs
        ]
        lines += [""] if failed_runs else []
    lines += ["| study | claim | verdict |", "| --- | --- | --- |"]
    lines += [
        f"| [{s.title}](#{s.name}) | {s.claim} | **{s.verdict}**"
        + (f" ({s.tested})" if s.tested else "")
        + " |"
        for s in sections
    ]
    for s in sections:
        lines += ["", f'<a id="{s.name}"></a>', f"## {s.title}", "", f"**Claim.** {s.claim}", ""]
        lines += [f"**This run ({s.verdict}).** {s.paragraph}", ""]
        if s.table:
            lines += [s.table, ""]
        if s.figure:
            lines += [f"![{s.title}]({s.figure})", ""]
        if s.anchors:
            lines += ["**The papers' numbers.**", "", anchors_markdown(s.anchors), ""]
        if s.scope:
            lines += [f"**What this scale speaks for.** {s.scope}", ""]
    path = out_dir / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
