"""How the results read: one module per study, `section(scale, numbers, verdict, out_dir)`, which
draws the study's plot and writes its paragraph and table from the numbers the study computed.
The English lives here, so a study's rules read without it and its wording changes without them."""

from hf_copycot.reproduce.prose import (
    copy_length,
    dp_cot,
    examples_to_learn,
    inference_cost,
    m_locality,
    phonebook,
    state_size,
)

PROSE = {
    module.__name__.rsplit(".", 1)[-1]: module
    for module in (
        copy_length,
        examples_to_learn,
        state_size,
        dp_cot,
        m_locality,
        phonebook,
        inference_cost,
    )
}
