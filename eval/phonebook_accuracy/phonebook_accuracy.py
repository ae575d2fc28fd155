# Copyright 2025 The hf-copycot developers. Licensed under the Apache License, Version 2.0.
"""phonebook_accuracy: does the model look up the right phone number in a book given in context?

Self-contained on purpose (imports only evaluate, datasets and numpy) so that
`evaluate.load("hf-copycot/phonebook_accuracy")` works from the Hub without the hf-copycot package.
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
_HOMEPAGE = "https://huggingface.co/spaces/hf-copycot/phonebook_accuracy"
_CODEBASE_URL = "https://github.com/hf-copycot/hf-copycot/tree/main/eval/phonebook_accuracy"
_LICENSE = "apache-2.0"

_CITATION = """\
@article{jelassi2024repeat,
  title   = {Repeat After Me: Transformers are Better than State Space Models at Copying},
  author  = {Jelassi, Samy and Brandfonbrener, David and Kakade, Sham M. and Malach, Eran},
  journal = {arXiv preprint arXiv:2402.01032},
  year    = {2024}
}
"""

_DESCRIPTION = """\
Scores phone-book lookup (the `phonebook` config of the copy-cot dataset, after Jelassi et al.
2024): the prompt is a book of `First Last: number` lines followed by a query `First Last:`, and the
model must generate the number. As Jelassi et al. score it, the first line of the generation,
stripped, is compared with the reference number (also stripped: the dataset's answer keeps the
space after the colon), so a generation that starts with a newline or ends its number with "." is
wrong. Options relax this: `skip_blank_lines=True` scores the first non-empty line, and
`end_markers` cuts the line at other markers too. Scores are reported overall and per phone-book size, the axis on which
Transformers and Mamba differ.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the generated text after the prompt, one per example.
    references (`list` of `str`): the expected number (the dataset's `answer`, e.g. " 6123456789").
    num_entries (`list` of `int`, optional): entries in each example's phone book (the dataset's
        `length` column); when given, scores are also reported per book size in `by_num_entries`.
    length_buckets (`int` or `list` of `int`, optional): group `by_num_entries` into this many
        equal-width buckets, or into the buckets `[e0, e1), [e1, e2), ...` given by these edges.
    end_markers (`list` of `str`, optional): the line ends at the first occurrence of any of
        these. Defaults to `["\\n"]`, Jelassi et al.'s rule (their decoded text keeps a trailing
        "." or EOS token on the line); `[".", "\\n", "</s>", "<|endoftext|>"]` is the other
        metrics' set.
    skip_blank_lines (`bool`, optional): score the first non-empty line rather than the first line
        (a lenient rule: a leading newline is forgiven). Defaults to `False`, as Jelassi et al.
Returns:
    exact_match (`float`, 0 to 1): share of generations whose first line is the right number.
    digit_accuracy (`float`, 0 to 1): mean over examples of the digits that agree position by
        position divided by the longer of the two numbers.
    by_num_entries (`dict` or `None`): for each book size (or bucket, as a string key) the `count`
        of examples and both scores over those examples; `None` without `num_entries`.
Examples:
    >>> phonebook_accuracy = evaluate.load("hf-copycot/phonebook_accuracy")
    >>> results = phonebook_accuracy.compute(
    ...     predictions=[" 6123456789\\nJohn Doe: 7", " 6123456780", "\\n 9876543210</s>", ""],
    ...     references=[" 6123456789", " 6123456789", " 9876543210", " 7000000000"],
    ...     num_entries=[20, 20, 40, 40],
    ... )
    >>> results["exact_match"], results["digit_accuracy"]
    (0.25, 0.475)
    >>> results["by_num_entries"]["20"]
    {'count': 2, 'exact_match': 0.5, 'digit_accuracy': 0.95}

    The lenient rule forgives the leading newline of the third generation:
    >>> phonebook_accuracy.compute(
    ...     predictions=["\\n 9876543210"], references=[" 9876543210"], skip_blank_lines=True
    ... )["exact_match"]
    1.0
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

# Jelassi et al. score `decoded.split("\n")[0].strip() == label`: nothing but the newline ends the
# line, so a trailing "." or a decoded EOS token makes the number wrong, as in their evaluation.
JELASSI_END_MARKERS = ("\n",)


def first_line(
    generation: str,
    end_markers: Sequence[str] = JELASSI_END_MARKERS,
    skip_blank_lines: bool = False,
) -> str:
    """The first line of a generation (the first non-empty one with `skip_blank_lines`), cut at an
    end marker and stripped."""
    lines = generation.split("\n")
    if skip_blank_lines:
        lines = [line for line in lines if line.strip()] or [""]
    return cut_at_end_marker(lines[0], end_markers).strip()


def score_lookups(
    predictions: Sequence[str],
    references: Sequence[str],
    end_markers: Sequence[str] = JELASSI_END_MARKERS,
    skip_blank_lines: bool = False,
) -> dict[str, np.ndarray]:
    """Per-example `exact_match` and `digit_accuracy` arrays."""
    exact, digits = [], []
    for prediction, reference in zip(predictions, references, strict=True):
        number = first_line(prediction, end_markers, skip_blank_lines)
        expected = reference.strip()
        longer = max(len(number), len(expected))
        exact.append(number == expected)
        digits.append(sum(map(str.__eq__, number, expected)) / longer if longer else 1.0)
    return {
        "exact_match": np.asarray(exact, dtype=np.float64),
        "digit_accuracy": np.asarray(digits, dtype=np.float64),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PhonebookAccuracy(TextInputsChecked, evaluate.Metric):
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
            reference_urls=["https://arxiv.org/abs/2402.01032"],
        )

    def _compute(
        self,
        predictions,
        references,
        num_entries=None,
        length_buckets=None,
        end_markers=JELASSI_END_MARKERS,
        skip_blank_lines=False,
    ):
        if len(predictions) == 0:
            raise ValueError("predictions is empty; expected at least one generation")
        check_texts("end_markers", end_markers)
        if not isinstance(skip_blank_lines, bool):
            raise ValueError(f"skip_blank_lines must be True or False, got {skip_blank_lines!r}")
        scores = score_lookups(predictions, references, end_markers, skip_blank_lines)
        by_num_entries = None
        if num_entries is not None:
            sizes = check_lengths("num_entries", num_entries, len(predictions))
            by_num_entries = group_by_length(scores, sizes, length_buckets)
        return {
            **{name: float(values.mean()) for name, values in scores.items()},
            "by_num_entries": by_num_entries,
        }
