"""Fine-tune a Mamba or a Pythia (pretrained, or from scratch) on a copy-cot task with Accelerate.

    accelerate launch hf_copycot/finetune.py --model_name_or_path preset:mamba-tiny \\
        --dataset_config copy --max_steps 300 --output_dir outputs/models/mamba-tiny-copy

The same command runs on a CPU, one GPU, several GPUs (DDP or FSDP) and several machines: pick one
with `accelerate launch --config_file configs/accelerate/<...>.yaml`, which also sets the precision.
Arguments may come from a YAML or JSON file (`finetune.py run.yaml [--more flags]`).

The script reads top to bottom: arguments, data, model, optimizer, the loop (gradient accumulation
with the loss normalised by the target tokens of the whole global batch), evaluation, saving.
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
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
import yaml
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import HfArgumentParser, get_scheduler

from hf_copycot import evaluation, publishing
from hf_copycot.collation import (
    IGNORE_INDEX,
    LengthGroupedEpochSampler,
    completion_collator,
    targets_of,
    tokenize_completions,
)
from hf_copycot.data import (
    DataError,
    GeneratedTaskDataset,
    check_task,
    generate_rows,
    length_range,
    load_rows,
    parse_task_params,
)
from hf_copycot.distributed import make_accelerator
from hf_copycot.models import (
    PRESET_PREFIX,
    ModelLoadError,
    check_model_name,
    load_model_and_tokenizer,
    scan_path,
)
from hf_copycot.overlap import eval_prompts_in_train
from hf_copycot.tokenizer import TOKENIZERS, build_tokenizer, uncovered_characters, untokenizable

logger = get_logger(__name__)


# ---------------------------------------------------------------------------------------------
# Arguments


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        metadata={"help": "Hub id (state-spaces/mamba-130m-hf), local folder, or preset:NAME."}
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": "Preset config changes, e.g. 'state_size=64'."}
    )
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision."})
    mamba_scan: str = field(
        default="auto", metadata={"help": "Mamba scan path: auto, cuda, numba, chunked, reference."}
    )
    tokenizer: str = field(
        default="char",
        metadata={"help": "A preset's tokenizer: char, or word (a token per number, as Feng)."},
    )


@dataclass
class DataArguments:
    dataset_config: str | None = field(
        default=None, metadata={"help": "Task: copy, prefix_ngram, suffix_ngram, phonebook, ..."}
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub id or local folder of a copy-cot dataset; omit to generate rows."},
    )
    dataset_revision: str | None = field(default=None)
    use_cot: bool = field(
        default=True, metadata={"help": "Train on cot + answer (true) or answer alone (false)."}
    )
    train_split: str = field(default="train")
    eval_splits: str = field(default="test,test_long", metadata={"help": "Comma-separated."})
    max_train_examples: int | None = field(
        default=None, metadata={"help": "Use only this many training rows of the dataset."}
    )
    max_eval_examples: int | None = field(
        default=200, metadata={"help": "Rows per eval split (seeded subset; generated count)."}
    )
    task_size: str = field(
        default="small", metadata={"help": "Length table of generated rows (split_lengths)."}
    )
    min_length: int | None = field(
        default=None, metadata={"help": "Generated train/test rows: shortest (default: table)."}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Generated train/test rows: longest (default: table)."}
    )
    task_params: str | None = field(
        default=None, metadata={"help": "Generator parameters as JSON, e.g. '{\"n\": 4}'."}
    )


@dataclass
class TrainingArguments:
    output_dir: str = field(metadata={"help": "Where the model, eval_results.json, card go."})
    overwrite_output_dir: bool = field(default=False)
    seed: int = field(default=0)
    per_device_train_batch_size: int = field(default=32)
    per_device_eval_batch_size: int = field(default=64)
    gradient_accumulation_steps: int = field(default=1)
    learning_rate: float = field(default=1e-3)
    weight_decay: float = field(default=0.1)
    max_grad_norm: float = field(default=1.0)
    lr_scheduler_type: str = field(default="cosine")
    warmup_steps: int = field(default=0)
    max_steps: int | None = field(
        default=None, metadata={"help": "Optimizer updates (required for generated data)."}
    )
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "Dataset runs, if no max_steps."}
    )
    logging_steps: int = field(default=10)
    eval_steps: int | None = field(default=None, metadata={"help": "Evaluate every N updates."})
    checkpointing_steps: int | None = field(default=None, metadata={"help": "Save state every N."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' in output_dir."}
    )
    report_to: str = field(
        default="none", metadata={"help": "tensorboard, trackio, wandb, all or none."}
    )
    push_to_hub: bool = field(default=False)
    hub_model_id: str | None = field(default=None, metadata={"help": "user/name on the Hub."})
    hub_private_repo: bool = field(default=False)


class ArgumentError(ValueError):
    """Arguments that cannot work together; the message is one line with the fix."""


def parse_args(argv: list[str] | None = None):
    """Flags, or a YAML/JSON file of them followed by flags that override it."""
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        path = Path(argv.pop(0))
        if not path.exists():
            raise ArgumentError(f"config file {path} does not exist")
        loaded = (
            json.loads(path.read_text())
            if path.suffix == ".json"
            else yaml.safe_load(path.read_text())
        )
        from_file = [
            item for key, value in (loaded or {}).items() for item in (f"--{key}", str(value))
        ]
        argv = from_file + argv
    return parser.parse_args_into_dataclasses(args=argv)


def check_args(model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments):
    """Everything that can be checked without loading anything, so bad runs stop at once."""
    check_model_name(model_args.model_name_or_path)
    if model_args.tokenizer not in TOKENIZERS:
        raise ArgumentError(
            f"unknown --tokenizer {model_args.tokenizer!r}; choose one of: {', '.join(TOKENIZERS)}"
        )
    if model_args.tokenizer != "char" and not model_args.model_name_or_path.startswith(
        PRESET_PREFIX
    ):
        raise ArgumentError(
            "--tokenizer applies to presets (preset:NAME); a checkpoint has its own"
        )
    check_task(data_args.dataset_config)
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
# The run


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


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    found = (output_dir / "checkpoints").glob("step_*")
    return sorted((p for p in found if p.is_dir()), key=lambda p: int(p.name.split("_")[1]))


def held_out_prompts(eval_rows: dict[str, dict], eval_args: dict) -> dict[str, list[str]]:
    """Prompts generated training rows must not repeat: the evaluated splits', and test and
    test_long as `copycot evaluate` draws them from the same seed even when not evaluated here
    (unless the task parameters cannot make that split at all, e.g. values too few for its
    lengths: then it has no problems to avoid)."""
    held_out = {split: rows["prompt"] for split, rows in eval_rows.items()}
    for split in ("test", "test_long"):
        if split not in held_out:
            try:
                held_out[split] = evaluation.eval_rows(split=split, **eval_args)["prompt"]
            except DataError:
                continue
    return held_out


def train(model_args: ModelArguments, data_args: DataArguments, args: TrainingArguments) -> dict:
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

    # -- Data: validate everything (dataset, config, splits, columns) before building a model.
    task = check_task(data_args.dataset_config)
    task_params = parse_task_params(data_args.task_params)
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

    table_lengths = length_range(task, "train", data_args.task_size)
    min_length = data_args.min_length or table_lengths[0]
    max_length = data_args.max_length or table_lengths[1]
    eval_split_names = [s.strip() for s in data_args.eval_splits.split(",") if s.strip()]
    eval_args = {
        "task": task,
        "dataset_name": data_args.dataset_name,
        "revision": data_args.dataset_revision,
        "max_examples": data_args.max_eval_examples,
        "seed": args.seed,
        "task_size": data_args.task_size,
        "task_params": task_params,
        "train_lengths": (min_length, max_length),
    }
    eval_rows = {
        split: evaluation.eval_rows(split=split, **eval_args) for split in eval_split_names
    }
    if model_args.model_name_or_path.startswith(PRESET_PREFIX):
        # The character tokenizer has no <unk>: find characters it cannot encode now.
        if train_rows is not None:
            sample = train_rows.select(range(min(1000, len(train_rows)))).to_dict()
        else:
            sample = generate_rows(
                task, 256, seed=args.seed, split="train", min_length=min_length,
                max_length=max_length, params=task_params,
            )  # fmt: skip
        texts = [*sample["prompt"], *targets_of(sample, data_args.use_cot)]
        texts += [text for rows in eval_rows.values() for text in rows["prompt"]]
        missing = uncovered_characters(texts)
        if missing:
            raise DataError(
                f"the data has characters outside the character tokenizer: {sorted(missing)!r}; "
                "see docs/FORMATS.md for the character set"
            )
        if model_args.tokenizer == "word":
            unreadable = untokenizable(build_tokenizer("word"), texts)
            if unreadable:
                raise DataError(
                    f"the word tokenizer cannot write {unreadable[0][:60]!r} back as it is (it has "
                    "numbers 0-999 and spaces only between numbers); use --tokenizer char"
                )

    # -- Model and tokenizer.
    model, tokenizer = load_model_and_tokenizer(
        model_args.model_name_or_path,
        mamba_scan=model_args.mamba_scan,
        revision=model_args.model_revision,
        config_overrides=model_args.config_overrides,
        tokenizer=model_args.tokenizer,
    )
    architecture = model.config.copycot

    def featurize(rows: dict[str, list]) -> list[dict]:
        encoded = tokenize_completions(
            tokenizer, list(rows["prompt"]), targets_of(rows, data_args.use_cot)
        )
        return [
            {"input_ids": ids, "labels": labels}
            for ids, labels in zip(encoded["input_ids"], encoded["labels"], strict=True)
        ]

    # -- Training data: length-grouped batches of a dataset, or fresh generated rows.
    world_batch = args.per_device_train_batch_size * accelerator.num_processes
    if train_rows is not None:
        source = f"{data_args.dataset_name} split {data_args.train_split}"
        overlap = {
            "train": f"{source} ({len(train_rows):,} rows)",
            "eval_prompts_in_train": eval_prompts_in_train(train_rows["prompt"], eval_rows),
        }
        train_features = featurize(train_rows.to_dict())
        sampler = LengthGroupedEpochSampler(
            [len(f["input_ids"]) for f in train_features],
            args.per_device_train_batch_size,
            args.seed,
        )
        train_dataloader = DataLoader(
            train_features,
            batch_size=args.per_device_train_batch_size,
            sampler=sampler,
            collate_fn=completion_collator(tokenizer),
        )
    else:
        num_rows = args.max_steps * args.gradient_accumulation_steps * world_batch
        train_dataset = GeneratedTaskDataset(
            task,
            num_rows,
            seed=args.seed,
            min_length=min_length,
            max_length=max_length,
            featurize=featurize,
            batch_size=args.per_device_train_batch_size,
            params=task_params,
            exclude=held_out_prompts(eval_rows, eval_args),
        )
        overlap = train_dataset.overlap_report()
        train_dataloader = DataLoader(
            train_dataset,
            batch_size=args.per_device_train_batch_size,
            shuffle=False,
            collate_fn=completion_collator(tokenizer),
        )
    # -- Optimizer and schedule.
    optimizer = torch.optim.AdamW(
        parameter_groups(model, args.weight_decay), lr=args.learning_rate, betas=(0.9, 0.95)
    )
    model, optimizer, train_dataloader = accelerator.prepare(model, optimizer, train_dataloader)
    scan = scan_path(accelerator.unwrap_model(model))  # where the model now runs
    logger.info(
        "model %s: %s, %s parameters, Mamba scan path: %s",
        model_args.model_name_or_path,
        architecture["architecture"],
        f"{architecture['num_parameters']:,}",
        scan or "n/a (not a Mamba)",
    )
    # Micro-batches left over at the end of an epoch (fewer than gradient_accumulation_steps)
    # are dropped.
    updates_per_epoch = len(train_dataloader) // args.gradient_accumulation_steps
    if updates_per_epoch == 0:
        raise ArgumentError(
            f"the training data gives {len(train_dataloader)} batches per process, fewer than "
            f"--gradient_accumulation_steps {args.gradient_accumulation_steps}; use more rows or "
            "smaller batches"
        )
    max_steps = args.max_steps or math.ceil(args.num_train_epochs * updates_per_epoch)
    # A prepared scheduler steps once per process per update, hence the factors.
    lr_scheduler = accelerator.prepare(
        get_scheduler(
            args.lr_scheduler_type,
            optimizer=optimizer,
            num_warmup_steps=args.warmup_steps * accelerator.num_processes,
            num_training_steps=max_steps * accelerator.num_processes,
        )
    )
    eval_loaders = {
        split: accelerator.prepare(
            evaluation.eval_dataloader(rows, tokenizer, args.per_device_eval_batch_size)
        )
        for split, rows in eval_rows.items()
    }

    hyperparameters = {
        "model_name_or_path": model_args.model_name_or_path,
        "dataset": data_args.dataset_name or "generated",
        "dataset_config": task,
        "use_cot": data_args.use_cot,
        "seed": args.seed,
        "max_steps": max_steps,
        "global_batch_size": world_batch * args.gradient_accumulation_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "learning_rate": args.learning_rate,
        "lr_scheduler_type": args.lr_scheduler_type,
        "warmup_steps": args.warmup_steps,
        "weight_decay": args.weight_decay,
        "mamba_scan": scan,
    }
    accelerator.init_trackers("copycot", config={k: str(v) for k, v in hyperparameters.items()})

    # -- Resume: weights, optimizer, schedule, RNG from the checkpoint; batches already seen are
    # skipped in the (deterministic) data order.
    global_step = 0
    if args.resume_from_checkpoint:
        checkpoint = Path(args.resume_from_checkpoint)
        if args.resume_from_checkpoint == "latest":
            found = checkpoint_dirs(output_dir)
            if not found:
                raise ArgumentError(f"no checkpoint in {output_dir / 'checkpoints'} to resume from")
            checkpoint = found[-1]
        if not (checkpoint / "trainer_state.json").exists():
            raise ArgumentError(
                f"{checkpoint} is not a finished checkpoint (no trainer_state.json)"
            )
        accelerator.load_state(str(checkpoint))
        global_step = json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]
        logger.info("resumed from %s at update %d", checkpoint, global_step)

    def save_checkpoint(step: int) -> None:
        """save_state into a temporary folder, renamed when complete."""
        final = output_dir / "checkpoints" / f"step_{step}"
        tmp = final.with_name(f".{final.name}.tmp")
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (tmp / "trainer_state.json").write_text(json.dumps({"global_step": step}))
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
        accelerator.wait_for_everyone()

    history: list[dict] = []

    def run_eval(step: int) -> dict:
        started = time.perf_counter()
        results = {}
        for split, loader in eval_loaders.items():
            results[split], _ = evaluation.evaluate_split(
                accelerator,
                model,
                tokenizer,
                loader,
                eval_rows[split],
                task=task,
                use_cot=data_args.use_cot,
            )
        payload = evaluation.eval_results_payload(
            model=model_args.model_name_or_path,
            dataset=data_args.dataset_name,
            task=task,
            use_cot=data_args.use_cot,
            results=results,
            step=step,
            mamba_scan=scan,
            seconds=time.perf_counter() - started,
            overlap=overlap,
        )
        scalars = evaluation.flat_scores(results)
        history.append({"step": step, **scalars})
        accelerator.log({f"eval/{k}": v for k, v in scalars.items()}, step=step)
        main = payload["main_score"]
        logger.info(
            "step %d eval: %s",
            step,
            ", ".join(f"{split} {main} {s[main]:.3f}" for split, s in results.items()),
        )
        return payload

    # -- The loop: one optimizer update per `gradient_accumulation_steps` micro-batches.
    model.train()
    progress = tqdm(
        total=max_steps,
        initial=global_step,
        desc="training",
        disable=not accelerator.is_local_main_process,
    )
    epoch = global_step // updates_per_epoch
    running_loss, running_targets, started = 0.0, 0, time.perf_counter()
    while global_step < max_steps:
        train_dataloader.set_epoch(epoch)
        loader = train_dataloader
        done_in_epoch = global_step - epoch * updates_per_epoch
        if done_in_epoch:
            loader = accelerator.skip_first_batches(
                train_dataloader, done_in_epoch * args.gradient_accumulation_steps
            )
        batches = iter(loader)
        for _ in range(done_in_epoch, updates_per_epoch):
            micro_batches = [next(batches) for _ in range(args.gradient_accumulation_steps)]
            step_loss, num_targets = backward_on_global_batch(accelerator, model, micro_batches)
            if args.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            global_step += 1
            progress.update(1)

            running_loss += accelerator.reduce(step_loss, "sum").item()
            running_targets += int(num_targets.item())
            if global_step % args.logging_steps == 0 or global_step == max_steps:
                loss = running_loss / max(running_targets, 1)
                elapsed = time.perf_counter() - started
                accelerator.log(
                    {"train/loss": loss, "train/lr": lr_scheduler.get_last_lr()[0]},
                    step=global_step,
                )
                progress.set_postfix(loss=f"{loss:.4f}")
                logger.info(
                    "step %d loss %.4f lr %.2e (%.1f target tok/s)",
                    global_step,
                    loss,
                    lr_scheduler.get_last_lr()[0],
                    running_targets / elapsed,
                )
                running_loss, running_targets, started = 0.0, 0, time.perf_counter()
            if args.checkpointing_steps and global_step % args.checkpointing_steps == 0:
                save_checkpoint(global_step)
            if args.eval_steps and global_step % args.eval_steps == 0 and global_step < max_steps:
                run_eval(global_step)
                model.train()
                started = time.perf_counter()  # throughput counts training time only
            if global_step >= max_steps:
                break
        epoch += 1
    progress.close()

    # -- Final evaluation and save (staging folder, then swapped in).
    payload = run_eval(global_step)
    payload["history"] = history
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        staging = publishing.staging_dir(output_dir)
        unwrapped.save_pretrained(staging, state_dict=state_dict)
        tokenizer.save_pretrained(staging)
        publishing.write_json(staging / "eval_results.json", payload)
        publishing.write_json(
            staging / "training_args.json",
            {"model": asdict(model_args), "data": asdict(data_args), "training": asdict(args)},
        )
        publishing.model_card(
            model_name=args.hub_model_id or output_dir.name,
            base_model=model_args.model_name_or_path,
            dataset=data_args.dataset_name,
            task=task,
            use_cot=data_args.use_cot,
            architecture=architecture,
            hyperparameters=hyperparameters,
            eval_payload=payload,
        ).save(staging / "README.md")
        publishing.swap_in(staging, output_dir)
        logger.info("saved %s", output_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes trackers, then the process group
    return payload


def main(argv: list[str] | None = None) -> int:
    """Entry point of `finetune.py` and `copycot finetune`; one-line errors for bad input."""
    try:
        model_args, data_args, args = parse_args(argv)
        check_args(model_args, data_args, args)
        payload = train(model_args, data_args, args)
    except (ArgumentError, DataError, ModelLoadError) as err:
        print(f"finetune: error: {err}", file=sys.stderr)
        return 2
    is_main = PartialState().is_main_process
    if args.push_to_hub and is_main:
        try:
            url = publishing.push_folder(
                Path(args.output_dir), args.hub_model_id, private=args.hub_private_repo
            )
        except RuntimeError as err:
            print(f"finetune: error: {err}", file=sys.stderr)
            return 1
        print(f"pushed to {url}")
    main_score = payload["main_score"]
    summary = ", ".join(
        f"{s} {main_score} {r[main_score]:.4f}" for s, r in payload["results"].items()
    )
    if is_main:
        print(f"done: {summary}; saved {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
