"""Character-level tokenizer for models trained from scratch.

One token per character keeps the tasks' structure visible to a small model (a BPE merge such as
"12" would hide a digit), and makes `length` in the dataset equal to the number of answer tokens
for `copy`. The vocabulary is fixed (printable ASCII 32-126 plus "\\n", see docs/FORMATS.md), so
every model built from a preset shares the same ids, whatever data it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, BOS, EOS)
CHARACTERS = "\n" + "".join(chr(code) for code in range(32, 127))


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """The character-level tokenizer: ids 0-2 are `<pad> <s> </s>`, then "\\n", then ASCII 32-126.

    Encoding adds `<s>` in front (models see a start token before the prompt); decoding joins
    characters without separators. Characters outside the set raise on encode (there is no
    `<unk>`): `uncovered_characters` finds them first.
    """
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *CHARACTERS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    # Every character, "\n" included, is its own pre-token.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=1_000_000,
        clean_up_tokenization_spaces=False,
    )


def uncovered_characters(texts: Iterable[str]) -> set[str]:
    """Characters in `texts` that the character tokenizer cannot encode (empty set: all covered)."""
    seen: set[str] = set()
    for text in texts:
        seen.update(text)
    return seen - set(CHARACTERS)
