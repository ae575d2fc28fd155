"""Building blocks the studies share: job builders (the dataclasses `finetune.py` and `copycot
evaluate` parse, filled in as a user's flags would), statistics, verdicts and the report section a
study returns."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from hf_copycot.reproduce.runner import MODEL_DIR, Job
from hf_copycot.reproduce.scales import Scale

# Relative cost of a training step: a Mamba step costs about twice a GPT-NeoX step of the same
# width on CPU (more layers, the scan); only the time-left estimate and the scheduling use it.
ARCH_COST = {"mamba": 2.0, "transformer": 1.0}

# Verdicts. A claim is "supported" when the runs show it beyond the seed spread; "contradicted at
# this scale" when runs that learned their task show the opposite, or no effect where the claim
# predicts one; "inconclusive" when they learned but the gap stays inside the seed spread; "could
# not be tested" when too few runs learned their training range (or the study needs what this
# scale does not run).
SUPPORTED = "supported"
CONTRADICTED = "contradicted at this scale"
INCONCLUSIVE = "inconclusive"
UNTESTED = "could not be tested"
MEASURED = "measured"
# A study whose analysis raised (a bug, or a run it needs failed): reported, never fatal.
FAILED = "failed"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNTESTED, MEASURED, FAILED)

Lookup = Callable[[Job], dict]  # job -> its result payload (runner.RESULT_FILE content)


@dataclass(frozen=True)
class Anchor:
    """A paper's own number, quoted beside ours."""

    paper: str  # "Jelassi et al. 2024"
    where: str  # figure or table, or "text" when its number could not be checked
    value: str  # what the paper reports
    scale: str  # the models and data behind it
    source: str  # where we read it


@dataclass
class Section:
    """What a study puts in the report and in results.json."""

    name: str
    title: str
    claim: str  # the paper's claim, in one or two sentences
    verdict: str  # one of VERDICTS
    paragraph: str  # what this run shows, with its numbers
    table: str = ""  # markdown
    figure: str | None = None  # PNG file name, next to report.md
    numbers: dict = field(default_factory=dict)
    anchors: tuple[Anchor, ...] = ()
    scope: str = ""  # one sentence: what scale this result speaks for


def architecture_of(preset: str) -> str:
    return "mamba" if preset.startswith("mamba") else "transformer"


def train_job(
    scale: Scale,
    *,
    model: str,
    task: str,
    seed: int,
    steps: int,
    lengths: tuple[int, int],
    group: str,
    use_cot: bool = True,
    params: dict | None = None,
    overrides: str | None = None,
    learning_rate: float | None = None,
    tokenizer: str = "char",
    label: str,
) -> Job:
    """A `finetune.py` run from a preset on rows generated on the fly, trained until its
    in-range validation score reaches the scale's gate or `steps` run out.

    The learning rate is the tuned one of `group` ("copy" or "dp") for the model's architecture,
    unless `learning_rate` is given (the tuning runs themselves).
    """
    from hf_copycot.finetune import DataArguments, ModelArguments, TrainingArguments

    args = (
        ModelArguments(
            model_name_or_path=f"preset:{model}", config_overrides=overrides, tokenizer=tokenizer
        ),
        DataArguments(
            dataset_config=task,
            use_cot=use_cot,
            eval_splits="validation",
            max_eval_examples=scale.gate_examples,
            min_length=lengths[0],
            max_length=lengths[1],
            task_params=json.dumps(params, sort_keys=True) if params else None,
        ),
        TrainingArguments(
            output_dir=MODEL_DIR,
            seed=seed,
            max_steps=steps,
            per_device_train_batch_size=scale.batch_size,
            learning_rate=learning_rate or scale.learning_rate(group, model),
            warmup_steps=scale.warmup_steps,
            logging_steps=50,
            eval_steps=scale.eval_every,
            early_stopping_score=scale.gate,
            early_stopping_split="validation",
        ),
    )
    mean_length = sum(lengths) / 2
    cost = steps * scale.batch_size * mean_length * ARCH_COST[architecture_of(model)] / 2e5
    info = {"model": model, "task": task, "seed": seed, "use_cot": use_cot, "lengths": lengths}
    return Job("finetune", label, args, cost=cost, info=info)


# Runs per model (of the scale's seeds) that must learn their training range before a study
# compares what they do beyond it.
MIN_LEARNED = 2


def learned(result: dict, scale: Scale) -> bool:
    """Whether a training run reached the gate on its in-range validation rows."""
    if result.get("stopped_at_gate") is not None:
        return True
    main = result["main_score"]
    return result["results"]["validation"][main] >= scale.gate


def examples_to_gate(result: dict, scale: Scale) -> int | None:
    """Training examples seen when the run reached the gate; None if it never did."""
    step = result.get("stopped_at_gate")
    return None if step is None else step * scale.batch_size


def learned_phrase(count: int, total: int) -> str:
    """The report's fixed wording, so that a reader (or a script) can find it."""
    return f"learned the training range: {count} of {total} runs"


def with_model_overrides(job: Job, overrides: str, **changes) -> Job:
    """`job` (a finetune job) with `--config_overrides`, and other Job fields changed."""
    model_args, *rest = job.args
    return replace(job, args=(replace(model_args, config_overrides=overrides), *rest), **changes)


def evaluate_job(
    scale: Scale,
    trained: Job | None,
    *,
    task: str,
    lengths: tuple[int, int],
    examples: int,
    params: dict | None = None,
    model: str | None = None,
    seed: int = 0,
    label: str,
    info: dict | None = None,
) -> Job:
    """`copycot evaluate` on the model `trained` produced (or on `model`, a Hub id)."""
    from hf_copycot.evaluation import DataArguments, EvaluateArguments, ModelArguments

    use_cot = trained.info.get("use_cot", True) if trained is not None else True
    # A trained model is the `model` folder of its job's run; the runner passes its path.
    name = f"../{trained.key}/{MODEL_DIR}" if trained is not None else model
    args = (
        ModelArguments(model_name_or_path=name),
        DataArguments(
            dataset_config=task,
            use_cot=use_cot,
            eval_splits="test",
            max_eval_examples=examples,
            min_length=lengths[0],
            max_length=lengths[1],
            task_params=json.dumps(params, sort_keys=True) if params else None,
        ),
        EvaluateArguments(seed=seed),
    )
    arch = architecture_of(trained.info["model"] if trained else (model or "").split("/")[-1])
    cost = examples * sum(lengths) * ARCH_COST[arch] / 4e4
    return Job(
        "evaluate",
        label,
        args,
        needs=trained.key if trained else None,
        cost=cost,
        info={**(trained.info if trained else {}), **(info or {})},
    )


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); NaN-free for empty input."""
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt(mean: float, std: float | None = None, percent: bool = True) -> str:
    if math.isnan(mean):
        return "n/a"
    scale, unit = (100, "%") if percent else (1, "")
    text = f"{mean * scale:.1f}{unit}" if percent else f"{mean:.3g}"
    if std:
        text += f" ± {std * scale:.1f}" if percent else f" ± {std:.2g}"
    return text


def separated(higher: Sequence[float], lower: Sequence[float]) -> bool | None:
    """Whether `higher` beats `lower` by more than the seed spread (mean gap > sum of stds);
    None when either side has a single seed (no spread to compare with)."""
    (mh, sh), (ml, sl) = mean_std(higher), mean_std(lower)
    if len(higher) < 2 or len(lower) < 2:
        return None
    return (mh - ml) > (sh + sl)


def compare(higher: Sequence[float], lower: Sequence[float], names: tuple[str, str]) -> str:
    """One readable phrase for `separated(higher, lower)`: who leads, by how much, and whether the
    lead clears the seed spread (in either direction)."""
    (mh, sh), (ml, sl) = mean_std(higher), mean_std(lower)
    leader, trailer = names if mh >= ml else names[::-1]
    phrase = f"{leader} ahead of {trailer} by {abs(mh - ml) * 100:.1f} points"
    if len(higher) < 2 or len(lower) < 2:
        return phrase + " (one seed: no spread)"
    clears = abs(mh - ml) > sh + sl
    return (
        phrase
        + (" (beyond" if clears else " (within")
        + f" the seed spread of {(sh + sl) * 100:.1f})"
    )


def gap_verdict(higher: Sequence[float], lower: Sequence[float]) -> str:
    """SUPPORTED when `higher` leads `lower` by more than the seed spread (mean gap > sum of
    stds), CONTRADICTED when `lower` leads by that much, INCONCLUSIVE in between (a single seed
    has no spread: any gap decides)."""
    (mh, sh), (ml, sl) = mean_std(higher), mean_std(lower)
    if mh - ml > sh + sl:
        return SUPPORTED
    if ml - mh > sh + sl:
        return CONTRADICTED
    return INCONCLUSIVE


def keeps_up(follower: Sequence[float], leader: Sequence[float]) -> str:
    """SUPPORTED when `follower` is ahead of `leader` or behind by no more than the seed spread,
    else CONTRADICTED."""
    (mf, sf), (ml, sl) = mean_std(follower), mean_std(leader)
    return SUPPORTED if mf >= ml - (sl + sf) else CONTRADICTED


def anchors_markdown(anchors: Sequence[Anchor]) -> str:
    """The papers' own numbers, one bullet each."""
    return "\n".join(
        f"- {a.paper}, {a.where}: {a.value} ({a.scale}; source: {a.source})" for a in anchors
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def by_length_scores(result: dict, score: str) -> dict[int, float]:
    """length -> score from an eval_results payload's `test` split."""
    groups = result["results"]["test"].get("by_length") or {}
    return {int(length): float(values[score]) for length, values in groups.items()}
