# Copyright 2025 The hf-copycot developers. Licensed under the Apache License, Version 2.0.
"""copy_accuracy: how well a model's generation reproduces a string it was asked to copy.

Self-contained on purpose (imports only evaluate, datasets and numpy) so that
`evaluate.load("hf-copycot/copy_accuracy")` works from the Hub without the hf-copycot package.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import datasets
import evaluate
import numpy as np

# Where this module lives: its Hub Space and the code it comes from (this module is loaded alone
# from the Hub, so it names them itself; tests/test_metrics_modules.py keeps them current).
_HOMEPAGE = "https://huggingface.co/spaces/hf-copycot/copy_accuracy"
_CODEBASE_URL = "https://github.com/hf-copycot/hf-copycot/tree/main/eval/copy_accuracy"
_LICENSE = "apache-2.0"

_CITATION = """\
@article{jelassi2024repeat,
  title   = {Repeat After Me: Transformers are Better than State Space Models at Copying},
  author  = {Jelassi, Samy and Brandfonbrener, David and Kakade, Sham M. and Malach, Eran},
  journal = {arXiv preprint arXiv:2402.01032},
  year    = {2024}
}
@article{ren2024exploring,
  title   = {Exploring the Limitations of Mamba in COPY and CoT Reasoning},
  author  = {Ren, Ruifeng and Li, Zhicong and Liu, Yong},
  journal = {arXiv preprint arXiv:2410.03810},
  year    = {2024}
}
"""

_DESCRIPTION = """\
Scores what a model actually generates on a copy task (copy, prefix/suffix n-gram lookup of the
copy-cot dataset): string-level exact match, per-character accuracy that charges both truncation and
run-on, and the length of the correct prefix, i.e. where copying breaks down. Each generation is cut
at its first end marker ("." , a newline or an EOS text such as "</s>") before scoring. Scores are
also reported per string length (or length bucket), the axis on which Transformers and Mamba differ.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the generated text after the prompt, one per example.
    references (`list` of `str`): the string that should have been copied (the dataset's `answer`).
    lengths (`list` of `int`, optional): the length to group by (the dataset's `length` column);
        defaults to the length of each reference.
    length_buckets (`int` or `list` of `int`, optional): group `by_length` into this many
        equal-width buckets, or into the buckets `[e0, e1), [e1, e2), ...` given by these edges.
        Defaults to one group per distinct length.
    end_markers (`list` of `str`, optional): a generation is cut at the first occurrence of any of
        these. Defaults to `[".", "\\n", "</s>", "<|endoftext|>"]`; pass `[]` to score it whole.
Returns:
    exact_match (`float`, 0 to 1): share of generations equal to their reference.
    char_accuracy (`float`, 0 to 1): mean over examples of the characters that agree position by
        position divided by the longer of generation and reference.
    prefix_length (`float`, 0 to max length): mean number of leading characters copied right.
    by_length (`dict`): for each length (or bucket, as a string key) the `count` of examples and
        the three scores above over those examples.
Examples:
    >>> copy_accuracy = evaluate.load("hf-copycot/copy_accuracy")
    >>> results = copy_accuracy.compute(
    ...     predictions=["abcde", "abcxe", "abc.junk", "abcdefg</s>"],
    ...     references=["abcde", "abcde", "abcde", "abcde"],
    ... )
    >>> results["exact_match"], round(results["char_accuracy"], 4), results["prefix_length"]
    (0.25, 0.7786, 4.0)
    >>> results["by_length"]["5"]["count"]
    4

    Grouping by the dataset's `length` column, in buckets:
    >>> results = copy_accuracy.compute(
    ...     predictions=["ab", "abcd", "xbcdefgh"],
    ...     references=["ab", "abcd", "abcdefgh"],
    ...     lengths=[2, 4, 8],
    ...     length_buckets=[0, 5, 10],
    ... )
    >>> {bucket: scores["exact_match"] for bucket, scores in results["by_length"].items()}
    {'0-4': 1.0, '5-9': 0.0}
"""

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

# Characters compared per numpy chunk: bounds memory (4 bytes a character) when a few strings are
# very long and the rest short, since each chunk is padded to its longest string.
_CHUNK_CHARS = 1 << 22


def _chunks(widths_sorted: np.ndarray, budget: int):
    """Consecutive [start, stop) ranges whose rows times their widest row stay within `budget`."""
    start, total = 0, len(widths_sorted)
    while start < total:
        stop = min(total, start + max(1, budget // max(int(widths_sorted[start]), 1)))
        while stop - start > 1 and (stop - start) * int(widths_sorted[stop - 1]) > budget:
            stop = start + max(1, budget // max(int(widths_sorted[stop - 1]), 1))
        yield start, stop
        start = stop


def _as_codepoints(texts: list[str], width: int) -> np.ndarray:
    """A (len(texts), width) array of Unicode code points, zero-padded."""
    width = max(width, 1)
    return np.array(texts, dtype=f"<U{width}").view(np.uint32).reshape(len(texts), width)


def score_copies(
    predictions: Sequence[str],
    references: Sequence[str],
    end_markers: Sequence[str] = DEFAULT_END_MARKERS,
) -> dict[str, np.ndarray]:
    """Per-example `exact_match`, `char_accuracy` and `prefix_length` arrays (vectorised).

    Strings are compared as rows of code points, in chunks of similar length, so 100k pairs cost a
    few numpy passes and one 1e6-character string does not pad every other row to 1e6.
    """
    cut = [cut_at_end_marker(text, end_markers) for text in predictions]
    total = len(cut)
    pred_len = np.fromiter(map(len, cut), dtype=np.int64, count=total)
    ref_len = np.fromiter(map(len, references), dtype=np.int64, count=total)
    exact = np.fromiter(map(str.__eq__, cut, references), dtype=bool, count=total)
    matches = np.zeros(total, dtype=np.int64)
    prefix = np.zeros(total, dtype=np.int64)
    widths = np.maximum(pred_len, ref_len)
    order = np.argsort(widths, kind="stable")
    for start, stop in _chunks(widths[order], _CHUNK_CHARS):
        rows = order[start:stop]
        width = int(widths[rows[-1]])
        pred = _as_codepoints([cut[i] for i in rows], width)
        ref = _as_codepoints([references[i] for i in rows], width)
        # Padding is 0 in both arrays, so agreement counts only inside the shorter string.
        inside = np.arange(pred.shape[1]) < np.minimum(pred_len[rows], ref_len[rows])[:, None]
        agree = (pred == ref) & inside
        matches[rows] = agree.sum(axis=1)
        first_miss = np.argmin(agree, axis=1)  # 0 when every position agrees
        prefix[rows] = np.where(agree.all(axis=1), agree.shape[1], first_miss)
    longer = np.maximum(widths, 1)
    char_accuracy = np.where(widths == 0, 1.0, matches / longer)
    return {
        "exact_match": exact.astype(np.float64),
        "char_accuracy": char_accuracy,
        "prefix_length": prefix.astype(np.float64),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CopyAccuracy(TextInputsChecked, evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric",
            homepage=_HOMEPAGE,
            license=_LICENSE,
            codebase_urls=[_CODEBASE_URL],
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                }
            ),
            reference_urls=[
                "https://arxiv.org/abs/2402.01032",
                "https://arxiv.org/abs/2410.03810",
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        lengths=None,
        length_buckets=None,
        end_markers=DEFAULT_END_MARKERS,
    ):
        if len(predictions) == 0:
            raise ValueError("predictions is empty; expected at least one generation")
        check_texts("end_markers", end_markers)
        if lengths is None:
            lengths = np.fromiter(map(len, references), dtype=np.int64, count=len(references))
        else:
            lengths = check_lengths("lengths", lengths, len(predictions))
        scores = score_copies(predictions, references, end_markers)
        return {
            **{name: float(values.mean()) for name, values in scores.items()},
            "by_length": group_by_length(scores, lengths, length_buckets),
        }
