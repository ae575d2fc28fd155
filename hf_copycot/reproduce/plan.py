"""Building blocks the studies share: job builders (the dataclasses `finetune.py` and `copycot
evaluate` parse, filled in as a user's flags would), the learned-run rules and the report section
a study returns. The statistics and verdict rules are in `statistics`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from hf_copycot.reproduce.runner import MODEL_DIR, Job
from hf_copycot.reproduce.scales import Scale
from hf_copycot.reproduce.statistics import (
    CONTRADICTED,
    FAILED,
    INCONCLUSIVE,
    MEASURED,
    SUPPORTED,
    UNTESTED,
    VERDICTS,
    bootstrap_gap,
    combine,
    compare,
    gap_verdict,
    keeps_up,
    mean_std,
)

# Relative cost of a training step: a Mamba step costs about twice a GPT-NeoX step of the same
# width on CPU (more layers, the scan); only the time-left estimate and the scheduling use it.
ARCH_COST = {"mamba": 2.0, "transformer": 1.0}

# The verdict words and the statistics behind them live in `statistics` (what the runs mean);
# they are re-exported here for the studies.
__all__ = [
    "CONTRADICTED",
    "FAILED",
    "INCONCLUSIVE",
    "MEASURED",
    "SUPPORTED",
    "UNTESTED",
    "VERDICTS",
    "bootstrap_gap",
    "combine",
    "compare",
    "gap_verdict",
    "keeps_up",
    "mean_std",
]

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
    tested: str = ""  # which clauses of the claim the verdict covers, where not all of them


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


# Added to a run's seed for a continuation: fresh training rows (and its own held-out rows),
# not a second pass over the ones the run it continues trained on.
CONTINUATION_SEED = 10_000


def continued_job(parent: Job, steps: int, label: str) -> Job:
    """`parent`'s model (a finetune job) trained `steps` more updates on fresh rows, with a new
    warmup and cosine: "twice the training" for the price of the second half."""
    model_args, data_args, training = parent.args
    args = (
        replace(
            model_args, model_name_or_path=f"../{parent.key}/{MODEL_DIR}", config_overrides=None
        ),
        data_args,
        replace(training, max_steps=steps, seed=training.seed + CONTINUATION_SEED),
    )
    cost = parent.cost * steps / training.max_steps
    return Job("finetune", label, args, needs=parent.key, cost=cost, info=parent.info)


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


def fmt(mean: float, std: float | None = None, percent: bool = True) -> str:
    if math.isnan(mean):
        return "n/a"
    scale, unit = (100, "%") if percent else (1, "")
    text = f"{mean * scale:.1f}{unit}" if percent else f"{mean:.3g}"
    if std:
        text += f" ± {std * scale:.1f}" if percent else f" ± {std:.2g}"
    return text


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
