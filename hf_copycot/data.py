"""Where training and evaluation rows come from: a copy-cot dataset (Hub id or local folder), or
examples generated on the fly by `hf_copycot.tasks` from a seed.

Either way a row has the contract columns of docs/FORMATS.md (`id task prompt cot answer length`);
everything downstream reads only those.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_copycot import tasks
from hf_copycot.errors import DataError

CONTRACT_COLUMNS = tasks.SHARED_COLUMNS
__all__ = ["CONTRACT_COLUMNS", "DataArguments", "DataError", "eval_rows", "load_rows"]


@dataclass
class DataArguments:
    """Where rows come from and which ones: the data flags `finetune.py` and `copycot evaluate`
    share (one definition, so the two commands cannot drift apart)."""

    dataset_config: str | None = field(
        default=None, metadata={"help": "Task: copy, prefix_ngram, suffix_ngram, phonebook, ..."}
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub id or local folder of a copy-cot dataset; omit to generate rows."},
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Branch, tag or commit of a Hub dataset (default: main)."}
    )
    use_cot: bool = field(
        default=True, metadata={"help": "DP tasks: the target is cot + answer (true) or answer."}
    )
    eval_splits: str = field(default="test,test_long", metadata={"help": "Comma-separated."})
    max_eval_examples: int | None = field(
        default=200, metadata={"help": "Rows per eval split (seeded subset; generated count)."}
    )
    dataset_size: str = field(
        default="small",
        metadata={"help": "Generated rows: the length table of `small` or `full` (split_lengths)."},
    )
    min_length: int | None = field(
        default=None,
        metadata={
            "help": "Generated rows: shortest length of train, validation and test (default: the "
            "table's); test_long keeps the table's longer range."
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Generated rows: longest length of train, validation and test."},
    )
    task_params: str | None = field(
        default=None,
        metadata={
            "help": "Generator parameters as JSON, e.g. '{\"n\": 4}' (a mapping in a run file)."
        },
    )

    def splits(self) -> list[str]:
        return [split.strip() for split in self.eval_splits.split(",") if split.strip()]


def check_task(task: str | None, flag: str = "--dataset_config") -> str:
    """`task` if it is a registered task, else a DataError listing them."""
    names = tuple(tasks.TASK_NAMES)
    if task is None:
        raise DataError(f"{flag} is required; choose one of: {', '.join(names)}")
    if task not in names:
        raise DataError(f"unknown {flag} {task!r}; choose one of: {', '.join(names)}")
    return task


def parse_task_params(text: str | Mapping[str, Any] | None) -> dict:
    """`--task_params` is a JSON object of generator parameters, e.g. '{"n": 4}'; a run file
    (YAML or JSON) gives it as a mapping."""
    if not text:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"--task_params is not JSON ({err}); write e.g. '{{\"n\": 4}}'") from None
    if not isinstance(params, dict):
        raise DataError("--task_params must be a JSON object, e.g. '{\"n\": 4}'")
    return params


def length_range(task: str, split: str, size: str = "small") -> tuple[int, int]:
    """(min_length, max_length) of `split` for on-the-fly generation, from the task's table."""
    if size not in tasks.SIZES:
        raise DataError(f"unknown --dataset_size {size!r}; choose one of: {', '.join(tasks.SIZES)}")
    ranges = tasks.split_lengths(task, size)
    if split not in ranges:
        raise DataError(f"task {task!r} has no split {split!r}; splits: {', '.join(ranges)}")
    low, high = ranges[split]
    return int(low), int(high)


def split_lengths(args: DataArguments, task: str, split: str) -> tuple[int, int]:
    """The length range of generated `split` rows: `--min_length/--max_length` for train,
    validation and test (each defaulting to the table's), the table's range for test_long."""
    low, high = length_range(task, split, args.dataset_size)
    if split != "test_long":
        low, high = args.min_length or low, args.max_length or high
    if low > high:
        raise DataError(f"--min_length {low} is larger than --max_length {high}")
    return low, high


def check_lengths(args: DataArguments) -> None:
    """`--min_length/--max_length` choose generated rows; with a dataset they would be ignored."""
    if args.dataset_name and (args.min_length is not None or args.max_length is not None):
        raise DataError(
            "--min_length/--max_length apply to generated rows; drop them or --dataset_name"
        )


def load_rows(
    dataset_name: str,
    config: str,
    split: str,
    *,
    revision: str | None = None,
    max_rows: int | None = None,
    seed: int = 0,
):
    """One split of a copy-cot dataset as a `datasets.Dataset`, checked for the contract columns.

    `max_rows` keeps a seeded random subset (evaluation on part of a large split).
    """
    import datasets

    where = "local folder" if Path(dataset_name).is_dir() else "dataset"
    if where == "local folder":  # a damaged shard is named, never read as rows
        from hf_copycot.dataset_repo import verify_config

        verify_config(dataset_name, config)
    try:
        data = datasets.load_dataset(dataset_name, config, split=split, revision=revision)
    except Exception as err:  # datasets raises many types (ValueError, FileNotFoundError, ...)
        message = " ".join(str(err).split()) or type(err).__name__
        raise DataError(
            f"cannot load {where} {dataset_name!r} config {config!r} split {split!r}: {message}"
        ) from err
    missing = [column for column in CONTRACT_COLUMNS if column not in data.column_names]
    if missing:
        raise DataError(
            f"{where} {dataset_name!r} config {config!r} lacks the columns {', '.join(missing)}; "
            f"a copy-cot dataset has {', '.join(CONTRACT_COLUMNS)} (see docs/FORMATS.md)"
        )
    if max_rows is not None and len(data) > max_rows:
        data = data.shuffle(seed=seed).select(range(max_rows))
    return data


def generate_rows(
    task: str,
    num_rows: int,
    *,
    seed: int,
    split: str,
    min_length: int,
    max_length: int,
    params: dict | None = None,
) -> dict[str, list]:
    """`num_rows` fresh rows of `task` (columnar), a pure function of the arguments."""
    try:
        return tasks.generate(
            task,
            num_rows,
            seed=seed,
            min_length=min_length,
            max_length=max_length,
            split=split,
            **(params or {}),
        )
    except (TypeError, ValueError) as err:
        raise DataError(f"cannot generate {task!r} rows: {err}") from err


def eval_rows(args: DataArguments, task: str, split: str, *, seed: int) -> dict[str, list]:
    """Rows of `split` (columnar): a seeded subset of the dataset's split, or `max_eval_examples`
    rows generated from `seed` in `split_lengths(args, task, split)`."""
    if args.dataset_name:
        data = load_rows(
            args.dataset_name,
            task,
            split,
            revision=args.dataset_revision,
            max_rows=args.max_eval_examples,
            seed=seed,
        )
        return data.to_dict()
    low, high = split_lengths(args, task, split)
    return generate_rows(
        task,
        args.max_eval_examples or 200,
        seed=seed,
        split=split,
        min_length=low,
        max_length=high,
        params=parse_task_params(args.task_params),
    )


def chunk_seed(seed: int, chunk: int) -> int:
    """Independent 32-bit seed for chunk `chunk` of a run seeded `seed`."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


class GeneratedTaskDataset(torch.utils.data.Dataset):
    """`num_rows` training examples generated on access, each seen once (fresh data every step).

    Rows are made chunk by chunk (chunk c from `chunk_seed(seed, c)`), a row whose prompt is one of
    `exclude`'s (split -> evaluation prompts) replaced by a fresh one (`hf_copycot.overlap`), so
    training never sees an evaluation problem; then tokenized by `featurize`,
    and ordered inside the chunk so that every run of `batch_size` rows has similar lengths, in a
    seeded random order of those runs: a sequential sampler then yields length-grouped batches,
    and under Accelerate every process takes whole batches. Chunks are generated on demand, so a
    long run never holds its whole training set.
    """

    def __init__(
        self,
        task: str,
        num_rows: int,
        *,
        seed: int,
        min_length: int,
        max_length: int,
        featurize: Callable[[dict[str, list]], list[dict]],
        batch_size: int,
        batches_per_chunk: int = 64,
        params: dict | None = None,
        exclude: Mapping[str, Collection[str]] | None = None,
    ):
        self.task, self.num_rows, self.seed = task, num_rows, seed
        self.exclude = {split: list(prompts) for split, prompts in (exclude or {}).items()}
        self._excluded = frozenset(p for prompts in self.exclude.values() for p in prompts)
        self.min_length, self.max_length, self.params = min_length, max_length, params or {}
        self.featurize, self.batch_size = featurize, batch_size
        self.chunk_rows = batch_size * batches_per_chunk
        self._chunk = functools.lru_cache(maxsize=2)(self._make_chunk)

    def __len__(self) -> int:
        return self.num_rows

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.num_rows:
            raise IndexError(index)
        return self._chunk(index // self.chunk_rows)[index % self.chunk_rows]

    def _rows(self, chunk: int) -> tuple[dict[str, list], int]:
        """Chunk `chunk`'s rows before tokenizing, and how many were replaced."""
        from hf_copycot.overlap import generate_excluding

        try:
            return generate_excluding(
                self.task,
                self.chunk_rows,
                exclude=self._excluded,
                seed=chunk_seed(self.seed, chunk),
                split="train",
                min_length=self.min_length,
                max_length=self.max_length,
                params=self.params,
            )
        except (TypeError, ValueError) as err:
            raise DataError(f"cannot generate {self.task!r} rows: {err}") from err

    def overlap_report(self) -> dict:
        """Every chunk's rows generated again (not tokenized, so cheap next to training) and
        checked: how many were replaced, and the evaluation rows whose prompt is still among
        them (0 by construction). Chunks are whole, a superset of the rows trained on."""
        from hf_copycot.overlap import eval_prompts_in_train

        problems: set[str] = set()
        replaced = 0
        chunks = -(-self.num_rows // self.chunk_rows)
        for chunk in range(chunks):
            rows, dropped = self._rows(chunk)
            problems.update(tasks.problem_keys(self.task, rows))
            replaced += dropped
        return {
            "train": f"generated stream ({chunks * self.chunk_rows:,} rows in {chunks} chunks)",
            "train_rows_replaced": replaced,
            "eval_prompts_in_train": eval_prompts_in_train(problems, self.exclude),
        }

    def _make_chunk(self, chunk: int) -> list[dict]:
        seed = chunk_seed(self.seed, chunk)
        rows, _ = self._rows(chunk)
        features = self.featurize(rows)
        rng = np.random.default_rng(seed)
        lengths = np.array([len(feature["input_ids"]) for feature in features])
        # Shuffle, then sort by length (stable: ties keep the shuffled order), cut into batches,
        # and shuffle the batches.
        shuffled = rng.permutation(len(features))
        by_length = shuffled[np.argsort(lengths[shuffled], kind="stable")]
        batches = by_length.reshape(-1, self.batch_size)[
            rng.permutation(len(by_length) // self.batch_size)
        ]
        return [features[i] for i in batches.reshape(-1)]
