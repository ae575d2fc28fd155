"""Tokenizers for models trained from scratch: one token per character, or per number and symbol.

`char` (the default): one token per character keeps the tasks' structure visible to a small model
(a BPE merge such as "12" would hide a digit), and makes `length` in the dataset equal to the
number of answer tokens for `copy`. `word`: one token per number (0-999) and per other symbol, as
Feng et al.'s models see LIS and edit distance (their vocabulary of 253 words for LIS), so an LIS
of n numbers is about n tokens rather than several hundred characters. Both vocabularies are
fixed (docs/FORMATS.md), so every model built from a preset shares the same ids, whatever data it
was trained on, and both are plain `tokenizers` components: the saved folder (`tokenizer.json`)
loads back with `AutoTokenizer.from_pretrained` as the same tokenizer, and its
`tokenizer_config.json` names the kind (`copycot_tokenizer`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, BOS, EOS)
CHARACTERS = "\n" + "".join(chr(code) for code in range(32, 127))
NUMBER_WORDS = 1000  # the word tokenizer's numbers: 0 .. NUMBER_WORDS - 1
WORD_SYMBOLS = "".join(chr(code) for code in range(33, 127) if not chr(code).isdigit())


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
    return _wrap(backend, "char")


def _wrap(backend: Tokenizer, kind: str) -> PreTrainedTokenizerFast:
    """A transformers tokenizer around `backend`, its kind recorded in tokenizer_config.json."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=1_000_000,
        clean_up_tokenization_spaces=False,
        copycot_tokenizer=kind,
    )


def build_word_tokenizer() -> PreTrainedTokenizerFast:
    """The word-level tokenizer: ids 0-2 are `<pad> <s> </s>`, then printable ASCII other than
    digits and the space, then the numbers "0" .. "999".

    Encoding splits on whitespace, then into runs of digits and single other characters (so "-4"
    is `-` and `4`), and adds `<s>` in front. Decoding restores the one space this dataset's text
    has between two numbers (docs/FORMATS.md) and no other: text with other whitespace, numbers
    above 999 or leading zeros does not come back as written, and `untokenizable` finds it first.
    """
    words = [*SPECIAL_TOKENS, *WORD_SYMBOLS, *map(str, range(NUMBER_WORDS))]
    vocab = {token: i for i, token in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"[0-9]+|[^0-9]"), behavior="isolated"),
        ]
    )
    # Join the tokens with spaces, then drop every space that is not between a number and a
    # following number (or its minus sign).
    backend.decoder = decoders.Sequence(
        [
            decoders.WordPiece(prefix="##", cleanup=False),
            decoders.Fuse(),
            decoders.Replace(Regex(r"(?<![0-9]) | (?![0-9-])"), ""),
        ]
    )
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return _wrap(backend, "word")


TOKENIZERS = {"char": build_char_tokenizer, "word": build_word_tokenizer}


def build_tokenizer(kind: str = "char") -> PreTrainedTokenizerFast:
    """The from-scratch tokenizer named `kind` ("char" or "word")."""
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {kind!r}; choose one of: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind]()


def tokenizer_kind(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """ "char" or "word" for a tokenizer built (or saved and reloaded) here; None otherwise."""
    return getattr(tokenizer, "init_kwargs", {}).get("copycot_tokenizer")


def untokenizable(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str]) -> list[str]:
    """The texts that `tokenizer` cannot encode, or that do not decode back to themselves."""
    bad = []
    for text in dict.fromkeys(texts):
        try:
            ids = tokenizer(text, add_special_tokens=False).input_ids
        except Exception:  # tokenizers raises a bare Exception for a word outside the vocabulary
            bad.append(text)
            continue
        if tokenizer.decode(ids) != text:
            bad.append(text)
    return bad


def uncovered_characters(texts: Iterable[str]) -> set[str]:
    """Characters in `texts` that the character tokenizer cannot encode (empty set: all covered)."""
    seen: set[str] = set()
    for text in texts:
        seen.update(text)
    return seen - set(CHARACTERS)
