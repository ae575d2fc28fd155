"""Score a model by what it generates: batched greedy generation, then the task's metric.

`copycot evaluate --model_name_or_path M --dataset_config copy --eval_splits test,test_long` writes
the same `eval_results.json` as fine-tuning does. Prompts are tokenized and left-padded in batches
of similar length (both GPT-NeoX and Mamba read the attention mask, so a padded row generates what
it would alone); each row gets a budget of its target's token count plus one (the EOS), so results
do not depend on the batch size. Under `accelerate launch` the rows are sharded across processes
and the generations gathered before scoring.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedType
from torch.utils.data import DataLoader
from transformers import (
    HfArgumentParser,
    LogitsProcessor,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from hf_copycot import flags, tasks
from hf_copycot.collation import completions_of, forced_tokens
from hf_copycot.data import DataArguments, check_lengths, check_task, eval_rows
from hf_copycot.distributed import make_accelerator
from hf_copycot.errors import CopycotError
from hf_copycot.metrics import load_metric, score
from hf_copycot.models import ModelArguments
from hf_copycot.publishing import write_json, write_text

__all__ = ["EvaluateArguments", "evaluate_split", "generate_batch", "load_metric", "run_evaluate"]


@torch.no_grad()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    max_new_tokens: int | list[int],
    batch_size: int = 64,
    synced_gpus: bool = False,
    forced: list[dict[int, int]] | None = None,
) -> list[str]:
    """Greedy continuations of `prompts` (text after the prompt, cut before the first EOS).

    `max_new_tokens` may be one budget per prompt. Prompts are processed in batches of similar
    token length, left-padded, and returned in the input order. `synced_gpus` keeps FSDP ranks
    stepping together until all have finished. `forced` (per prompt, {offset: token id}) feeds
    given input at those places after the prompt (a streamed task); the model picks every other
    token.
    """
    budgets = (
        [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    )
    prompt_lengths = [len(ids) for ids in tokenizer(prompts).input_ids]
    order = sorted(range(len(prompts)), key=lambda i: prompt_lengths[i])
    texts: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        inputs = tokenizer(
            [prompts[i] for i in rows], padding=True, padding_side="left", return_tensors="pt"
        ).to(model.device)
        feed = None
        if forced is not None and any(forced[i] for i in rows):
            feed = [FeedGivenTokens([forced[i] for i in rows], inputs.input_ids.shape[1])]
        outputs = model.generate(
            **inputs,
            max_new_tokens=max(budgets[i] for i in rows),
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            synced_gpus=synced_gpus,
            logits_processor=feed,
        )
        new_tokens = outputs[:, inputs.input_ids.shape[1] :].tolist()
        for row, i in enumerate(rows):
            texts[i] = decode_until_eos(tokenizer, new_tokens[row][: budgets[i]])
    return texts


class FeedGivenTokens(LogitsProcessor):
    """Make greedy decoding pick each row's given token at its offsets after the prompt.

    The model still runs on every position (its state and cache see the input as if it had been
    part of the prompt), but at a given offset its choice is replaced by the input.
    """

    def __init__(self, forced: list[dict[int, int]], prompt_width: int):
        self.forced, self.prompt_width = forced, prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        offset = input_ids.shape[1] - self.prompt_width
        for row, given in enumerate(self.forced):
            token = given.get(offset)
            if token is not None:
                scores[row].fill_(-float("inf"))
                scores[row, token] = 0.0
        return scores


def decode_until_eos(tokenizer: PreTrainedTokenizerBase, token_ids: list[int]) -> str:
    """Text of `token_ids` up to the first EOS; other special tokens stay visible (and wrong)."""
    if tokenizer.eos_token_id in token_ids:
        token_ids = token_ids[: token_ids.index(tokenizer.eos_token_id)]
    return tokenizer.decode(token_ids, skip_special_tokens=False)


def eval_dataloader(
    rows: dict[str, list], tokenizer: PreTrainedTokenizerBase, batch_size: int
) -> DataLoader:
    """Batches of row indices, sorted by prompt length so each batch pads little."""
    lengths = [len(ids) for ids in tokenizer(list(rows["prompt"])).input_ids]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return DataLoader(order, batch_size=batch_size, shuffle=False, collate_fn=list)


def evaluate_split(
    accelerator: Accelerator,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataloader: DataLoader,
    rows: dict[str, list],
    *,
    task: str,
    use_cot: bool,
) -> tuple[dict, list[str]]:
    """Generate on this process's share of `rows`, gather everything, score on every process.

    `dataloader` is `eval_dataloader(rows, ...)` passed through `accelerator.prepare`.
    Returns (scores, predictions in row order).
    """
    unwrapped = accelerator.unwrap_model(model)
    was_training = unwrapped.training
    unwrapped.eval()
    completions = completions_of(rows, use_cot)
    targets = ["".join(text for text, _ in segments) for segments in completions]
    budgets = [len(ids) + 1 for ids in tokenizer(targets, add_special_tokens=False).input_ids]
    streamed = any(given for segments in completions for _, given in segments)
    forced = [forced_tokens(tokenizer, segments) for segments in completions] if streamed else None
    synced = accelerator.distributed_type == DistributedType.FSDP
    pairs: list[tuple[int, str]] = []
    for indices in dataloader:
        texts = generate_batch(
            unwrapped,
            tokenizer,
            [rows["prompt"][i] for i in indices],
            max_new_tokens=[budgets[i] for i in indices],
            batch_size=len(indices),
            synced_gpus=synced,
            forced=None if forced is None else [forced[i] for i in indices],
        )
        pairs += accelerator.gather_for_metrics(
            list(zip(indices, texts, strict=True)), use_gather_object=True
        )
    unwrapped.train(was_training)
    predictions_by_index = dict(pairs)  # duplicates from even batching collapse here
    missing = set(range(len(targets))) - set(predictions_by_index)
    if missing:
        raise RuntimeError(f"evaluation lost {len(missing)} rows while gathering")
    predictions = [predictions_by_index[i] for i in range(len(targets))]
    with accelerator.main_process_first():  # the first load copies the module; once is enough
        load_metric(tasks.get_spec(task).metric)
    scores = score(task, predictions, rows, use_cot)
    sliced = slice_scores(task, predictions, rows, use_cot)
    return {"num_examples": len(predictions), **scores, **sliced}, predictions


def slice_scores(task: str, predictions: list[str], rows: dict[str, list], use_cot: bool) -> dict:
    """{"by_slice": {slice: scores}} for a task that names slices (`TaskSpec.slice_of`), each
    scored by the task's metric on its rows alone; {} otherwise."""
    slice_of = tasks.get_spec(task).slice_of
    if slice_of is None:
        return {}
    members: dict[str, list[int]] = {}
    for i, row in enumerate(tasks.records(rows)):
        key = slice_of(row)
        if key is not None:
            members.setdefault(key, []).append(i)
    by_slice = {}
    for key, index in sorted(members.items()):
        subset = {name: [rows[name][i] for i in index] for name in rows}
        found = score(task, [predictions[i] for i in index], subset, use_cot)
        found.pop("by_length", None)
        by_slice[key] = {"count": len(index), **found}
    return {"by_slice": by_slice}


def flat_scores(results: dict[str, dict]) -> dict[str, float]:
    """`split/score` -> value for every top-level number (what trackers can plot)."""
    flat = {}
    for split, scores in results.items():
        for key, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[f"{split}/{key}"] = value
    return flat


def eval_results_payload(
    *,
    model: str,
    dataset: str | None,
    task: str,
    use_cot: bool,
    results: dict[str, dict],
    step: int | None = None,
    mamba_scan: str | None = None,
    seconds: float | None = None,
    overlap: dict | None = None,
) -> dict:
    """The eval_results.json shape shared by `copycot evaluate` and fine-tuning (which adds
    `train_test_overlap`: evaluation rows whose prompt is also a training prompt, per split)."""
    spec = tasks.get_spec(task)
    extra = {} if overlap is None else {"train_test_overlap": overlap}
    return {
        "model": model,
        "dataset": dataset or "generated on the fly (hf_copycot.tasks)",
        "dataset_config": task,
        "use_cot": use_cot,
        "metric": spec.metric,
        "main_score": spec.main_score,
        "global_step": step,
        "mamba_scan": mamba_scan,
        "eval_seconds": None if seconds is None else round(seconds, 3),
        **extra,
        "results": results,
    }


# ---------------------------------------------------------------------------------------------
# `copycot evaluate`


@dataclass
class EvaluateArguments:
    """What `copycot evaluate` adds to the model and data flags it shares with finetune.py."""

    per_device_eval_batch_size: int = field(
        default=64, metadata={"help": "Prompts per generate() call."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds the subset / the generated rows."})
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16, float16, auto."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Write OUTPUT_DIR/eval_results.json (else print it)."}
    )
    predictions_file: str | None = field(
        default=None, metadata={"help": "Also write every generation as JSON lines here."}
    )
    output: str | None = field(
        default=None,
        metadata={"help": "Deprecated (goes in 0.2): write eval_results.json to this file."},
    )

    def results_file(self) -> Path | None:
        if self.output_dir:
            return Path(self.output_dir) / "eval_results.json"
        return Path(self.output) if self.output else None


# Old spellings accepted for one release (kebab-case ones too, see hf_copycot.flags).
RENAMED = {
    "--model": "--model_name_or_path",
    "--revision": "--model_revision",
    "--dataset": "--dataset_name",
    "--config": "--dataset_config",
    "--split": "--eval_splits",
    "--max_examples": "--max_eval_examples",
    "--batch_size": "--per_device_eval_batch_size",
    "--task_size": "--dataset_size",
}
ARGUMENT_TYPES = (ModelArguments, DataArguments, EvaluateArguments)


def run_evaluate(
    model_args: ModelArguments,
    data_args: DataArguments,
    args: EvaluateArguments,
    accelerator: Accelerator | None = None,
) -> dict:
    """Evaluate the model on each split; returns the eval_results payload (and writes it, and the
    predictions, where `args` says)."""
    from hf_copycot.models import check_model_name, load_from_args, scan_path

    accelerator = accelerator or make_accelerator()
    check_model_name(model_args.model_name_or_path)
    task = check_task(data_args.dataset_config)
    check_lengths(data_args)
    all_rows = {
        split: eval_rows(data_args, task, split, seed=args.seed) for split in data_args.splits()
    }
    model, tokenizer = load_from_args(model_args, dtype=args.dtype, device=accelerator.device)
    results, predictions = {}, {}
    started = time.perf_counter()
    for split, rows in all_rows.items():
        loader = accelerator.prepare(
            eval_dataloader(rows, tokenizer, args.per_device_eval_batch_size)
        )
        results[split], predictions[split] = evaluate_split(
            accelerator, model, tokenizer, loader, rows, task=task, use_cot=data_args.use_cot
        )
    payload = eval_results_payload(
        model=model_args.model_name_or_path,
        dataset=data_args.dataset_name,
        task=task,
        use_cot=data_args.use_cot,
        results=results,
        mamba_scan=scan_path(model),
        seconds=time.perf_counter() - started,
    )
    if accelerator.is_main_process:
        if args.results_file():
            write_json(args.results_file(), payload)
        if args.predictions_file:
            lines = [
                json.dumps({"split": split, "id": row_id, "prediction": text})
                for split, texts in predictions.items()
                for row_id, text in zip(all_rows[split]["id"], texts, strict=True)
            ]
            write_text(Path(args.predictions_file), "\n".join(lines) + "\n")
    return payload


def parse_args(argv: list[str] | None = None):
    """(ModelArguments, DataArguments, EvaluateArguments) from flags, old spellings included."""
    parser = HfArgumentParser(ARGUMENT_TYPES, prog="copycot evaluate")
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, args, rest = parser.parse_args_into_dataclasses(
        args=flags.normalize(argv, parser, renamed=RENAMED), return_remaining_strings=True
    )
    if rest:  # argparse's own one-line error, not HfArgumentParser's ValueError traceback
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.output:
        print(
            f"{parser.prog}: warning: --output is deprecated, use --output_dir (writes "
            f"OUTPUT_DIR/eval_results.json; the old flag goes in hf-copycot {flags.REMOVED_IN})",
            file=sys.stderr,
        )
    return model_args, data_args, args


def main(argv: list[str] | None = None) -> int:
    """`copycot evaluate ...`; one-line errors for bad arguments."""
    model_args, data_args, args = parse_args(argv)
    try:
        payload = run_evaluate(model_args, data_args, args)
    except CopycotError as err:
        print(f"copycot evaluate: error: {err}", file=sys.stderr)
        return 2
    if not args.results_file():
        print(json.dumps(payload, indent=2))
        return 0
    main_score = payload["main_score"]
    for split, scores in payload["results"].items():
        print(f"{split}: {main_score} = {scores[main_score]:.4f} ({scores['num_examples']} rows)")
    print(f"wrote {args.results_file()}")
    return 0
