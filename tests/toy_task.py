"""A whole task in one file: "reverse", write a random string backwards.

`tasks.register(SPEC)` is the only other step; tests/test_toy_task.py then builds its dataset,
fine-tunes on it, runs `copycot evaluate`, scores it with its metric, shows it in the arena,
generates its lm-eval task and FORMATS.md row, benchmarks it and runs it in a spawned reproduce
worker, without an edit anywhere else. (`make registry-files` would commit its lm-eval YAML and
FORMATS.md row, were it built in.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot import tasks

ALPHABET = "abcdefgh"


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    letters = params["alphabet"]
    strings = ["".join(letters[i] for i in rng.integers(0, len(letters), n)) for n in lengths]
    return {
        "prompt": [s + "|" for s in strings],
        "cot": [""] * len(strings),
        "answer": [s[::-1] for s in strings],
    }


def check(params: dict[str, Any], min_length: int, max_length: int) -> None:
    tasks.check_alphabet(params["alphabet"])


SPEC = tasks.TaskSpec(
    name="reverse",
    summary="Write a random string backwards",
    text_format='prompt `s + "|"`, cot `""`, answer `s[::-1]`',
    length_meaning="characters in the string",
    params={"alphabet": ALPHABET},
    lengths=tasks.lengths_table(small=(3, 6), small_long=(7, 9), full=(3, 20), full_long=(21, 40)),
    rows=tasks.rows_table(full_train=10_000, full_eval=500),
    extra_columns={},
    build=build,
    metric="copy_accuracy",  # an existing module scores it: exact match, characters, prefix
    main_score="exact_match",
    metric_inputs=tasks.length_as("lengths"),
    check=check,
    arena=tasks.ArenaSpec(
        "reverse a string",
        typed_prompt=lambda text, seed: (text + "|", text[::-1], ""),
        text_of=lambda row: row["prompt"][:-1],
    ),
)
