"""What runs: the jobs the studies, `--tune_lr`, the Space and `make gpu-check` share, and the
function a worker calls for each.

A job holds the dataclasses `finetune.py` or `copycot evaluate` parse, filled in as a user's flags
would be; the runner caches it by their hash. The runs several studies read (the copy runs, the DP
runs and their test scores) are built here once, so that a study never imports another to reach
them. Reading a run's result payload (did it learn, when, its per-length scores) is here too: it
is the runs' own vocabulary, the same for every reader.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hf_copycot.errors import RunFailed
from hf_copycot.paths import models_dir
from hf_copycot.publishing import atomic_dir, folder_lock
from hf_copycot.reproduce.runner import MODEL_DIR, Job, default_workers, run_jobs
from hf_copycot.reproduce.scales import SCALES, DPTask, Scale

# Relative cost of a training step: a Mamba step costs about twice a GPT-NeoX step of the same
# width on CPU (more layers, the scan); only the time-left estimate and the scheduling use it.
ARCH_COST = {"mamba": 2.0, "transformer": 1.0}
DEFAULT_OUTPUT = Path("outputs/reproduce")
LOCK_FILE = ".copycot-reproduce.lock"  # held while a process writes the output folder
# Added to a run's seed for a continuation: fresh training rows (and its own held-out rows),
# not a second pass over the ones the run it continues trained on.
CONTINUATION_SEED = 10_000

Lookup = Callable[[Job], dict]  # job -> its result payload (runner.RESULT_FILE content)


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


# The runs several readers share.


def copy_run(
    scale: Scale,
    model: str,
    seed: int,
    n_max: int | None = None,
    learning_rate: float | None = None,
) -> Job:
    """A copy training run over the scale's copy lengths up to `n_max` (default the longest):
    copy_length's, examples_to_learn's, inference_cost's and the Space's (`learning_rate`: a rate
    of the grid, for `--tune_lr`; default the tuned one)."""
    low, high = scale.copy_lengths
    high = n_max or high
    return train_job(
        scale,
        model=model,
        task="copy",
        seed=seed,
        steps=scale.copy_budgets[high],
        lengths=(low, high),
        group="copy",
        learning_rate=learning_rate,
        label=f"copy<={high} {model} seed {seed}"
        + (f" lr {learning_rate:g}" if learning_rate else ""),
    )


def sweep_max(run: Job) -> int:
    """Twice the longest length the run trained on."""
    return 2 * run.info["lengths"][1]


def copy_sweep(scale: Scale, run: Job, label: str) -> Job:
    """Copy accuracy of a copy-trained model at every length from the shortest trained to twice
    the longest."""
    low, top = run.info["lengths"][0], sweep_max(run)
    lengths = top - low + 1
    return evaluate_job(
        scale,
        run,
        task="copy",
        lengths=(low, top),
        examples=max(2 * scale.eval_examples, 48 * lengths),  # ~48 rows a length
        seed=1000 + run.info["seed"],
        label=f"length sweep {label}",
    )


def dp_run(
    scale: Scale,
    dp: DPTask,
    model: str,
    seed: int,
    use_cot: bool,
    learning_rate: float | None = None,
) -> Job:
    """A DP training run, with CoT or on the answer alone: dp_cot's and m_locality's."""
    mode = "cot" if use_cot else "direct"
    return train_job(
        scale,
        model=model,
        task=dp.task,
        seed=seed,
        steps=scale.dp_steps,
        lengths=(dp.min_length, dp.max_length),
        group="dp",
        use_cot=use_cot,
        params=dp.params,
        learning_rate=learning_rate,
        tokenizer=dp.tokenizer,
        label=f"{dp.task} {mode} {model} seed {seed}"
        + (f" lr {learning_rate:g}" if learning_rate else ""),
    )


def dp_test(scale: Scale, dp: DPTask, run: Job) -> Job:
    """In-range test accuracy of a trained DP model, on the test rows its training held out
    (same seed, lengths and parameters: the training stream never produced one of them)."""
    return evaluate_job(
        scale,
        run,
        task=dp.task,
        lengths=(dp.min_length, dp.max_length),
        examples=scale.dp_test_examples,
        params=dp.params,
        seed=run.info["seed"],
        label=f"test {run.label}",
    )


@dataclass
class CostArguments:
    """What one inference-cost measurement reads and generates."""

    contexts: list[int] = field(default_factory=list, metadata={"help": "Prompt lengths (tokens)."})
    new_tokens: int = field(default=32, metadata={"help": "Tokens generated per measurement."})


def cost_job(scale: Scale, model: str) -> Job:
    """Per-token time and cache bytes of the copy-trained `model` (seed 0) at each context."""
    run = copy_run(scale, model, 0)
    return Job(
        "inference_cost",
        f"inference cost {model}",
        (CostArguments(list(scale.cost_contexts), scale.cost_new_tokens),),
        needs=run.key,
        cost=sum(scale.cost_contexts) / 2000,
        info={"model": model},
    )


# Reading a run's result payload.


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


def by_length_scores(result: dict, score: str) -> dict[int, float]:
    """length -> score from an eval_results payload's `test` split."""
    groups = result["results"]["test"].get("by_length") or {}
    return {int(length): float(values[score]) for length, values in groups.items()}


def result_of(record: dict) -> dict:
    """A run record's result, or RunFailed naming the run and its error."""
    if record.get("failed"):
        raise RunFailed(f"run {record['label']!r} failed: {record['failed']}")
    return record["result"]


# What a worker runs.


def execute(job: Job, job_dir: Path, model_dir: Path | None) -> dict:
    """One job, in a worker process: the function behind the command a user would run, called
    with the job's own arguments; returns its result. Output goes under `job_dir`."""
    if job.kind == "finetune":
        from hf_copycot import finetune

        model_args, data_args, training = job.args
        if model_dir is not None:  # a continuation of the model another job of the plan trained
            model_args = replace(model_args, model_name_or_path=str(model_dir))
        out = job_dir / training.output_dir
        training = replace(training, output_dir=str(out), report_to="none")
        result = finetune.run(model_args, data_args, training)
        return {**result.eval_results, "architecture": result.architecture}
    if job.kind == "evaluate":
        from hf_copycot import evaluation

        model_args, data_args, eval_args = job.args
        if model_dir is not None:  # the model another job of the plan trained
            model_args = replace(model_args, model_name_or_path=str(model_dir))
        return evaluation.run_evaluate(model_args, data_args, eval_args)
    if job.kind == "inference_cost":
        (arguments,) = job.args
        return measure_inference_cost(arguments, model_dir)
    raise ValueError(f"unknown job kind {job.kind!r}")


def measure_inference_cost(args: CostArguments, model_dir: Path) -> dict:
    """Greedy generation after random prompts of each length, timed on the real cache objects."""
    import torch

    from hf_copycot.inference_cost import measure_generation
    from hf_copycot.models import load_model_and_tokenizer, scan_path

    model, tokenizer = load_model_and_tokenizer(str(model_dir))
    model.eval()
    generator = torch.Generator().manual_seed(0)
    letters = tokenizer.convert_tokens_to_ids(list("abcdefghijklmnopqrstuvwxyz"))
    out = {}
    for context in args.contexts:
        picks = torch.randint(len(letters), (1, context), generator=generator)
        input_ids = torch.tensor(letters)[picks]
        measure_generation(model, input_ids[:, :8], max_new_tokens=2)  # warm-up
        cost = measure_generation(model, input_ids, max_new_tokens=args.new_tokens)
        out[str(context)] = {
            "first_token_seconds": cost.first_token_seconds,
            "seconds_per_token": 1 / cost.tokens_per_second if cost.tokens_per_second else None,
            "kv_bytes": cost.memory.kv_bytes,
            "state_bytes": cost.memory.state_bytes,
            "cache_bytes": cost.memory.total_bytes,
            "threads": torch.get_num_threads(),
        }
    return {"contexts": out, "mamba_scan": scan_path(model)}


# The copy pair the Space serves.


def output_lock(output_dir: Path):
    """One writer per output folder: a second `copycot reproduce` (or the Space training the copy
    pair) into it is refused in one line instead of racing over the same run folders."""
    return folder_lock(Path(output_dir) / LOCK_FILE, f"output folder {output_dir}")


def publish_models(scale: Scale, runs_dir: Path, target: Path) -> list[Path]:
    """Copy the copy-trained pair (seed 0) to where the Space looks, whole or not at all."""
    published = []
    for model in (scale.mamba, scale.transformer):
        source = runs_dir / copy_run(scale, model, 0).key / MODEL_DIR
        if not source.exists():
            continue
        final = target / f"{model}-copy"
        with atomic_dir(final) as staging:
            shutil.copytree(
                source,
                staging,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("checkpoints", "logs"),
            )
        published.append(final)
    return published


def train_copy_pair(
    scale_name: str = "cpu", output_dir: Path = DEFAULT_OUTPUT, target: Path | None = None
) -> list[Path]:
    """Train (or reuse from the run cache) the copy pair `make demo` publishes for the Space,
    seed 0 of the scale's copy study, with a progress bar; returns the published folders."""
    scale = SCALES[scale_name]
    jobs = [copy_run(scale, model, 0) for model in (scale.mamba, scale.transformer)]
    runs_dir = output_dir / "runs"
    with output_lock(output_dir):
        results = run_jobs(
            jobs, runs_dir, workers=min(2, default_workers()), threads=1, execute=execute
        )
        for record in results.values():
            result_of(record)  # raises for a failed run
        return publish_models(scale, runs_dir, target or models_dir())
