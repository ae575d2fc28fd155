# Copyright 2025 The hf-copycot developers. Licensed under the Apache License, Version 2.0.
"""dp_cot_accuracy: is a generated chain of thought for a DP problem right, step by step?

The DP is recomputed from each prompt, so a right answer reached through wrong steps gets no step
credit and no reference chain of thought is needed. Self-contained on purpose (imports only
evaluate, datasets and numpy) so that `evaluate.load("hf-copycot/dp_cot_accuracy")` works from the
Hub without the hf-copycot package.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import os
import re
from collections.abc import Sequence

import datasets
import evaluate
import numpy as np

# Where this module lives: its Hub Space and the code it comes from (this module is loaded alone
# from the Hub, so it names them itself; tests/test_metrics_modules.py keeps them current).
_HOMEPAGE = "https://huggingface.co/spaces/hf-copycot/dp_cot_accuracy"
_CODEBASE_URL = "https://github.com/hf-copycot/hf-copycot/tree/main/eval/dp_cot_accuracy"
_LICENSE = "apache-2.0"

_CITATION = """\
@inproceedings{feng2023towards,
  title     = {Towards Revealing the Mystery behind Chain of Thought: A Theoretical Perspective},
  author    = {Feng, Guhao and Zhang, Bohang and Gu, Yuntian and Ye, Haotian and He, Di and Wang, Liwei},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2023}
}
@article{ren2024exploring,
  title   = {Exploring the Limitations of Mamba in COPY and CoT Reasoning},
  author  = {Ren, Ruifeng and Li, Zhicong and Liu, Yong},
  journal = {arXiv preprint arXiv:2410.03810},
  year    = {2024}
}
"""

_DESCRIPTION = """\
Scores chain-of-thought dynamic programming (the `lis`, `ed`, `local_dp` and `stream_dp` configs of
the copy-cot dataset, after Feng et al. 2023 and Ren et al. 2024) on what a model generates: the generation
`d1 d2 ... dn|answer` (rows of the DP table joined by "," for edit distance) is parsed, the final
answer is compared with the reference, and every intermediate DP value is checked against the DP
recomputed from the prompt. A generation is cut at its first end marker before scoring; one that
does not parse is scored as wrong.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the generated text after the prompt: `cot + answer`, e.g.
        "1 1 2 1 3|3" for LIS, or the answer alone ("3") with `cot=False`.
    references (`list` of `str`): the expected final answer (the dataset's `answer`, e.g. "3").
    prompts (`list` of `str`, optional): the prompts (the dataset's `prompt`), needed to check the
        steps: "3 1 4 1 5|" (lis), "abc|abd|" (ed), "m=2:3 1 4 1 5|" (local_dp). Without them only
        the answer is scored and the step scores are `None`. For stream_dp, whose inputs come
        inside the generation ("3:3 1:1 4:7|7"), the problem as "m=2:3 1 4|".
    task (`str`): "lis", "ed", "local_dp" or "stream_dp". Defaults to "lis".
    cot (`bool`): whether the generation carries the chain of thought. Defaults to `True`.
    lengths (`list` of `int`, optional): the size to group by (the dataset's `length` column);
        defaults to the size read off each prompt (sequence length, or `len(a)` for ed).
    length_buckets (`int` or `list` of `int`, optional): group `by_length` into this many
        equal-width buckets, or into the buckets `[e0, e1), [e1, e2), ...` given by these edges.
    end_markers (`list` of `str`, optional): a generation is cut at the first occurrence of any of
        these. Defaults to `[".", "\\n", "</s>", "<|endoftext|>"]`.
Returns:
    answer_accuracy (`float`, 0 to 1): share of generations with the right final answer.
    step_accuracy (`float` 0 to 1, or `None`): mean over examples of the DP values generated right,
        position by position, divided by the larger of the expected and generated counts (so both
        missing and extra steps cost). `None` with `cot=False` or without `prompts`.
    chain_exact_match (`float` 0 to 1, or `None`): share of generations with every step right and
        no step missing or extra. `None` as above.
    exact_match (`float` 0 to 1, or `None`): share with every step and the answer right. `None` as
        above.
    parse_rate (`float`, 0 to 1): share of generations in the expected shape (integers, "|", an
        integer answer; the answer alone with `cot=False`), right or wrong.
    by_length (`dict` or `None`): for each length (or bucket, as a string key) the `count` of
        examples and each score above over those examples; `None` with neither `prompts` nor
        `lengths`.
Examples:
    >>> dp_cot_accuracy = evaluate.load("hf-copycot/dp_cot_accuracy")
    >>> results = dp_cot_accuracy.compute(
    ...     predictions=["1 1 2 1 3|3", "1 1 2 2 3|3", "1 1 2|", "oops"],
    ...     references=["3", "3", "3", "3"],
    ...     prompts=["3 1 4 1 5|"] * 4,
    ...     task="lis",
    ... )
    >>> results["answer_accuracy"], results["step_accuracy"], results["chain_exact_match"]
    (0.5, 0.6, 0.25)
    >>> results["parse_rate"]
    0.5

    Edit distance as Feng et al. (insert and delete cost 2, substitute 3, boundary dp[i][0] = i,
    dp[0][j] = j), one DP row per character of `a`:
    >>> results = dp_cot_accuracy.compute(
    ...     predictions=["0 2,2 3|3"], references=["3"], prompts=["ab|ac|"], task="ed"
    ... )
    >>> results["exact_match"], results["by_length"]["2"]["step_accuracy"]
    (1.0, 1.0)

    Without chain of thought only the answer is scored:
    >>> results = dp_cot_accuracy.compute(
    ...     predictions=["7", "8"], references=["7", "7"], prompts=["m=1:3 4|", "m=1:3 4|"],
    ...     task="local_dp", cot=False,
    ... )
    >>> results["answer_accuracy"], results["step_accuracy"]
    (0.5, None)

    A streamed DP, d_i = (x_i + d_(i-m)) mod 10, its inputs fed inside the generation:
    >>> results = dp_cot_accuracy.compute(
    ...     predictions=["3:3 1:1 4:7|7", "3:3 1:1 4:6|6"], references=["7", "7"],
    ...     prompts=["m=2:3 1 4|"] * 2, task="stream_dp",
    ... )
    >>> results["answer_accuracy"], round(results["step_accuracy"], 4)
    (0.5, 0.8333)
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

TASKS = ("lis", "ed", "local_dp", "stream_dp")
PROMPT_FORMATS = {
    "lis": '"x1 x2 ... xn|" (integers joined by spaces, then "|")',
    "ed": '"a|b|" (two non-empty strings, each followed by "|")',
    "local_dp": '"m=M:x1 x2 ... xn|" (M >= 1, integers joined by spaces, then "|")',
    "stream_dp": '"m=M:x1 x2 ... xn|" or "m=M mod K:x1 ...|" (M >= 1, K 2..10, digits joined by '
    'spaces, then "|")',
}
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also accept other scripts
_LOCAL_DP_PROMPT = re.compile(r"m=([0-9]+)(?: mod ([0-9]+))?:(.*)\|\s*", re.DOTALL)


def _integers(text: str) -> list[int] | None:
    """The space-separated integers in `text`, or None if there are none or any token is not one."""
    tokens = text.split()
    if not tokens or not all(_INTEGER.fullmatch(token) for token in tokens):
        return None
    return [int(token) for token in tokens]


def lis_steps(values: Sequence[int]) -> list[int]:
    """d_i: length of the longest strictly increasing subsequence ending at values[i]."""
    smallest_tail: list[int] = []  # smallest_tail[k]: least last value of an increasing run of k+1
    steps = []
    for value in values:
        k = bisect.bisect_left(smallest_tail, value)
        smallest_tail[k : k + 1] = [value]
        steps.append(k + 1)
    return steps


def edit_distance_rows(a: str, b: str) -> list[list[int]]:
    """Rows dp[1..len(a)][1..len(b)] of Feng et al.'s edit distance: insert/delete 2, substitute
    3, from their boundary dp[i][0] = i, dp[0][j] = j (so their data scores as they computed it)."""
    previous = list(range(len(b) + 1))
    rows = []
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            substitute = previous[j - 1] + (0 if char_a == char_b else 3)
            current.append(min(previous[j] + 2, current[j - 1] + 2, substitute))
        rows.append(current[1:])
        previous = current
    return rows


def local_dp_steps(values: Sequence[int], m: int) -> list[int]:
    """dp_1 = x_1, dp_i = x_i + min(dp_max(1,i-m) .. dp_(i-1)), with a sliding-window minimum."""
    steps: list[int] = []
    window: collections.deque[int] = collections.deque()  # indices, their dp increasing
    for i, value in enumerate(values):
        if i == 0:
            steps.append(value)
        else:
            while window[0] < i - m:
                window.popleft()
            steps.append(value + steps[window[0]])
        while window and steps[window[-1]] >= steps[i]:
            window.pop()
        window.append(i)
    return steps


def stream_dp_steps(values: Sequence[int], m: int, modulus: int = 10) -> list[int]:
    """d_i = (x_i + d_(i-m)) mod `modulus`, with d_j = 0 for j <= 0."""
    steps: list[int] = []
    for i, value in enumerate(values):
        steps.append((value + (steps[i - m] if i >= m else 0)) % modulus)
    return steps


def solve_prompt(task: str, prompt: str) -> tuple[list[list[int]], str, int] | None:
    """(expected cot rows, expected answer, size) recomputed from a prompt; None if it won't parse."""
    if task == "ed":
        parts = prompt.split("|")
        if len(parts) != 3 or parts[2].strip() or not parts[0] or not parts[1]:
            return None
        rows = edit_distance_rows(parts[0], parts[1])
        return rows, str(rows[-1][-1]), len(parts[0])
    if task == "lis":
        body, bar, rest = prompt.rpartition("|")
        values = _integers(body) if bar and not rest.strip() else None
        if values is None:
            return None
        steps = lis_steps(values)
        return [steps], str(max(steps)), len(values)
    match = _LOCAL_DP_PROMPT.fullmatch(prompt)
    values = _integers(match.group(3)) if match else None
    if values is None or int(match.group(1)) < 1:
        return None
    if task == "stream_dp":
        steps = stream_dp_steps(values, int(match.group(1)), int(match.group(2) or 10))
    elif match.group(2) is None:
        steps = local_dp_steps(values, int(match.group(1)))
    else:
        return None
    return [steps], str(steps[-1]), len(values)


def parse_generation(
    generation: str, cot: bool, task: str = "lis"
) -> tuple[list[list[str]], str | None, bool]:
    """(cot rows of tokens, answer or None, parsed) read off a generation already cut at its end.

    Tokens stay strings so that "02" does not pass for 2; `parsed` says the whole generation has the
    expected shape, whether or not its values are right. A `stream_dp` generation carries its
    inputs: `x1:d1 x2:d2 ...|answer` with chain of thought, `x1 x2 ...|answer` without.
    """
    if task == "stream_dp" and not cot:
        generation = generation.rpartition("|")[2]
    if not cot:
        answer = generation.strip()
        ok = bool(_INTEGER.fullmatch(answer))
        return [], answer if ok else None, ok
    chain, bar, answer = generation.partition("|")
    if task == "stream_dp":  # keep the state after each "input:"
        chain = " ".join(step.partition(":")[2] or "?" for step in chain.split())
    rows = [row.split() for row in chain.split(",")]
    answer = answer.strip()
    answer_ok = bool(bar) and bool(_INTEGER.fullmatch(answer))
    rows_ok = all(row and all(_INTEGER.fullmatch(token) for token in row) for row in rows)
    return rows, answer if answer_ok else None, answer_ok and rows_ok


def score_steps(expected: list[list[int]], generated: list[list[str]]) -> tuple[int, int]:
    """(steps right, steps counted): rows aligned by index, values by position within a row."""
    right = counted = 0
    for want, got in itertools.zip_longest(expected, generated, fillvalue=[]):
        counted += max(len(want), len(got))
        right += sum(str(value) == token for value, token in zip(want, got, strict=False))
    return right, counted


def score_chains(
    predictions: Sequence[str],
    references: Sequence[str],
    prompts: Sequence[str] | None = None,
    task: str = "lis",
    cot: bool = True,
    end_markers: Sequence[str] = DEFAULT_END_MARKERS,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Per-example score arrays, and the sizes read off the prompts (None without prompts).

    Raises ValueError for an unknown task, a prompt that does not parse, or a reference that
    disagrees with the DP recomputed from its prompt (misaligned columns); never for a generation.
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not a DP-CoT task; expected one of {', '.join(TASKS)}")
    if not isinstance(cot, bool):
        raise ValueError(f"cot={cot!r}; expected True or False")
    solved = None
    if prompts is not None:
        check_texts("prompts", prompts, expected_len=len(predictions))
        solved = []
        for i, prompt in enumerate(prompts):
            solution = solve_prompt(task, prompt)
            if solution is None:
                raise ValueError(
                    f"prompts[{i}]={prompt[:60]!r} does not parse as a {task} prompt; expected "
                    f"{PROMPT_FORMATS[task]}"
                )
            if solution[1] != references[i].strip():
                raise ValueError(
                    f"references[{i}]={references[i]!r} but the {task} DP of prompts[{i}] gives "
                    f"{solution[1]!r}; are predictions, references and prompts aligned?"
                )
            solved.append(solution)
    answer, parsed, steps, chain, exact = [], [], [], [], []
    for i, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        rows, generated_answer, ok = parse_generation(
            cut_at_end_marker(prediction, end_markers), cot, task
        )
        answer.append(generated_answer == reference.strip())
        parsed.append(ok)
        if cot and solved is not None:
            right, counted = score_steps(solved[i][0], rows)
            steps.append(right / counted)
            chain.append(right == counted)
            exact.append(right == counted and answer[-1])
    scores = {"answer_accuracy": np.asarray(answer, dtype=np.float64)}
    if steps:
        scores["step_accuracy"] = np.asarray(steps, dtype=np.float64)
        scores["chain_exact_match"] = np.asarray(chain, dtype=np.float64)
        scores["exact_match"] = np.asarray(exact, dtype=np.float64)
    scores["parse_rate"] = np.asarray(parsed, dtype=np.float64)
    sizes = None if solved is None else np.asarray([size for *_, size in solved], dtype=np.int64)
    return scores, sizes


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DpCotAccuracy(TextInputsChecked, evaluate.Metric):
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
                "https://arxiv.org/abs/2305.15408",
                "https://arxiv.org/abs/2410.03810",
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        prompts=None,
        task="lis",
        cot=True,
        lengths=None,
        length_buckets=None,
        end_markers=DEFAULT_END_MARKERS,
    ):
        if len(predictions) == 0:
            raise ValueError("predictions is empty; expected at least one generation")
        check_texts("end_markers", end_markers)
        scores, sizes = score_chains(predictions, references, prompts, task, cot, end_markers)
        if lengths is not None:
            sizes = check_lengths("lengths", lengths, len(predictions))
        means = {name: float(values.mean()) for name, values in scores.items()}
        names = (
            "answer_accuracy",
            "step_accuracy",
            "chain_exact_match",
            "exact_match",
            "parse_rate",
        )
        results = {name: means.get(name) for name in names}
        results["by_length"] = (
            None if sizes is None else group_by_length(scores, sizes, length_buckets)
        )
        return results
