# Copyright 2025 The hf-copycot developers. Licensed under the Apache License, Version 2.0.
"""The one source of the helpers every metric module shares.

Each module in eval/<name>/ is self-contained (`evaluate.load` fetches one Space's files alone, and
the modules import only evaluate, datasets and numpy), so each carries a copy of the block below,
between its `# >>> shared helpers` and `# <<< shared helpers` lines. Edit the block here and run
`make metrics` (eval/stamp_helpers.py) to write the copies; a test fails while one is stale.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np

# >>> shared helpers: stamped by `make metrics` from eval/shared_helpers.py (edit it there, not
# here); each module carries a copy so that it loads from the Hub on its own.
DEFAULT_END_MARKERS = (".", "\n", "</s>", "<|endoftext|>")


def cut_at_end_marker(text: str, end_markers: Sequence[str] = DEFAULT_END_MARKERS) -> str:
    """The generation up to (not including) the first occurrence of any end marker."""
    end = len(text)
    for marker in end_markers:
        if marker:
            found = text.find(marker, 0, end)
            if found != -1:
                end = found
    return text[:end]


def check_texts(name: str, values: object, expected_len: int | None = None) -> None:
    """Raise a one-line ValueError unless `values` is a list of str (of `expected_len` items)."""
    is_vector = isinstance(values, np.ndarray) and values.ndim == 1
    if isinstance(values, str) or not (isinstance(values, Sequence) or is_vector):
        raise ValueError(f"{name} must be a list of str, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{name}[{i}] is {type(value).__name__}; expected str")
    if expected_len is not None and len(values) != expected_len:
        raise ValueError(
            f"{name} has {len(values)} items but predictions has {expected_len}; "
            "pass one per prediction"
        )


def check_lengths(name: str, values: object, expected_len: int) -> np.ndarray:
    """`values` as an int64 array of `expected_len` non-negative ints, or a one-line ValueError."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ValueError(f"{name} must be a list of int, got {type(values).__name__}")
    if len(values) != expected_len:
        raise ValueError(
            f"{name} has {len(values)} items but predictions has {expected_len}; "
            "pass one per prediction"
        )
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}[{i}] is {value!r}; expected a non-negative int")
    return np.asarray(values, dtype=np.int64).reshape(-1)


def group_by_length(
    scores: dict[str, np.ndarray], lengths: np.ndarray, length_buckets: object = None
) -> dict[str, dict[str, float]]:
    """Each score's mean per length (or per bucket of lengths), keyed by a string label."""
    if length_buckets is None:
        edges = np.unique(lengths)
        labels = [str(int(edge)) for edge in edges]
        group = np.searchsorted(edges, lengths)
    else:
        if isinstance(length_buckets, (int, np.integer)) and not isinstance(length_buckets, bool):
            if length_buckets < 1:
                raise ValueError(f"length_buckets={length_buckets}; expected at least 1 bucket")
            low, high = int(lengths.min()), int(lengths.max()) + 1
            edges = np.unique(np.linspace(low, high, int(length_buckets) + 1).round().astype(int))
        else:
            edges = np.asarray(length_buckets)
            if (
                edges.ndim != 1
                or len(edges) < 2
                or not np.issubdtype(edges.dtype, np.integer)
                or np.any(np.diff(edges) <= 0)
            ):
                raise ValueError(
                    f"length_buckets={length_buckets!r}; expected an int or an increasing list "
                    "of at least two int edges"
                )
        # Bucket k is [edges[k], edges[k+1]); -1 and len(edges)-1 catch lengths outside the edges.
        group = np.searchsorted(edges, lengths, side="right")
        labels = [f"<{edges[0]}"]
        labels += [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]
        labels += [f">={edges[-1]}"]
    counts = np.bincount(group, minlength=len(labels))
    sums = {
        name: np.bincount(group, weights=values, minlength=len(labels))
        for name, values in scores.items()
    }
    return {
        label: {
            "count": int(counts[k]),
            **{name: float(sums[name][k] / counts[k]) for name in scores},
        }
        for k, label in enumerate(labels)
        if counts[k] > 0
    }


class TextInputsChecked:
    """Checks predictions and references before evaluate's add_batch, which casts any value to str."""

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of generations and their references."""
        check_texts("predictions", predictions)
        check_texts("references", references, expected_len=len(predictions))
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one generation and its reference."""
        check_texts("prediction", [prediction])
        check_texts("reference", [reference])
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Compute the scores of everything added so far and of `predictions`/`references`."""
        try:
            return super().compute(predictions=predictions, references=references, **kwargs)
        except ValueError:
            # evaluate keeps its cache file locked when _compute raises, so the next call would
            # wait for the lock and write a new file; release and delete it as a success does.
            locks = getattr(self, "filelocks", None) or []
            files = zip(locks, getattr(self, "file_paths", None) or [], strict=False)
            for lock, path in files:
                self.data = None
                if os.path.exists(path):
                    os.remove(path)
                lock.release()
            self.filelocks, self.file_paths = [], []
            raise


# <<< shared helpers
