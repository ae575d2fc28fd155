"""What the runs mean: one module per study, in report order. Each has NAME, TITLE, CLAIM,
ANCHORS and three pure functions: `jobs(scale)` (the runs it reads), `numbers(scale, lookup)` (what
it computes from their results, JSON-ready) and `verdict(scale, numbers)`. A study imports runs,
statistics and papers, never another study nor the prose."""

from hf_copycot.reproduce.studies import (
    copy_length,
    dp_cot,
    examples_to_learn,
    inference_cost,
    m_locality,
    phonebook,
    state_size,
)

STUDIES = (
    copy_length,
    examples_to_learn,
    state_size,
    dp_cot,
    m_locality,
    phonebook,
    inference_cost,
)
