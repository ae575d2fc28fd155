"""Score a model by what it generates: batched greedy generation, then the `eval/` metrics.

`copycot evaluate --model M --dataset D --config copy --split test,test_long` writes the same
`eval_results.json` as fine-tuning does. Prompts are tokenized and left-padded in batches of similar
length (both GPT-NeoX and Mamba read the attention mask, so a padded row generates what it would
alone); each row gets a budget of its target's token count plus one (the EOS), so results do not
depend on the batch size. Under `accelerate launch` the rows are sharded across processes and the
generations gathered before scoring.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedType
from torch.utils.data import DataLoader
from transformers import HfArgumentParser, PreTrainedModel, PreTrainedTokenizerBase

from hf_copycot.collation import targets_of
from hf_copycot.data import (
    DataError,
    check_task,
    generate_rows,
    length_range,
    load_rows,
    parse_task_params,
)
from hf_copycot.distributed import make_accelerator
from hf_copycot.publishing import write_json

EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"
METRIC_OF_TASK = {
    "copy": "copy_accuracy",
    "prefix_ngram": "copy_accuracy",
    "suffix_ngram": "copy_accuracy",
    "phonebook": "phonebook_accuracy",
    "lis": "dp_cot_accuracy",
    "ed": "dp_cot_accuracy",
    "local_dp": "dp_cot_accuracy",
}
# The score each metric leads with (logged, put in the model card and the Space).
MAIN_SCORE = {
    "copy_accuracy": "exact_match",
    "phonebook_accuracy": "exact_match",
    "dp_cot_accuracy": "answer_accuracy",
}


@torch.no_grad()
def generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    max_new_tokens: int | list[int],
    batch_size: int = 64,
    synced_gpus: bool = False,
) -> list[str]:
    """Greedy continuations of `prompts` (text after the prompt, cut before the first EOS).

    `max_new_tokens` may be one budget per prompt. Prompts are processed in batches of similar
    token length, left-padded, and returned in the input order. `synced_gpus` keeps FSDP ranks
    stepping together until all have finished.
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
        outputs = model.generate(
            **inputs,
            max_new_tokens=max(budgets[i] for i in rows),
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            synced_gpus=synced_gpus,
        )
        new_tokens = outputs[:, inputs.input_ids.shape[1] :].tolist()
        for row, i in enumerate(rows):
            texts[i] = decode_until_eos(tokenizer, new_tokens[row][: budgets[i]])
    return texts


def decode_until_eos(tokenizer: PreTrainedTokenizerBase, token_ids: list[int]) -> str:
    """Text of `token_ids` up to the first EOS; other special tokens stay visible (and wrong)."""
    if tokenizer.eos_token_id in token_ids:
        token_ids = token_ids[: token_ids.index(tokenizer.eos_token_id)]
    return tokenizer.decode(token_ids, skip_special_tokens=False)


@functools.cache
def load_metric(name: str):
    """The `evaluate` module `name` from this repository's `eval/` folder, kept in memory (no
    cache files, so processes scoring at once do not share any)."""
    import evaluate

    folder = EVAL_DIR / name
    if not folder.is_dir():
        raise DataError(f"metric folder {folder} is missing; run from a clone of hf-copycot")
    return evaluate.load(str(folder), keep_in_memory=True)


def score(task: str, predictions: list[str], rows: dict[str, list], use_cot: bool) -> dict:
    """The metric's results (JSON-serialisable, with per-length groups) for `predictions`."""
    metric = load_metric(METRIC_OF_TASK[task])
    common = {"predictions": predictions, "references": list(rows["answer"])}
    lengths = [int(length) for length in rows["length"]]
    name = METRIC_OF_TASK[task]
    if name == "copy_accuracy":
        return metric.compute(**common, lengths=lengths)
    if name == "phonebook_accuracy":
        return metric.compute(**common, num_entries=lengths)
    return metric.compute(
        **common, prompts=list(rows["prompt"]), task=task, lengths=lengths, cot=use_cot
    )


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
    targets = targets_of(rows, use_cot)
    budgets = [len(ids) + 1 for ids in tokenizer(targets, add_special_tokens=False).input_ids]
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
        load_metric(METRIC_OF_TASK[task])
    scores = score(task, predictions, rows, use_cot)
    return {"num_examples": len(predictions), **scores}, predictions


def eval_rows(
    *,
    task: str,
    split: str,
    dataset_name: str | None,
    revision: str | None = None,
    max_examples: int | None,
    seed: int,
    task_size: str = "small",
    task_params: dict | None = None,
    train_lengths: tuple[int, int] | None = None,
    lengths: tuple[int, int] | None = None,
) -> dict[str, list]:
    """Rows of `split` (columnar): from the dataset, or generated from `seed` with the task's
    length range for that split. `train_lengths` (lengths trained on, when not the table's)
    replaces the range of the in-distribution splits; `test_long` keeps the table's. `lengths`
    replaces the range of every split (a length sweep)."""
    if dataset_name:
        data = load_rows(
            dataset_name, task, split, revision=revision, max_rows=max_examples, seed=seed
        )
        return data.to_dict()
    low, high = length_range(task, split, task_size)
    if train_lengths is not None and split != "test_long":
        low, high = train_lengths
    if lengths is not None:
        low, high = lengths
    return generate_rows(
        task,
        max_examples or 200,
        seed=seed,
        split=split,
        min_length=low,
        max_length=high,
        params=task_params,
    )


def flat_scores(results: dict[str, dict]) -> dict[str, float]:
    """`split/score` -> value for every top-level number (what trackers can plot)."""
    flat = {}
    for split, scores in results.items():
        for key, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[f"{split}/{key}"] = value
    return flat


# ---------------------------------------------------------------------------------------------
# `copycot evaluate`


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "Hub id, local folder, or preset:NAME (untrained)."})
    config: str = field(metadata={"help": "Task / dataset config: copy, lis, ... ."})
    dataset: str | None = field(
        default=None,
        metadata={"help": "Hub id or local folder of a copy-cot dataset; omit to generate rows."},
    )
    split: str = field(default="test,test_long", metadata={"help": "Comma-separated splits."})
    use_cot: bool = field(default=True, metadata={"help": "DP tasks: generate cot + answer."})
    max_examples: int | None = field(
        default=200, metadata={"help": "Rows per split (seeded subset); generated count too."}
    )
    batch_size: int = field(default=64, metadata={"help": "Prompts per generate() call."})
    seed: int = field(default=0)
    task_size: str = field(default="small", metadata={"help": "Length table for generated rows."})
    min_length: int | None = field(
        default=None, metadata={"help": "Generated rows: shortest length (every split)."}
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Generated rows: longest length (every split)."}
    )
    task_params: str | None = field(
        default=None, metadata={"help": 'Generated rows: task parameters as JSON, e.g. {"m": 2}.'}
    )
    dtype: str | None = field(default=None, metadata={"help": "float32, bfloat16, float16, auto."})
    mamba_scan: str = field(default="auto")
    revision: str | None = field(default=None, metadata={"help": "Model revision."})
    dataset_revision: str | None = field(default=None)
    output: str | None = field(
        default=None, metadata={"help": "Write eval_results.json here (else print)."}
    )
    predictions_file: str | None = field(
        default=None, metadata={"help": "Also write every generation as JSON lines here."}
    )


def run_evaluate(args: EvaluateArguments, accelerator: Accelerator | None = None) -> dict:
    """Evaluate `args.model` on each split; returns the eval_results payload."""
    from hf_copycot.models import check_model_name, load_model_and_tokenizer, scan_path

    accelerator = accelerator or make_accelerator()
    check_model_name(args.model)
    task = check_task(args.config, flag="--config")
    splits = [split.strip() for split in args.split.split(",") if split.strip()]
    lengths = None
    if args.min_length is not None or args.max_length is not None:
        if args.dataset:
            raise DataError("--min_length/--max_length apply to generated rows; drop --dataset")
        if args.min_length is None or args.max_length is None or args.min_length > args.max_length:
            raise DataError("give both --min_length and --max_length, with min <= max")
        lengths = (args.min_length, args.max_length)
    all_rows = {
        split: eval_rows(
            task=task,
            split=split,
            dataset_name=args.dataset,
            revision=args.dataset_revision,
            max_examples=args.max_examples,
            seed=args.seed,
            task_size=args.task_size,
            task_params=parse_task_params(args.task_params),
            lengths=lengths,
        )
        for split in splits
    }
    model, tokenizer = load_model_and_tokenizer(
        args.model,
        dtype=args.dtype,
        mamba_scan=args.mamba_scan,
        device=accelerator.device,
        revision=args.revision,
    )
    results, predictions = {}, {}
    started = time.perf_counter()
    for split, rows in all_rows.items():
        loader = accelerator.prepare(eval_dataloader(rows, tokenizer, args.batch_size))
        results[split], predictions[split] = evaluate_split(
            accelerator, model, tokenizer, loader, rows, task=task, use_cot=args.use_cot
        )
    payload = eval_results_payload(
        model=args.model,
        dataset=args.dataset,
        task=task,
        use_cot=args.use_cot,
        results=results,
        mamba_scan=scan_path(model),
        seconds=time.perf_counter() - started,
    )
    if accelerator.is_main_process:
        if args.output:
            write_json(Path(args.output), payload)
        if args.predictions_file:
            lines = [
                json.dumps({"split": split, "id": row_id, "prediction": text})
                for split, texts in predictions.items()
                for row_id, text in zip(all_rows[split]["id"], texts, strict=True)
            ]
            Path(args.predictions_file).write_text("\n".join(lines) + "\n")
    return payload


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
    metric = METRIC_OF_TASK[task]
    extra = {} if overlap is None else {"train_test_overlap": overlap}
    return {
        "model": model,
        "dataset": dataset or "generated on the fly (hf_copycot.tasks)",
        "dataset_config": task,
        "use_cot": use_cot,
        "metric": metric,
        "main_score": MAIN_SCORE[metric],
        "global_step": step,
        "mamba_scan": mamba_scan,
        "eval_seconds": None if seconds is None else round(seconds, 3),
        **extra,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    """`copycot evaluate ...`; one-line errors for bad arguments."""
    from hf_copycot.models import ModelLoadError

    parser = HfArgumentParser(EvaluateArguments)
    parser.prog = "copycot evaluate"
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    try:
        payload = run_evaluate(args)
    except (DataError, ModelLoadError) as err:
        print(f"copycot evaluate: error: {err}", file=sys.stderr)
        return 2
    if not args.output:
        print(json.dumps(payload, indent=2))
    else:
        for split, scores in payload["results"].items():
            main_score = payload["main_score"]
            print(
                f"{split}: {main_score} = {scores[main_score]:.4f} ({scores['num_examples']} rows)"
            )
        print(f"wrote {args.output}")
    return 0
