"""No train/test overlap by construction: training rows never repeat an evaluation problem.

A problem is its prompt, or what the task's `problem_key` says (a task whose input streams into
the completion, stream_dp, shares one prompt between many problems): `tasks.problem_keys`. The
functions below take and count those keys. Small length ranges hold few distinct problems, so a
training stream or a
train split drawn independently of the test rows repeats many of them (at the cpu preset's DP
sizes, 30 of 200 LIS and up to 80 of 200 local_dp test prompts). Here a training row whose prompt
is an evaluation prompt is dropped and replaced by a fresh row drawn from a stream of its own
(split name `train+1`, `train+2`, ...: still a pure function of the seed). Evaluation rows are
never touched, so `copycot evaluate` with the same seed scores the same rows as training did.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hf_copycot import tasks

MAX_REFILLS = 100  # rounds of replacement rows before a problem space counts as exhausted


def generate_excluding(
    task: str,
    num_rows: int,
    *,
    exclude: Collection[str],
    seed: int,
    split: str,
    min_length: int,
    max_length: int,
    params: Mapping[str, Any] | None = None,
) -> tuple[dict[str, list], int]:
    """`tasks.generate` without the rows whose problem is in `exclude`, refilled to `num_rows`.

    Returns (rows, how many were replaced). Raises ValueError if the length range has too few
    problems outside `exclude` to fill the rows.
    """
    params = dict(params or {})
    common = {"seed": seed, "min_length": min_length, "max_length": max_length, **params}
    rows = tasks.generate(task, num_rows, split=split, **common)
    if not exclude:
        return rows, 0
    kept = _without(task, rows, exclude)
    replaced = num_rows - len(kept["prompt"])
    refill = 0
    while len(kept["prompt"]) < num_rows:
        refill += 1
        if refill > MAX_REFILLS:
            raise ValueError(
                f"{task} lengths {min_length}-{max_length} leave too few problems outside the "
                f"evaluation rows to fill {num_rows} training rows; widen the length range"
            )
        more = tasks.generate(
            task, num_rows - len(kept["prompt"]), split=f"{split}+{refill}", **common
        )
        for name, values in _without(task, more, exclude).items():
            kept[name].extend(values)
    return kept, replaced


def _without(task: str, rows: dict[str, list], exclude: Collection[str]) -> dict[str, list]:
    keep = [i for i, key in enumerate(tasks.problem_keys(task, rows)) if key not in exclude]
    return {name: [values[i] for i in keep] for name, values in rows.items()}


def eval_prompts_in_train(
    train_keys: Collection[str], eval_keys: Mapping[str, Collection[str]]
) -> dict[str, int]:
    """Per evaluation split, its rows whose problem is also a training problem (both given as
    `tasks.problem_keys`; the name stays for the report field it fills)."""
    train = train_keys if isinstance(train_keys, (set, frozenset)) else set(train_keys)
    return {split: sum(key in train for key in keys) for split, keys in eval_keys.items()}
