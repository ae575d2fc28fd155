"""Prefix n-gram lookup (Jelassi et al. 2024): the n-gram comes before the string.

Row: prompt `ngram + "|" + s + "|"`, cot `""`, answer the characters of `s` after the n-gram's only
occurrence, length `len(s)`, extra column `ngram`. Sampling, defaults, lengths and rows: see
`hf_copycot.tasks.ngram_lookup` (n = 3, 26 lowercase letters; `small` 5-20 / test_long 21-40;
`full` 5-50 / test_long 51-100; `full` rows 100,000 train, 2,000 per eval split).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hf_copycot.tasks import _text, ngram_lookup
from hf_copycot.tasks._spec import ArenaSpec, TaskSpec, length_as


def build(rng: np.random.Generator, lengths: np.ndarray, params: dict[str, Any]) -> dict[str, list]:
    codes, grams, starts = ngram_lookup.build_parts(rng, lengths, params)
    num_rows, n = grams.shape
    # [n-gram | "|" | string, "|" at its end, spare]
    chars = np.empty((num_rows, n + 1 + codes.shape[1]), dtype=np.uint8)
    chars[:, :n] = grams
    chars[:, n] = ord("|")
    chars[:, n + 1 :] = codes
    chars[np.arange(num_rows), n + 1 + lengths] = ord("|")
    prompts = _text.strings_of(chars, n + 2 + lengths)
    answer_and_ngram = ngram_lookup.columns(codes, grams, starts, lengths, params)
    return {"prompt": prompts, "cot": [""] * num_rows, **answer_and_ngram}


SPEC = TaskSpec(
    name="prefix_ngram",
    summary="An n-gram, then a random string; continue the string after the n-gram's only occurrence",
    text_format='prompt `ngram + "|" + s + "|"`, cot `""`, answer the characters of `s` after the n-gram\'s only occurrence',
    length_meaning="characters in the string",
    params=ngram_lookup.DEFAULT_PARAMS,
    lengths=ngram_lookup.LENGTHS,
    rows=ngram_lookup.ROWS,
    extra_columns=ngram_lookup.EXTRA_COLUMNS,
    build=build,
    metric="copy_accuracy",
    main_score="exact_match",
    metric_inputs=length_as("lengths"),
    check=ngram_lookup.check,
    arena=ArenaSpec(
        "n-gram lookup (n-gram first)",
        typed_prompt=ngram_lookup.typed_prompt("prefix"),
        text_of=lambda row: row["prompt"].split("|")[1],
    ),
)
