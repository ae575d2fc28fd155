"""Fine-tune a Mamba or a Pythia (pretrained, or from scratch) on a copy-cot task with Accelerate.

    accelerate launch hf_copycot/finetune.py --model_name_or_path preset:mamba-tiny \\
        --dataset_config copy --max_steps 300 --output_dir outputs/models/mamba-tiny-copy

The same command runs on a CPU, one GPU, several GPUs (DDP or FSDP) and several machines: pick one
with `accelerate launch --config_file configs/accelerate/<...>.yaml`, which also sets the precision.
Arguments may come from a YAML or JSON file (`finetune.py run.yaml [--more flags]`).

The script reads top to bottom, one named step each: arguments, the accelerator, data, batches,
optimizer and schedule, checkpoints (resume), evaluation, the loop (gradient accumulation with the
loss normalised by the target tokens of the whole global batch), saving; `train` strings them
together. `run` is the same from Python: the dataclasses in, the results out.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # `accelerate launch hf_copycot/finetune.py` puts hf_copycot/ itself first on sys.path, where
    # our module names (data, models, ...) would shadow other packages: use the repository root.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import contextlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, broadcast_object_list, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import HfArgumentParser, get_scheduler

from hf_copycot import data, evaluation, flags, publishing, tasks
from hf_copycot.collation import (
    IGNORE_INDEX,
    LengthGroupedEpochSampler,
    completion_collator,
    completions_of,
    targets_of,
    tokenize_completions,
)
from hf_copycot.data import GeneratedTaskDataset, check_task, generate_rows, load_rows
from hf_copycot.distributed import make_accelerator
from hf_copycot.errors import ArgumentError, CopycotError, CorruptFileError, DataError, PublishError
from hf_copycot.models import (
    PRESET_PREFIX,
    ModelArguments,
    check_model_name,
    check_tokenizer,
    load_from_args,
    scan_path,
)
from hf_copycot.overlap import eval_prompts_in_train
from hf_copycot.tokenizer import build_tokenizer, uncovered_characters, untokenizable

logger = get_logger(__name__)


# ---------------------------------------------------------------------------------------------
# Arguments: ModelArguments (hf_copycot.models) and the data flags (hf_copycot.data) are the ones
# `copycot evaluate` parses too.


@dataclass
class DataArguments(data.DataArguments):
    train_split: str = field(default="train", metadata={"help": "The split trained on."})
    max_train_examples: int | None = field(
        default=None, metadata={"help": "Use only this many training rows of the dataset."}
    )


@dataclass
class TrainingArguments:
    output_dir: str = field(metadata={"help": "Where the model, eval_results.json, card go."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Train into an output_dir that holds a trained model."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds weights, data order and generated rows."})
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Training rows per process per micro-batch."}
    )
    per_device_eval_batch_size: int = field(
        default=64, metadata={"help": "Prompts per generate() call when evaluating."}
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Micro-batches summed into one update."}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(
        default=0.1, metadata={"help": "AdamW weight decay (not on biases and norms)."}
    )
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Clip the global gradient norm to this."}
    )
    lr_scheduler_type: str = field(
        default="cosine", metadata={"help": "A transformers schedule: cosine, linear, constant..."}
    )
    warmup_steps: int = field(default=0, metadata={"help": "Updates of linear warm-up."})
    max_steps: int | None = field(
        default=None, metadata={"help": "Optimizer updates (required for generated data)."}
    )
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "Dataset runs, if no max_steps."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log the loss every N updates."})
    eval_steps: int | None = field(default=None, metadata={"help": "Evaluate every N updates."})
    early_stopping_score: float | None = field(
        default=None,
        metadata={
            "help": "Stop at the first evaluation (every --eval_steps) where the task's main "
            "score on --early_stopping_split reaches this: train to a gate or --max_steps, "
            "whichever comes first."
        },
    )
    early_stopping_split: str = field(
        default="validation", metadata={"help": "The split the gate reads (one of --eval_splits)."}
    )
    checkpointing_steps: int | None = field(default=None, metadata={"help": "Save state every N."})
    save_total_limit: int | None = field(
        default=None,
        metadata={
            "help": "Keep only the newest N checkpoints in output_dir/checkpoints, deleting older "
            "ones as new ones are saved (as transformers' Trainer); default: keep all."
        },
    )
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' in output_dir."}
    )
    report_to: str = field(
        default="none", metadata={"help": "tensorboard, trackio, wandb, all or none."}
    )
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "Upload output_dir to the Hub repo --hub_model_id when done."},
    )
    hub_model_id: str | None = field(default=None, metadata={"help": "user/name on the Hub."})
    hub_private_repo: bool = field(
        default=False, metadata={"help": "Create the Hub model repo private."}
    )


ARGUMENT_TYPES = (ModelArguments, DataArguments, TrainingArguments)


@dataclass
class FinetuneResult:
    """What a run returns to its caller (and writes to `output_dir`)."""

    eval_results: dict  # the eval_results.json payload, with its history
    architecture: dict  # config.copycot: the numbers the theory compares
    output_dir: Path


def parse_args(argv: list[str] | None = None):
    """Flags, or a YAML/JSON run file of them followed by flags that override it."""
    parser = HfArgumentParser(ARGUMENT_TYPES, prog="finetune", allow_abbrev=False)
    try:
        return flags.parse_dataclasses(parser, list(sys.argv[1:] if argv is None else argv))
    except flags.FlagError as err:
        raise ArgumentError(str(err)) from None


# --report_to names accelerate knows, with accelerate's own check that the package is installed
# and the extra of hf-copycot that installs it.
TRACKERS = {
    "tensorboard": ("is_tensorboard_available", "tensorboard", "tensorboard"),
    "trackio": ("is_trackio_available", "trackio", "hf-copycot[trackio]"),
    "wandb": ("is_wandb_available", "wandb", "hf-copycot[wandb]"),
}


def check_report_to(report_to: str) -> None:
    """Each tracker of --report_to is known and installed; accelerate alone would warn and train
    on untracked."""
    import accelerate.utils

    if report_to in ("none", "all"):
        return
    for name in report_to.split(","):
        if name not in TRACKERS:
            known = ", ".join([*TRACKERS, "all", "none"])
            raise ArgumentError(f"--report_to {name} is not a tracker; choose from {known}")
        available, package, extra = TRACKERS[name]
        if not getattr(accelerate.utils, available)():
            raise ArgumentError(
                f"--report_to {name} needs the {package} package, which is not installed: "
                f"pip install {extra}"
            )


def check_args(model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments):
    """Everything that can be checked without loading anything, so bad runs stop at once."""
    check_report_to(args.report_to)
    if args.save_total_limit is not None and args.save_total_limit < 1:
        raise ArgumentError("--save_total_limit must be at least 1 (or left out to keep all)")
    check_model_name(model_args.model_name_or_path)
    check_tokenizer(model_args.model_name_or_path, model_args.tokenizer)
    check_task(data_args.dataset_config)
    data.check_lengths(data_args)
    if data_args.dataset_name is None and args.max_steps is None:
        raise ArgumentError("on-the-fly data needs --max_steps (or pass --dataset_name)")
    if args.push_to_hub and not args.hub_model_id:
        raise ArgumentError("--push_to_hub needs --hub_model_id user/name")
    output_dir = Path(args.output_dir)
    if (
        publishing.holds_trained_model(output_dir)
        and not args.overwrite_output_dir
        and not args.resume_from_checkpoint
    ):
        raise ArgumentError(
            f"{output_dir} already holds a trained model; pass --overwrite_output_dir true or "
            "choose another --output_dir"
        )
    for flag in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        if getattr(args, flag) < 1:
            raise ArgumentError(f"--{flag} must be at least 1")
    if args.early_stopping_score is not None:
        if not args.eval_steps:
            raise ArgumentError("--early_stopping_score needs --eval_steps (when to check it)")
        if args.early_stopping_split not in data_args.splits():
            raise ArgumentError(
                f"--early_stopping_split {args.early_stopping_split} is not evaluated; add it to "
                f"--eval_splits (now {data_args.eval_splits})"
            )


# ---------------------------------------------------------------------------------------------
# The loss


def completion_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over target tokens (labels != -100), in float32."""
    return F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(),
        labels[:, 1:].flatten(),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def count_targets(batch: dict) -> torch.Tensor:
    return (batch["labels"][:, 1:] != IGNORE_INDEX).sum()


def backward_on_global_batch(
    accelerator: Accelerator, model: torch.nn.Module, micro_batches: list[dict]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate the gradient of the mean loss per target token over the global batch.

    The global batch is this process's micro-batches plus every other process's: the loss sum is
    divided by the target tokens of all of them (so a short answer counts as much per token as a
    long one, whatever micro-batch or process it lands in), and multiplied by the number of
    processes because DDP averages gradients over processes. Gradients are synchronised on the
    last micro-batch only. Returns (this process's loss sum, global target count).
    """
    num_targets = accelerator.gather(sum(count_targets(b) for b in micro_batches)).sum()
    loss_sum = torch.zeros((), device=accelerator.device)
    for i, batch in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            batch_loss = completion_loss_sum(logits, batch["labels"])
            accelerator.backward(batch_loss * accelerator.num_processes / num_targets)
        loss_sum += batch_loss.detach()
    return loss_sum, num_targets


# ---------------------------------------------------------------------------------------------
# The accelerator


def setup_accelerator(args: TrainingArguments) -> Accelerator:
    """The Accelerator (trackers log under output_dir/logs), logging, and the seed."""
    output_dir = Path(args.output_dir)
    report_to = None if args.report_to == "none" else args.report_to.split(",")
    accelerator = make_accelerator(
        log_with=report_to,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=str(output_dir / "logs")
        ),
    )
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    logger.info(accelerator.state, main_process_only=False)
    set_seed(args.seed)
    return accelerator


# ---------------------------------------------------------------------------------------------
# Data: validate everything (dataset, config, splits, columns) before building a model.


@dataclass
class TaskData:
    task: str
    params: dict  # generator parameters (--task_params)
    lengths: tuple[int, int]  # of generated training rows
    train_rows: object | None  # a dataset's train split (datasets.Dataset), or None: generated
    eval_rows: dict[str, dict[str, list]]  # split -> columns
    held_out: dict[str, list[str]] = field(default_factory=dict)  # prompts training must avoid


def load_data(data_args: DataArguments, args: TrainingArguments) -> TaskData:
    task = check_task(data_args.dataset_config)
    train_rows = None
    if data_args.dataset_name:
        train_rows = load_rows(
            data_args.dataset_name,
            task,
            data_args.train_split,
            revision=data_args.dataset_revision,
        )
        if data_args.max_train_examples is not None:
            train_rows = train_rows.select(
                range(min(data_args.max_train_examples, len(train_rows)))
            )
    eval_rows = {
        split: data.eval_rows(data_args, task, split, seed=args.seed)
        for split in data_args.splits()
    }
    return TaskData(
        task=task,
        params=data.parse_task_params(data_args.task_params),
        lengths=data.split_lengths(data_args, task, "train"),
        train_rows=train_rows,
        eval_rows=eval_rows,
        held_out=held_out_prompts(data_args, task, eval_rows, args.seed),
    )


HELD_OUT_ROWS = 2000  # test rows training avoids: any evaluation of up to this many is clean


def held_out_prompts(
    data_args: DataArguments, task: str, eval_rows: dict[str, dict], seed: int
) -> dict[str, list[str]]:
    """Problems generated training rows must not repeat: the evaluated splits', and the first
    HELD_OUT_ROWS of test and test_long as `copycot evaluate` draws them from the same seed,
    lengths and parameters (generation is prefix-stable, so any evaluation of up to that many
    rows is among them) even when not evaluated here (unless the task parameters cannot make that
    split at all, e.g. values too few for its lengths: then it has no problems to avoid)."""
    held_out = {split: tasks.problem_keys(task, rows) for split, rows in eval_rows.items()}
    if data_args.dataset_name:
        return held_out
    wide = replace(
        data_args, max_eval_examples=max(data_args.max_eval_examples or 0, HELD_OUT_ROWS)
    )
    for split in ("test", "test_long"):
        try:
            rows = data.eval_rows(wide, task, split, seed=seed)
        except DataError:
            continue
        held_out[split] = tasks.problem_keys(task, rows)
    return held_out


def check_characters(
    task_data: TaskData, use_cot: bool, seed: int, tokenizer: str = "char"
) -> None:
    """The presets' tokenizers have no <unk>: find text they cannot encode (or, for the word
    tokenizer, write back as it is) now."""
    if task_data.train_rows is not None:
        sample = task_data.train_rows.select(range(min(1000, len(task_data.train_rows)))).to_dict()
    else:
        low, high = task_data.lengths
        sample = generate_rows(
            task_data.task, 256, seed=seed, split="train", min_length=low, max_length=high,
            params=task_data.params,
        )  # fmt: skip
    texts = [*sample["prompt"], *targets_of(sample, use_cot)]
    texts += [text for rows in task_data.eval_rows.values() for text in rows["prompt"]]
    missing = uncovered_characters(texts)
    if missing:
        raise DataError(
            f"the data has characters outside the character tokenizer: {sorted(missing)!r}; "
            "see docs/FORMATS.md for the character set"
        )
    if tokenizer == "word":
        unreadable = untokenizable(build_tokenizer("word"), texts)
        if unreadable:
            raise DataError(
                f"the word tokenizer cannot write {unreadable[0][:60]!r} back as it is (it has "
                "numbers 0-999 and spaces only between numbers); use --tokenizer char"
            )


# ---------------------------------------------------------------------------------------------
# Batches: length-grouped batches of a dataset, or fresh generated rows every step.


def train_dataloader(
    task_data: TaskData, tokenizer, use_cot: bool, args: TrainingArguments, num_processes: int
) -> DataLoader:
    def featurize(rows: dict[str, list]) -> list[dict]:
        encoded = tokenize_completions(
            tokenizer, list(rows["prompt"]), completions_of(rows, use_cot)
        )
        return [
            {"input_ids": ids, "labels": labels}
            for ids, labels in zip(encoded["input_ids"], encoded["labels"], strict=True)
        ]

    batch_size = args.per_device_train_batch_size
    if task_data.train_rows is not None:
        features = featurize(task_data.train_rows.to_dict())
        lengths = [len(f["input_ids"]) for f in features]
        return DataLoader(
            features,
            batch_size=batch_size,
            sampler=LengthGroupedEpochSampler(lengths, batch_size, args.seed),
            collate_fn=completion_collator(tokenizer),
        )
    low, high = task_data.lengths
    num_rows = args.max_steps * args.gradient_accumulation_steps * batch_size * num_processes
    dataset = GeneratedTaskDataset(
        task_data.task, num_rows, seed=args.seed, min_length=low, max_length=high,
        featurize=featurize, batch_size=batch_size, params=task_data.params,
        exclude=task_data.held_out,
    )  # fmt: skip
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, collate_fn=completion_collator(tokenizer)
    )


def train_test_overlap(task_data: TaskData, loader: DataLoader, args: DataArguments) -> dict:
    """Evaluation rows whose prompt is also a training prompt, per split (0 by construction),
    counted over the dataset's train split or every chunk of the generated stream."""
    if task_data.train_rows is None:
        return loader.dataset.overlap_report()
    source = f"{args.dataset_name} split {args.train_split}"
    return {
        "train": f"{source} ({len(task_data.train_rows):,} rows)",
        "eval_prompts_in_train": eval_prompts_in_train(
            tasks.problem_keys(task_data.task, task_data.train_rows[:]), task_data.held_out
        ),
    }


# ---------------------------------------------------------------------------------------------
# Optimizer and schedule


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices only: not on biases and norms (as run_clm_no_trainer), nor
    on Mamba's A_log (decaying it would pull every state's decay rate to the same value; mamba-ssm
    exempts it too)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        exempt = param.ndim < 2 or "norm" in name.lower() or name.endswith("A_log")
        (no_decay if exempt else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def optimizer_options(params: list[torch.Tensor]) -> dict:
    """AdamW's fused kernel where torch has one for every parameter's device (CPU, CUDA): one
    pass over all tensors instead of a loop over them, a millisecond of the tiny presets' 20-40 ms
    steps on a CPU. Elsewhere (MPS, XLA) torch's default.

    The fused kernel writes parameters without bumping their version counters; the fused Mamba
    decoding step therefore drops its packed weights at every training forward (mamba_scan)."""
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
    return {"fused": True} if fused else {}


def make_optimizer(model: torch.nn.Module, args: TrainingArguments) -> torch.optim.Optimizer:
    groups = parameter_groups(model, args.weight_decay)
    params = [param for group in groups for param in group["params"]]
    return torch.optim.AdamW(
        groups, lr=args.learning_rate, betas=(0.9, 0.95), **optimizer_options(params)
    )


def schedule_length(args: TrainingArguments, num_batches: int) -> tuple[int, int]:
    """(updates per epoch, total updates). Micro-batches left over at the end of an epoch (fewer
    than gradient_accumulation_steps) are dropped."""
    updates_per_epoch = num_batches // args.gradient_accumulation_steps
    if updates_per_epoch == 0:
        raise ArgumentError(
            f"the training data gives {num_batches} batches per process, fewer than "
            f"--gradient_accumulation_steps {args.gradient_accumulation_steps}; use more rows or "
            "smaller batches"
        )
    return updates_per_epoch, args.max_steps or math.ceil(args.num_train_epochs * updates_per_epoch)


def make_scheduler(optimizer, args: TrainingArguments, max_steps: int, num_processes: int):
    """A prepared scheduler steps once per process per update, hence the factors."""
    return get_scheduler(
        args.lr_scheduler_type,
        optimizer=optimizer,
        num_warmup_steps=args.warmup_steps * num_processes,
        num_training_steps=max_steps * num_processes,
    )


# ---------------------------------------------------------------------------------------------
# Checkpoints: save_state / load_state; a resumed run skips the batches it has seen.


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    found = (output_dir / "checkpoints").glob("step_*")
    return sorted((p for p in found if p.is_dir()), key=lambda p: int(p.name.split("_")[1]))


def rotate_checkpoints(
    output_dir: Path, save_total_limit: int | None, keep: Path | None = None
) -> list[Path]:
    """Delete all but `save_total_limit` checkpoints: `keep` (the one just saved, even when a
    resumed run saves below an older run's newest) and the newest others by update; returns the
    deleted."""
    if save_total_limit is None:
        return []
    others = [p for p in checkpoint_dirs(output_dir) if p != keep]
    kept = save_total_limit - (keep is not None)
    old = others[: max(0, len(others) - kept)]
    for folder in old:
        shutil.rmtree(folder)
    return old


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: Path,
    step: int,
    history: list[dict] | None = None,
    save_total_limit: int | None = None,
) -> None:
    """save_state (every process writes its part) into a staging folder, renamed when complete;
    trainer_state.json, written last, marks a finished checkpoint and keeps the evaluation
    `history` so far (a resumed run's eval_results.json then equals an uninterrupted run's).
    Then the oldest beyond `save_total_limit` go (never the one just written)."""
    final = output_dir / "checkpoints" / f"step_{step}"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        publishing.remove_stale_staging(final)  # as atomic_dir does: a crashed writer's leftovers
    staging = [str(publishing.staging_dir(final))] if accelerator.is_main_process else [None]
    staging = Path(broadcast_object_list(staging)[0])
    try:
        accelerator.save_state(str(staging))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            # The digests let a resume tell a damaged checkpoint from a good one.
            files = publishing.file_digests(staging)
            state = {"global_step": step, "history": history or [], "files": files}
            publishing.write_json(staging / "trainer_state.json", state)
            publishing.swap_in(staging, final)
            rotate_checkpoints(output_dir, save_total_limit, keep=final)
    except BaseException as error:  # a full disk, Ctrl-C: no half checkpoint stays behind
        full = publishing.is_disk_full(error, final.parent)
        shutil.rmtree(staging, ignore_errors=True)
        if full:
            raise publishing.disk_full_error(final) from None
        raise
    accelerator.wait_for_everyone()


def resume(accelerator: Accelerator, args: TrainingArguments) -> tuple[int, list[dict]]:
    """Weights, optimizer, schedule and RNG from --resume_from_checkpoint; returns its update and
    the evaluation history up to it."""
    if not args.resume_from_checkpoint:
        return 0, []
    checkpoint = Path(args.resume_from_checkpoint)
    if args.resume_from_checkpoint == "latest":
        found = checkpoint_dirs(Path(args.output_dir))
        if not found:
            raise ArgumentError(
                f"no checkpoint in {Path(args.output_dir) / 'checkpoints'} to resume from"
            )
        checkpoint = found[-1]
    if not (checkpoint / "trainer_state.json").exists():
        raise ArgumentError(f"{checkpoint} is not a finished checkpoint (no trainer_state.json)")
    fix = f"delete {checkpoint} and resume from an earlier checkpoint (or start afresh)"
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text("utf-8"))
        global_step, history = int(state["global_step"]), list(state.get("history", []))
    except (OSError, ValueError, KeyError, TypeError):
        raise CorruptFileError(f"{checkpoint / 'trainer_state.json'} is damaged; {fix}") from None
    if "files" in state:  # checkpoints saved before the digests existed load as they are
        publishing.check_digests(checkpoint, state["files"], fix)
    try:
        accelerator.load_state(str(checkpoint))
    except Exception as error:  # torch / safetensors say it in their own words
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise CorruptFileError(f"{checkpoint} cannot be loaded ({reason}); {fix}") from None
    logger.info("resumed from %s at update %d", checkpoint, global_step)
    return global_step, history


# ---------------------------------------------------------------------------------------------
# The run: what the steps above build, and what the loop, evaluation and saving share.


@dataclass
class Run:
    accelerator: Accelerator
    model: torch.nn.Module
    tokenizer: object
    optimizer: torch.optim.Optimizer
    lr_scheduler: object
    train_dataloader: DataLoader
    eval_loaders: dict[str, DataLoader]
    task_data: TaskData
    updates_per_epoch: int
    max_steps: int
    scan: str | None  # the Mamba scan path where the model runs
    history: list[dict] = field(default_factory=list)
    last_eval: dict | None = None  # the latest evaluation's payload
    overlap: dict | None = None  # train_test_overlap of eval_results.json


def prepare_run(model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments):
    """Accelerator, data, model, batches, optimizer and schedule, all passed through
    `accelerator.prepare`; returns (Run, architecture numbers, hyperparameters)."""
    accelerator = setup_accelerator(args)
    task_data = load_data(data_args, args)
    if model_args.model_name_or_path.startswith(PRESET_PREFIX):
        check_characters(task_data, data_args.use_cot, args.seed, model_args.tokenizer)
    model, tokenizer = load_from_args(model_args)
    architecture = model.config.copycot
    loader = train_dataloader(
        task_data, tokenizer, data_args.use_cot, args, accelerator.num_processes
    )
    overlap = train_test_overlap(task_data, loader, data_args)
    optimizer = make_optimizer(model, args)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    scan = scan_path(accelerator.unwrap_model(model))
    logger.info(
        "model %s: %s, %s parameters, Mamba scan path: %s",
        model_args.model_name_or_path,
        architecture["architecture"],
        f"{architecture['num_parameters']:,}",
        scan or "n/a (not a Mamba)",
    )
    updates_per_epoch, max_steps = schedule_length(args, len(loader))
    lr_scheduler = accelerator.prepare(
        make_scheduler(optimizer, args, max_steps, accelerator.num_processes)
    )
    eval_loaders = {
        split: accelerator.prepare(
            evaluation.eval_dataloader(rows, tokenizer, args.per_device_eval_batch_size)
        )
        for split, rows in task_data.eval_rows.items()
    }
    run = Run(accelerator, model, tokenizer, optimizer, lr_scheduler, loader, eval_loaders,
              task_data, updates_per_epoch, max_steps, scan, overlap=overlap)  # fmt: skip
    return run, architecture, hyperparameters_of(run, model_args, data_args, args)


def hyperparameters_of(
    run: Run, model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments
) -> dict:
    """What the model card and the trackers record."""
    world_batch = args.per_device_train_batch_size * run.accelerator.num_processes
    return {
        "model_name_or_path": model_args.model_name_or_path,
        "dataset": data_args.dataset_name or "generated",
        "dataset_config": run.task_data.task,
        "use_cot": data_args.use_cot,
        "seed": args.seed,
        "max_steps": run.max_steps,
        "global_batch_size": world_batch * args.gradient_accumulation_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_processes": run.accelerator.num_processes,
        "mixed_precision": run.accelerator.mixed_precision,
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": args.lr_scheduler_type,
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "mamba_scan": run.scan,
    }


# ---------------------------------------------------------------------------------------------
# Evaluation: greedy generation on every eval split, sharded over processes, gathered, scored.


def evaluate(run: Run, model_args: ModelArguments, data_args: DataArguments, step: int) -> dict:
    """The eval_results payload at `step`; logged, and appended to the run's history."""
    started = time.perf_counter()
    results = {}
    for split, loader in run.eval_loaders.items():
        results[split], _ = evaluation.evaluate_split(
            run.accelerator,
            run.model,
            run.tokenizer,
            loader,
            run.task_data.eval_rows[split],
            task=run.task_data.task,
            use_cot=data_args.use_cot,
        )
    payload = evaluation.eval_results_payload(
        model=model_args.model_name_or_path,
        dataset=data_args.dataset_name,
        task=run.task_data.task,
        use_cot=data_args.use_cot,
        results=results,
        step=step,
        mamba_scan=run.scan,
        seconds=time.perf_counter() - started,
        overlap=run.overlap,
    )
    scalars = evaluation.flat_scores(results)
    run.history.append({"step": step, **scalars})
    run.last_eval = payload
    run.accelerator.log({f"eval/{k}": v for k, v in scalars.items()}, step=step)
    main = payload["main_score"]
    logger.info(
        "step %d eval: %s",
        step,
        ", ".join(f"{split} {main} {s[main]:.3f}" for split, s in results.items()),
    )
    return payload


# ---------------------------------------------------------------------------------------------
# The loop: one optimizer update per `gradient_accumulation_steps` micro-batches.


def update(run: Run, batches, args: TrainingArguments) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer update; returns (this process's loss sum, global target count)."""
    micro_batches = [next(batches) for _ in range(args.gradient_accumulation_steps)]
    loss_sum, num_targets = backward_on_global_batch(run.accelerator, run.model, micro_batches)
    if args.max_grad_norm:
        run.accelerator.clip_grad_norm_(run.model.parameters(), args.max_grad_norm)
    run.optimizer.step()
    run.lr_scheduler.step()
    run.optimizer.zero_grad()
    return loss_sum, num_targets


def epoch_batches(run: Run, epoch: int, done_in_epoch: int, args: TrainingArguments):
    """The epoch's batches, less those of the updates already done in it (after a resume)."""
    run.train_dataloader.set_epoch(epoch)
    loader = run.train_dataloader
    if done_in_epoch:
        loader = run.accelerator.skip_first_batches(
            run.train_dataloader, done_in_epoch * args.gradient_accumulation_steps
        )
    return iter(loader)


def train_loop(
    run: Run, model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments,
    global_step: int,
) -> tuple[int, bool]:  # fmt: skip
    """Train from update `global_step` to `run.max_steps`, logging, checkpointing and evaluating
    on the way; returns the last update and whether the run stopped there at the gate."""
    accelerator, output_dir = run.accelerator, Path(args.output_dir)
    run.model.train()
    progress = tqdm(total=run.max_steps, initial=global_step, desc="training",
                    disable=not accelerator.is_local_main_process)  # fmt: skip
    epoch = global_step // run.updates_per_epoch
    running_loss, running_targets, started = 0.0, 0, time.perf_counter()
    while global_step < run.max_steps:
        done_in_epoch = global_step - epoch * run.updates_per_epoch
        batches = epoch_batches(run, epoch, done_in_epoch, args)
        for _ in range(done_in_epoch, run.updates_per_epoch):
            step_loss, num_targets = update(run, batches, args)
            global_step += 1
            progress.update(1)
            running_loss += accelerator.reduce(step_loss, "sum").item()
            running_targets += int(num_targets.item())
            if global_step % args.logging_steps == 0 or global_step == run.max_steps:
                loss = running_loss / max(running_targets, 1)
                lr = run.lr_scheduler.get_last_lr()[0]
                accelerator.log({"train/loss": loss, "train/lr": lr}, step=global_step)
                progress.set_postfix(loss=f"{loss:.4f}")
                logger.info("step %d loss %.4f lr %.2e (%.1f target tok/s)", global_step, loss,
                            lr, running_targets / (time.perf_counter() - started))  # fmt: skip
                running_loss, running_targets, started = 0.0, 0, time.perf_counter()
            at_gate = False
            if (
                args.eval_steps
                and global_step % args.eval_steps == 0
                and global_step < run.max_steps
            ):
                evaluate(run, model_args, data_args, global_step)
                run.model.train()
                started = time.perf_counter()  # throughput counts training time only
                at_gate = reached_gate(run, args)
            # After the evaluation: the checkpoint holds its history (and the RNG after it), so a
            # run resumed from here continues exactly as the uninterrupted one did.
            if args.checkpointing_steps and global_step % args.checkpointing_steps == 0:
                save_checkpoint(
                    accelerator, output_dir, global_step, run.history, args.save_total_limit
                )
            if at_gate:
                logger.info("step %d: %s reached the gate, stopping", global_step,
                            args.early_stopping_split)  # fmt: skip
                progress.close()
                return global_step, True
            if global_step >= run.max_steps:
                break
        epoch += 1
    progress.close()
    return global_step, False


def reached_gate(run: Run, args: TrainingArguments) -> bool:
    """Whether the latest evaluation's main score on the gate split reaches the gate (the same
    on every process: the scores are computed from gathered generations)."""
    if args.early_stopping_score is None or run.last_eval is None:
        return False
    main = run.last_eval["main_score"]
    return run.last_eval["results"][args.early_stopping_split][main] >= args.early_stopping_score


# ---------------------------------------------------------------------------------------------
# Saving: the whole output folder at once (staging folder, then swapped in).


def save(
    run: Run, args_by_group: dict, payload: dict, card: publishing.ModelCard, output_dir: Path
) -> None:
    """Weights, tokenizer, eval_results.json, training_args.json and the card, all or nothing;
    checkpoints and tracker logs already in `output_dir` stay."""
    accelerator = run.accelerator
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(run.model)
    if accelerator.is_main_process:
        with publishing.atomic_dir(output_dir, keep_old=True) as staging:
            accelerator.unwrap_model(run.model).save_pretrained(staging, state_dict=state_dict)
            run.tokenizer.save_pretrained(staging)
            publishing.write_json(staging / "eval_results.json", payload)
            publishing.write_json(staging / "training_args.json", args_by_group)
            card.save(staging / "README.md")
        logger.info("saved %s", output_dir)
    accelerator.wait_for_everyone()


# ---------------------------------------------------------------------------------------------
# All of it


def train(
    model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments
) -> FinetuneResult:
    output_dir = Path(args.output_dir)
    run, architecture, hyperparameters = prepare_run(model_args, data_args, args)
    run.accelerator.init_trackers("copycot", config={k: str(v) for k, v in hyperparameters.items()})
    global_step, run.history = resume(run.accelerator, args)
    global_step, stopped = train_loop(run, model_args, data_args, args, global_step)
    # A run stopped at the gate was just evaluated at this step: no second evaluation.
    payload = run.last_eval if stopped else evaluate(run, model_args, data_args, global_step)
    payload["history"] = run.history
    payload["stopped_at_gate"] = global_step if stopped else None
    card = publishing.model_card(
        model_name=args.hub_model_id or output_dir.name,
        base_model=model_args.model_name_or_path,
        dataset=data_args.dataset_name,
        architecture=architecture,
        hyperparameters=hyperparameters,
        eval_payload=payload,
    )
    args_by_group = {
        "model": asdict(model_args),
        "data": asdict(data_args),
        "training": asdict(args),
    }
    save(run, args_by_group, payload, card, output_dir)
    run.accelerator.end_training()  # closes trackers, then the process group
    return FinetuneResult(payload, architecture, output_dir)


def run(
    model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments
) -> FinetuneResult:
    """Check the arguments, then train: what `main` does, for callers holding the dataclasses."""
    check_args(model_args, data_args, args)
    return train(model_args, data_args, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `finetune.py` and `copycot finetune`; one-line errors for bad input."""
    try:
        model_args, data_args, args = parse_args(argv)
        result = run(model_args, data_args, args)
    except CopycotError as err:
        print(f"finetune: error: {err}", file=sys.stderr)
        return 2
    is_main = PartialState().is_main_process
    if args.push_to_hub and is_main:
        try:
            url = publishing.push_folder(
                result.output_dir,
                args.hub_model_id,
                kept=f"the model in {result.output_dir} is intact; upload it later with "
                f"`hf upload {args.hub_model_id} {result.output_dir}`",
                commit_message="Upload model trained with hf-copycot",
                private=args.hub_private_repo,
                ignore_patterns=["checkpoints/*", "logs/*", ".*"],
            )
        except PublishError as err:
            print(f"finetune: error: {err}", file=sys.stderr)
            return 1
        print(f"pushed to {url}")
    main_score = result.eval_results["main_score"]
    summary = ", ".join(
        f"{s} {main_score} {r[main_score]:.4f}" for s, r in result.eval_results["results"].items()
    )
    if is_main:
        print(f"done: {summary}; saved {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
