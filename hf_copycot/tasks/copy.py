"""COPY (Jelassi et al. 2024): repeat a random string after a delimiter.

Row: prompt `s + "|"`, cot `""`, answer `s`, length `len(s)`; `s` is uniform over `alphabet`.

Defaults: alphabet = the 26 lowercase letters (as in the reference). Lengths: `small` 5-20
(test_long 21-40); `full` 5-50 (test_long 51-100), the scale at which Jelassi et al. train copy
before testing length generalisation. Rows: `full` has 100,000 train and 2,000 per eval split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks._spec import (
    ArenaSpec,
    TaskSpec,
    check_alphabet,
    length_as,
    lengths_table,
    rows_table,
)

LOWERCASE = "abcdefghijklmnopqrstuvwxyz"


def random_strings(
    rng: np.random.Generator, lengths: np.ndarray, alphabet: str, spare: int = 0
) -> np.ndarray:
    """A (rows, max length + spare) uint8 matrix: row r holds lengths[r] characters uniform over
    `alphabet`, then zeros (never a character, so padding matches no text)."""
    letters = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    width = (int(lengths.max()) if len(lengths) else 0) + spare
    chars = np.zeros((len(lengths), width), dtype=np.uint8)
    draws = rng.integers(0, len(letters), size=int(lengths.sum()), dtype=np.int16)
    chars[np.arange(width) < lengths[:, None]] = np.take(letters, draws)
    return chars


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    # One flat buffer "s|<NUL>" per row: split on NUL gives the prompts, on "|<NUL>" the answers
    # ("|" is never in the alphabet).
    letters = np.frombuffer(params["alphabet"].encode("ascii"), dtype=np.uint8)
    ends = np.cumsum(lengths + 2)
    size = int(ends[-1]) if len(ends) else 0
    buffer = np.take(letters, rng.integers(0, len(letters), size=size, dtype=np.int16))
    buffer[ends - 2] = ord("|")
    buffer[ends - 1] = 0
    text = buffer.tobytes().decode("ascii")
    return {
        "prompt": text.split("\0")[:-1],
        "cot": [""] * len(lengths),
        "answer": text.split("|\0")[:-1],
    }


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    check_alphabet(params["alphabet"])


def typed_prompt(text: str, seed: int) -> tuple[str, str, str]:
    """The arena's copy prompt for a typed string: `s + "|"`, expecting `s`."""
    return text + "|", text, ""


SPEC = TaskSpec(
    name="copy",
    summary="Repeat a random string after the delimiter `|`",
    text_format='prompt `s + "|"`, cot `""`, answer `s`',
    length_meaning="characters in the string",
    params={"alphabet": LOWERCASE},
    lengths=lengths_table(small=(5, 20), small_long=(21, 40), full=(5, 50), full_long=(51, 100)),
    rows=rows_table(full_train=100_000, full_eval=2_000),
    extra_columns={},
    build=build,
    metric="copy_accuracy",
    main_score="exact_match",
    metric_inputs=length_as("lengths"),
    check=check,
    arena=ArenaSpec("copy", typed_prompt=typed_prompt, text_of=lambda row: row["answer"]),
)
