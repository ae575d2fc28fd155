"""One file per study, in report order. Each has TITLE, CLAIM, `jobs(scale)` and
`analyse(scale, lookup, out_dir) -> Section`."""

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
