"""Seeded, vectorised generators of the copy-cot tasks (text formats: docs/FORMATS.md).

    from hf_copycot.tasks import TASK_NAMES, generate, split_lengths
    rows = generate("copy", 32, seed=7, min_length=5, max_length=20)   # dict of column lists
    split_lengths("lis", "full")  # {"train": (5, 100), ..., "test_long": (101, 150)}

Sizes of the dataset repo (`split_rows`): `small` has 2,000 train and 200 validation / test /
test_long rows per config (builds in seconds); `full` follows the papers' scale (100,000 train and
2,000 per eval split; the phone book 20,000 and 1,000). Length ranges per size and split
(`split_lengths`) and every task's defaults are documented in its module.

The registry: each task module declares a `TaskSpec` (generator, text format, metric and its
main score, how rows become the metric's arguments, how the arena offers it) and `SPECS` holds
them; `register(spec)` adds one from anywhere (tests/toy_task.py adds a whole task in one file).

Every call is deterministic in (task, seed, split, lengths, params): rows are drawn in blocks of
`BLOCK_ROWS`, block k from numpy's PCG64 seeded by SeedSequence(seed, spawn_key=(task, split, k)),
so splits never share a random stream. Lengths are uniform in [min_length, max_length]. Bump
`GENERATOR_VERSION` whenever the rows for a given seed change.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hf_copycot.tasks import (
    copy,
    ed,
    lis,
    local_dp,
    phonebook,
    prefix_ngram,
    stream_dp,
    suffix_ngram,
)
from hf_copycot.tasks._spec import SHARED_COLUMNS as _SHARED_TYPES
from hf_copycot.tasks._spec import (
    SIZES,
    SPLITS,
    ArenaSpec,
    TaskSpec,
    check_alphabet,
    check_int,
    dp_inputs,
    length_as,
    lengths_table,
    rows_table,
)

GENERATOR_VERSION = "2.0.0"
BLOCK_ROWS = 8192
SHARED_COLUMNS = tuple(_SHARED_TYPES)

# The registry: every task hf-copycot knows, in the order the dataset card and the arena list them.
SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        copy.SPEC,
        prefix_ngram.SPEC,
        suffix_ngram.SPEC,
        phonebook.SPEC,
        lis.SPEC,
        ed.SPEC,
        local_dp.SPEC,
        stream_dp.SPEC,
    )
}


class _TaskNames(Sequence[str]):
    """The registered task names, read live (a task registered later shows up)."""

    def __getitem__(self, index):  # type: ignore[override]
        return tuple(SPECS)[index]

    def __len__(self) -> int:
        return len(SPECS)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(SPECS))

    def __contains__(self, name: object) -> bool:
        return name in SPECS

    def __repr__(self) -> str:
        return repr(tuple(SPECS))


TASK_NAMES: Sequence[str] = _TaskNames()

__all__ = [
    "BLOCK_ROWS",
    "GENERATOR_VERSION",
    "SHARED_COLUMNS",
    "SIZES",
    "SPECS",
    "SPLITS",
    "TASK_NAMES",
    "ArenaSpec",
    "TaskSpec",
    "check_alphabet",
    "check_int",
    "columns",
    "default_params",
    "dp_inputs",
    "generate",
    "get_spec",
    "length_as",
    "lengths_table",
    "problem_keys",
    "records",
    "register",
    "registered_elsewhere",
    "restore_registered",
    "rows_table",
    "split_lengths",
    "split_rows",
    "unregister",
]


# Tasks added with `register`: name -> the module that declares the spec. A spawned process (the
# workers of `copycot reproduce`) starts with the built-in tasks only; `restore_registered` there
# re-imports these modules, so a registered task reaches every process that runs a job.
_ADDED: dict[str, str] = {}


def register(spec: TaskSpec, module: str | None = None) -> TaskSpec:
    """Add a task: from here on every part of hf-copycot offers it (tests/toy_task.py shows one).

    `module` is where the spec is declared (by default its builder's module): worker processes
    import it to register the same task, so it must be importable by that name.
    """
    if spec.name in SPECS:
        raise ValueError(f"a task named {spec.name!r} is already registered; pick another name")
    unknown = set(spec.extra_columns) & set(SHARED_COLUMNS)
    if unknown:
        raise ValueError(f"task {spec.name!r} redefines the shared column {sorted(unknown)[0]!r}")
    SPECS[spec.name] = spec
    _ADDED[spec.name] = module or spec.build.__module__
    return spec


def unregister(name: str) -> None:
    """Remove a task added with `register`."""
    SPECS.pop(name, None)
    _ADDED.pop(name, None)


def registered_elsewhere() -> dict[str, str]:
    """Tasks added with `register` in this process: name -> module declaring its spec."""
    return dict(_ADDED)


def restore_registered(added: Mapping[str, str]) -> None:
    """Register, in this process, the tasks another process added (`registered_elsewhere()`).

    Each module is imported; a module that registers its task on import is left at that, else its
    module-level `TaskSpec` of that name is registered.
    """
    for name, module_name in added.items():
        if name in SPECS:
            continue
        module = importlib.import_module(module_name)
        if name in SPECS:
            continue
        found = [
            value
            for value in vars(module).values()
            if isinstance(value, TaskSpec) and value.name == name
        ]
        if not found:
            raise ValueError(
                f"task {name!r} was registered from module {module_name!r}, which declares no "
                f"TaskSpec named {name!r}; pass register(spec, module=...) naming the module that does"
            )
        register(found[0], module_name)


def get_spec(task: str) -> TaskSpec:
    if task not in SPECS:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(TASK_NAMES)}")
    return SPECS[task]


def records(rows: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """Columns as one dict per row: what TaskSpec's per-row functions take."""
    names = list(rows)
    return [{name: rows[name][i] for name in names} for i in range(len(rows["prompt"]))]


def problem_keys(task: str, rows: Mapping[str, Sequence]) -> list[str]:
    """What identifies each row's problem: its prompt, or the task's `problem_key`."""
    key = get_spec(task).problem_key
    if key is None:
        return list(rows["prompt"])
    return [key(row) for row in records(rows)]


def default_params(task: str) -> dict[str, Any]:
    """The task's keyword parameters and their defaults."""
    return dict(get_spec(task).params)


def columns(task: str) -> dict[str, str]:
    """Every column of a task's rows and its type ("string", "int32" or "list<int32>")."""
    return {**_SHARED_TYPES, **get_spec(task).extra_columns}


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of: {', '.join(SIZES)}")
    return size


def split_lengths(task: str, size: str = "small") -> dict[str, tuple[int, int]]:
    """Inclusive (min_length, max_length) per split; test_long starts above the train maximum."""
    return dict(get_spec(task).lengths[_check_size(size)])


def split_rows(task: str, size: str = "small") -> dict[str, int]:
    """Number of rows per split of the dataset repo."""
    return dict(get_spec(task).rows[_check_size(size)])


@functools.lru_cache(maxsize=16)
def _decimals(first: int, count: int) -> tuple[str, ...]:
    """str(i) for a block of row numbers; cached because every call re-uses the same blocks."""
    return tuple(map(str, range(first, first + count)))


def _stream_key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def resolve_params(task: str, params: Mapping[str, Any]) -> dict[str, Any]:
    spec = get_spec(task)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        known = ", ".join(spec.params) or "none"
        raise ValueError(f"unknown parameter {unknown[0]!r} for task {task!r}; known: {known}")
    return {**spec.params, **params}


def check_request(
    task: str,
    num_rows: int,
    seed: int,
    min_length: int,
    max_length: int,
    params: Mapping[str, Any],
    split: str = "train",
) -> dict[str, Any]:
    """Validate a generate() call; returns the full parameter dict. Raises a one-line ValueError."""
    spec = get_spec(task)
    for name, value in (("num_rows", num_rows), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not isinstance(split, str) or not split or not all(32 < ord(c) < 127 for c in split):
        raise ValueError(
            f"split must be a non-empty name of printable ASCII characters, got {split!r}"
        )
    for name, value in (("min_length", min_length), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if min_length > max_length:
        raise ValueError(f"min_length {min_length} is larger than max_length {max_length}")
    full = resolve_params(task, params)
    spec.check(full, int(min_length), int(max_length))
    return full


def generate(
    task: str,
    num_rows: int,
    *,
    seed: int,
    min_length: int,
    max_length: int,
    split: str = "train",
    **params: Any,
) -> dict[str, list]:
    """`num_rows` rows of `task` as columns: id, task, prompt, cot, answer, length, then extras."""
    full = check_request(task, num_rows, seed, min_length, max_length, params, split)
    spec = SPECS[task]
    parts: list[dict[str, list]] = []
    for block, first in enumerate(range(0, num_rows, BLOCK_ROWS)):
        count = min(BLOCK_ROWS, num_rows - first)
        entropy = np.random.SeedSequence(
            int(seed), spawn_key=(_stream_key(task), _stream_key(split), block)
        )
        rng = np.random.default_rng(entropy)
        lengths = rng.integers(min_length, max_length + 1, size=count)
        built = spec.build(rng, lengths, full)
        prefix = f"{task}-{split}-{seed}-"
        parts.append(
            {
                "id": [prefix + number for number in _decimals(first, count)],
                "task": [task] * count,
                "prompt": built["prompt"],
                "cot": built["cot"],
                "answer": built["answer"],
                "length": lengths.tolist(),
                **{name: built[name] for name in spec.extra_columns},
            }
        )
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, list] = {name: [] for name in columns(task)}
    for part in parts:
        for name, values in merged.items():
            values.extend(part[name])
    return merged
