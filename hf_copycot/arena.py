"""The copy arena's logic: examples in the dataset's formats, scoring and highlighting, the models
on offer, and a race that streams two models' greedy generations side by side.

No Gradio here: the Space (`spaces/copy_arena/app.py`, installed as `hf_copycot.spaces.copy_arena`)
lays this out in a browser, and `copycot space` serves it. Keeping the logic apart lets tests
exercise it directly and lets the Space run anywhere `hf_copycot` is installed. What the arena
offers per task (its label, a prompt from a typed string, the size control) is the task's own
declaration (`TaskSpec.arena`), so a registered task shows up here without an edit.

Scores are computed here, from the same character alignment that draws the highlight, so the
numbers and the colours can never disagree; they follow `eval/copy_accuracy`'s definitions
(generation cut at the first end marker, exact match, characters agreeing position by position over
the longer string, correct prefix), and a test holds the two equal. The metric module itself is not
called per request: it lives outside the package (a deployed Space has only `hf_copycot`), and
`evaluate.load` plus an Arrow write per streamed token would cost more than the token.
"""

from __future__ import annotations

import collections
import json
import logging
import string
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from hf_copycot import tasks
from hf_copycot.errors import ArenaError, ModelLoadError
from hf_copycot.inference_cost import (
    CacheMemory,
    cache_memory,
    decode_speed,
    format_bytes,
    greedy_stream,
)

logger = logging.getLogger(__name__)

ALPHABETS: dict[str, str] = {
    "lowercase a-z": string.ascii_lowercase,
    "digits 0-9": string.digits,
    "binary 01": "01",
    "letters a-z A-Z": string.ascii_letters,
    "lowercase + digits": string.ascii_lowercase + string.digits,
}
END_MARKERS = (".", "\n")  # eval/copy_accuracy cuts here (and at EOS, where the loop stops)
RUN_ON_CHARS = 8  # a generation may run this far past the expected answer before it is cut
FORBIDDEN_CHARS = "|."  # the delimiter and an end marker


__all__ = ["ArenaError", "build_example", "race", "sweep", "task_choices", "typed_tasks"]


def task_choices() -> list[tuple[str, str]]:
    """(label, task) for the task dropdown: every registered task the arena can offer."""
    return [(spec.arena.label, name) for name, spec in tasks.SPECS.items() if spec.arena]


def typed_tasks() -> list[str]:
    """Tasks whose prompt is built from a string typed into the text box."""
    return [name for name, spec in tasks.SPECS.items() if spec.arena and spec.arena.typed_prompt]


def size_control(task: str) -> str:
    """Which control sets the task's size in the page: "length" or "entries"."""
    return _arena_spec(task).size_control


def _arena_spec(task: str) -> tasks.ArenaSpec:
    spec = tasks.SPECS.get(task)
    if spec is None or spec.arena is None:
        names = ", ".join(name for _, name in task_choices())
        raise ArenaError(f"unknown task {task!r}; choose one of: {names}")
    return spec.arena


# ---------------------------------------------------------------------------------------------
# Examples


@dataclass(frozen=True)
class Example:
    """One prompt in the dataset's format and what a model should generate after it."""

    task: str
    prompt: str
    expected: str  # cot + answer: the whole continuation a trained model writes
    length: int  # the task's size knob (the dataset's `length` column)
    note: str = ""  # e.g. the queried n-gram, for the UI


def check_text(text: str) -> str:
    """The string to copy or search, or an ArenaError saying which character is not allowed."""
    if not text:
        raise ArenaError("the string is empty: type one or press 'random string'")
    for char in text:
        if not 32 <= ord(char) <= 126 or char in FORBIDDEN_CHARS:
            raise ArenaError(
                f"the string contains {char!r}: use printable ASCII characters other than "
                "'|' (the task's delimiter) and '.' (an end marker)"
            )
    return text


def _generate_one(task: str, *, seed: int, length: int, **params) -> dict[str, str]:
    try:
        rows = tasks.generate(task, 1, seed=seed, min_length=length, max_length=length, **params)
    except ValueError as err:
        raise ArenaError(str(err)) from None
    return {name: values[0] for name, values in rows.items()}


def random_string(task: str, length: int, alphabet: str, seed: int) -> str:
    """A random string as the dataset draws them for `task` (for n-gram tasks one that has a
    unique n-gram): the typed string inside a generated row."""
    arena = _arena_spec(task)
    if arena.text_of is None:
        raise ArenaError(f"task {task!r} draws its own examples; it takes no string")
    return arena.text_of(_generate_one(task, seed=seed, length=length, alphabet=alphabet))


def build_example(
    task: str,
    text: str = "",
    *,
    seed: int = 0,
    length: int = 20,
    num_entries: int = 10,
    max_input_chars: int | None = None,
) -> Example:
    """The prompt for `task` in the dataset's format (docs/FORMATS.md).

    Tasks with a typed prompt (copy, n-gram lookup) use `text` (an n-gram is drawn with `seed`);
    the others are drawn by the dataset's own generators from `seed`, of size `num_entries` where
    the task's size control is "entries" (the phone book) and `length` otherwise. Raises ArenaError
    for a bad input or a prompt over `max_input_chars`.
    """
    arena = _arena_spec(task)
    if arena.typed_prompt is not None:
        text = check_text(text)
        try:
            prompt, expected, note = arena.typed_prompt(text, seed)
        except ValueError as err:
            raise ArenaError(str(err)) from None
        example = Example(task, prompt, expected, len(text), note)
    else:
        size = num_entries if arena.size_control == "entries" else length
        row = _generate_one(task, seed=seed, length=size)
        note = arena.note_of(row) if arena.note_of else ""
        example = Example(task, row["prompt"], row["cot"] + row["answer"], size, note)
    if max_input_chars is not None and len(example.prompt) > max_input_chars:
        raise ArenaError(
            f"the prompt is {len(example.prompt):,} characters, over this arena's cap of "
            f"{max_input_chars:,}; use a shorter input (or start the arena with "
            f"--max_input_chars {len(example.prompt)})"
        )
    return example


# ---------------------------------------------------------------------------------------------
# Scoring and highlighting


@dataclass(frozen=True)
class Score:
    """eval/copy_accuracy's three scores for one generation."""

    exact_match: bool
    char_accuracy: float
    prefix_length: int


def cut_generation(text: str) -> str:
    """The generation up to its first end marker, as the metrics score it."""
    end = len(text)
    for marker in END_MARKERS:
        found = text.find(marker, 0, end)
        if found != -1:
            end = found
    return text[:end]


def correct_prefix_length(prediction: str, expected: str) -> int:
    for i, (got, want) in enumerate(zip(prediction, expected, strict=False)):
        if got != want:
            return i
    return min(len(prediction), len(expected))


def score(prediction: str, expected: str) -> Score:
    """Scores of a (cut) generation against the expected continuation."""
    matches = sum(got == want for got, want in zip(prediction, expected, strict=False))
    longer = max(len(prediction), len(expected))
    return Score(
        exact_match=prediction == expected,
        char_accuracy=1.0 if longer == 0 else matches / longer,
        prefix_length=correct_prefix_length(prediction, expected),
    )


WRONG, NOT_GENERATED = "wrong", "not generated"


def highlight(prediction: str, expected: str, *, finished: bool) -> list[tuple[str, str | None]]:
    """(text, label) spans: the correct prefix unlabelled, the first wrong character and everything
    after it `wrong`, and, once finished, the expected characters never generated `not generated`."""
    prefix = correct_prefix_length(prediction, expected)
    spans: list[tuple[str, str | None]] = []
    if prefix:
        spans.append((prediction[:prefix], None))
    if len(prediction) > prefix:
        spans.append((prediction[prefix:], WRONG))
    if finished and len(prediction) < len(expected):
        spans.append((expected[len(prediction) :], NOT_GENERATED))
    return spans


# ---------------------------------------------------------------------------------------------
# Models on offer


@dataclass(frozen=True)
class ModelChoice:
    """A model the dropdowns offer: what to load, and how to show it."""

    name_or_path: str
    label: str
    architecture: str  # config.json's model_type, "preset" or "hub"


MAMBA_TYPES = ("mamba", "mamba2", "falcon_mamba")
TRANSFORMER_TYPES = ("gpt_neox",)
FALLBACK_PRESETS = (
    ModelChoice("preset:mamba-tiny", "preset:mamba-tiny (untrained)", "mamba"),
    ModelChoice("preset:pythia-tiny", "preset:pythia-tiny (untrained)", "gpt_neox"),
)


def model_type_of(folder: Path) -> str:
    try:
        return json.loads((folder / "config.json").read_text("utf-8")).get("model_type", "?")
    except (OSError, ValueError):
        return "?"


def discover_models(root: Path, max_depth: int = 3) -> list[ModelChoice]:
    """Saved models under `root` (a config.json next to safetensors weights), checkpoints skipped."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for config in sorted(root.rglob("config.json")):
        folder = config.parent
        relative = folder.relative_to(root)
        if len(relative.parts) > max_depth or any(
            part.startswith("checkpoint") for part in relative.parts
        ):
            continue
        if not any(folder.glob("*.safetensors")):
            continue
        kind = model_type_of(folder)
        label = relative.as_posix() if relative.parts else folder.name
        found.append(ModelChoice(str(folder.resolve()), f"{label} ({kind})", kind))
    return found


def describe(name_or_path: str) -> ModelChoice:
    """A choice for a name given on the command line: a local folder or a Hub id."""
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        kind = model_type_of(folder)
        return ModelChoice(str(folder.resolve()), f"{folder.name} ({kind}, local)", kind)
    if name_or_path.startswith("preset:"):
        return ModelChoice(name_or_path, f"{name_or_path} (untrained)", "preset")
    return ModelChoice(name_or_path, f"{name_or_path} (Hub)", "hub")


def column_choices(
    discovered: Sequence[ModelChoice], given: Sequence[str], preferred: Sequence[str]
) -> tuple[list[ModelChoice], str | None]:
    """The dropdown of one column and its default: names given for this column first, then the
    discovered models of the preferred architecture, then the others."""
    given_choices = [describe(name) for name in given]
    ranked = sorted(discovered, key=lambda choice: choice.architecture not in preferred)
    choices, seen = [], set()
    for choice in [*given_choices, *ranked]:
        if choice.name_or_path not in seen:
            seen.add(choice.name_or_path)
            choices.append(choice)
    if not choices:
        choices = [c for c in FALLBACK_PRESETS if c.architecture in preferred] or [
            FALLBACK_PRESETS[0]
        ]
        choices += [c for c in FALLBACK_PRESETS if c not in choices]
    return choices, choices[0].name_or_path


class ModelRegistry:
    """Loads models on first use and keeps the most recent `max_loaded` in memory.

    Loading goes through `hf_copycot.models.load_model_and_tokenizer` (safetensors only,
    trust_remote_code off). A failure becomes an ArenaError naming the model; it is not cached, so
    a model fixed on disk loads on the next request.
    """

    def __init__(self, max_loaded: int = 4, device: str | None = None, dtype: str | None = None):
        self.max_loaded = max_loaded
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype
        self._loaded: collections.OrderedDict[str, tuple] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def get(self, name: str):
        """(model, tokenizer) for `name`, loading it once even if requests race."""
        if not name:
            raise ArenaError("no model chosen: pick one from the dropdown or type a folder")
        with self._lock:
            loading = self._loading[name]
        with loading:
            with self._lock:
                if name in self._loaded:
                    self._loaded.move_to_end(name)
                    return self._loaded[name]
            pair = self._load(name)
            with self._lock:
                self._loaded[name] = pair
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return pair

    def _load(self, name: str):
        from hf_copycot.models import load_model_and_tokenizer

        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # presets: the same untrained weights every time
                model, tokenizer = load_model_and_tokenizer(
                    name, dtype=self.dtype, device=self.device
                )
        except ModelLoadError as err:  # already one line naming the model and the fix
            logger.warning("%s", err)
            raise ArenaError(str(err)) from err
        except Exception as err:  # any failure is reported in the UI, not as a traceback
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            logger.warning("cannot load %s: %s", name, text)
            raise ArenaError(f"cannot load {name!r}: {text}") from err
        model.eval()
        return model, tokenizer


# ---------------------------------------------------------------------------------------------
# Generation: one model, then two side by side


@dataclass(frozen=True)
class ColumnResult:
    """One model's generation so far, with its scores and costs."""

    model: str
    status: str  # "loading" | "running" | "done" | "error"
    text: str = ""
    error: str | None = None
    new_tokens: int = 0
    prompt_tokens: int = 0
    first_token_seconds: float | None = None
    tokens_per_second: float = 0.0
    memory: CacheMemory | None = None
    step_seconds: tuple[float, ...] = field(default=(), repr=False)

    def score(self, expected: str) -> Score:
        return score(self.text, expected)


def _stop_ids(tokenizer, model) -> list[int]:
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def run_model(
    name: str, example: Example, registry: ModelRegistry, max_new_tokens: int
) -> Iterator[ColumnResult]:
    """Stream one model's greedy continuation of the example, a ColumnResult per token.

    Stops at EOS, at an end marker, `RUN_ON_CHARS` past the expected length, or after
    `max_new_tokens` tokens. Errors (load, tokenizer, too long for the model) end the stream with
    status "error" instead of raising.
    """
    result = ColumnResult(model=name, status="loading")
    yield result
    try:
        model, tokenizer = registry.get(name)
        try:
            input_ids = tokenizer(example.prompt, return_tensors="pt").input_ids
        except Exception as err:
            raise ArenaError(
                f"{name!r}'s tokenizer cannot encode this prompt ({err}); pick another model"
            ) from err
        budget = min(max_new_tokens, len(example.expected) + RUN_ON_CHARS)
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit and input_ids.shape[1] + budget > limit:
            raise ArenaError(
                f"the prompt ({input_ids.shape[1]} tokens) plus {budget} new tokens is over "
                f"{name!r}'s {limit}-token context; use a shorter input"
            )
    except ArenaError as err:
        yield replace(result, status="error", error=str(err))
        return
    stops = _stop_ids(tokenizer, model)
    result = replace(result, status="running", prompt_tokens=int(input_ids.shape[1]))
    token_ids: list[int] = []
    seconds: list[float] = []
    cache = None
    for step in greedy_stream(model, input_ids, max_new_tokens=budget, eos_token_id=stops):
        seconds.append(step.seconds)
        cache = step.cache
        if step.token_id in stops:
            break
        token_ids.append(step.token_id)
        raw = tokenizer.decode(token_ids, skip_special_tokens=False)
        text = cut_generation(raw)
        result = replace(
            result,
            text=text,
            new_tokens=len(seconds),
            first_token_seconds=seconds[0],
            tokens_per_second=decode_speed(seconds),
            memory=cache_memory(cache),
            step_seconds=tuple(seconds),
        )
        if text != raw or len(text) >= len(example.expected) + RUN_ON_CHARS:
            break
        yield result
    yield replace(
        result,
        status="done",
        new_tokens=len(seconds),
        first_token_seconds=seconds[0] if seconds else None,
        tokens_per_second=decode_speed(seconds),
        memory=cache_memory(cache) if cache is not None else None,
        step_seconds=tuple(seconds),
    )


def race(
    example: Example, names: Sequence[str], registry: ModelRegistry, max_new_tokens: int
) -> Iterator[list[ColumnResult]]:
    """Run the models in turn, one token each per round, yielding every model's latest result.

    Interleaving (rather than threads) keeps both columns moving together on a small machine, and
    each model's timings count only its own forward passes.
    """
    runners = [run_model(name, example, registry, max_new_tokens) for name in names]
    latest: list[ColumnResult | None] = [None] * len(runners)
    active = list(range(len(runners)))
    while active:
        for i in list(active):
            try:
                latest[i] = next(runners[i])
            except StopIteration:
                active.remove(i)
        yield list(latest)


def final_result(name: str, example: Example, registry: ModelRegistry, max_new_tokens: int):
    """The last ColumnResult of `run_model` (the finished generation or the error)."""
    result = None
    for result in run_model(name, example, registry, max_new_tokens):  # noqa: B007
        pass
    return result


# ---------------------------------------------------------------------------------------------
# Sweep: accuracy vs length


def sweep_example(
    task: str, length: int, seed: int, alphabet: str, max_input_chars: int | None
) -> Example:
    """A random example of size `length` (the phone book: `length` entries)."""
    text = random_string(task, length, alphabet, seed) if task in typed_tasks() else ""
    return build_example(
        task,
        text,
        seed=seed,
        length=length,
        num_entries=length,
        max_input_chars=max_input_chars,
    )


def sweep(
    task: str,
    lengths: Sequence[int],
    names: Sequence[str],
    registry: ModelRegistry,
    *,
    examples_per_length: int = 3,
    seed: int = 0,
    alphabet: str = string.ascii_lowercase,
    max_new_tokens: int = 256,
    max_input_chars: int | None = None,
) -> Iterator[tuple[list[dict], list[str]]]:
    """Mean exact match and character accuracy per model and length, yielded after each length
    as (rows so far, error messages). Every model sees the same examples."""
    rows: list[dict] = []
    errors: list[str] = []
    failed: set[str] = set()
    for length in lengths:
        examples = [
            sweep_example(task, length, seed + k, alphabet, max_input_chars)
            for k in range(examples_per_length)
        ]
        for column, name in zip("AB", names, strict=False):
            scores = []
            for example in examples:
                if name in failed:
                    break
                result = final_result(name, example, registry, max_new_tokens)
                if result.status == "error":
                    failed.add(name)
                    errors.append(f"model {column}: {result.error}")
                    break
                scores.append(result.score(example.expected))
            if scores:
                rows.append(
                    {
                        "model": f"{column}: {Path(name).name or name}",
                        "length": int(length),
                        "exact_match": sum(s.exact_match for s in scores) / len(scores),
                        "char_accuracy": sum(s.char_accuracy for s in scores) / len(scores),
                        "examples": len(scores),
                    }
                )
        yield list(rows), list(errors)


def parse_lengths(text: str, cap: int) -> list[int]:
    """'5, 10, 20' -> [5, 10, 20]; an ArenaError for anything else or a length over `cap`."""
    try:
        lengths = sorted({int(part) for part in text.replace(",", " ").split()})
    except ValueError:
        raise ArenaError(
            f"lengths {text!r} are not whole numbers; write them like '5, 10, 20'"
        ) from None
    if not lengths or lengths[0] < 1:
        raise ArenaError("give at least one length of 1 or more, like '5, 10, 20'")
    if lengths[-1] > cap:
        raise ArenaError(f"length {lengths[-1]} is over this arena's cap of {cap}")
    return lengths


# ---------------------------------------------------------------------------------------------
# Text for the UI


def stats_markdown(result: ColumnResult | None, expected: str) -> str:
    """Scores and costs of one column as a small Markdown table."""
    if result is None:
        return ""
    if result.status == "error":
        return f"**Error:** {result.error}"
    if result.status == "loading":
        return "_loading the model..._"
    scored = result.score(expected)
    verdict = "yes" if scored.exact_match else "no"
    if result.status != "done":
        verdict = "..."
    rows = [
        ("exact match", verdict),
        ("character accuracy", f"{scored.char_accuracy:.1%}"),
        ("correct prefix", f"{scored.prefix_length} / {len(expected)} characters"),
        (
            "time to first token",
            f"{result.first_token_seconds * 1000:.1f} ms"
            if result.first_token_seconds is not None
            else "-",
        ),
        ("decode speed", f"{result.tokens_per_second:,.0f} tokens/s"),
    ]
    if result.memory is not None:
        cached = result.prompt_tokens + max(result.new_tokens - 1, 0)
        memory = f"{format_bytes(result.memory.total_bytes)} {result.memory.kind}"
        if result.memory.kv_bytes:
            per_token = result.memory.kv_bytes / max(cached, 1)
            memory += f" ({format_bytes(per_token)} per token, {cached} tokens)"
        else:
            memory += f" (constant; {cached} tokens read)"
        rows.append(("memory held", memory))
    table = [
        "| measure | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
    ]
    return "\n".join(table)
