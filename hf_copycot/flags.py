"""One vocabulary of flags for every command, after transformers' example scripts.

    --model_name_or_path  --dataset_name  --dataset_config  --eval_splits  --output_dir

Names use underscores everywhere (`finetune.py`, `copycot evaluate`, `copycot reproduce`, `copycot
space`, `copycot datasets`, `dataset_scripts/build_copy_cot.py`). Old spellings keep working for one
release (hf-copycot 0.2 drops them): `normalize` rewrites a renamed flag (`--model`) or a kebab-case
one (`--output-dir`) to today's name before the parser sees it, with one line on stderr.

`to_argv` renders argument dataclasses back into the command line that parses to them: jobs carry
the dataclasses themselves, and argv exists only to show a run as a user would type it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping, Sequence

REMOVED_IN = "0.2"


def known_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The parser's long options in today's spelling (underscores, no kebab-case aliases)."""
    return {
        option
        for option in parser._option_string_actions
        if option.startswith("--") and "-" not in option[2:]
    }


def normalize(
    argv: Sequence[str],
    parser: argparse.ArgumentParser,
    *,
    renamed: Mapping[str, str] | None = None,
) -> list[str]:
    """`argv` with old spellings replaced by today's names, one stderr line per old spelling."""
    known = known_flags(parser)
    renamed = renamed or {}
    out, warned = [], set()
    for token in argv:
        flag, equals, value = token.partition("=")
        new = None
        if flag.startswith("--") and flag not in known:
            underscored = "--" + flag[2:].replace("-", "_")
            new = renamed.get(underscored) or renamed.get(flag) or underscored
            new = new if new in known else None
        if new is None:
            out.append(token)
            continue
        if flag not in warned:
            warned.add(flag)
            print(
                f"{parser.prog}: warning: {flag} is deprecated, use {new} (the old spelling goes "
                f"in hf-copycot {REMOVED_IN})",
                file=sys.stderr,
            )
        out.append(new + equals + value)
    return out


def to_argv(*arguments: object) -> list[str]:
    """`--name value` for every field of the dataclasses that is not None (bools as true/false,
    sequences as several values): what HfArgumentParser parses back into equal dataclasses."""
    argv: list[str] = []
    for obj in arguments:
        for item in dataclasses.fields(obj):
            value = getattr(obj, item.name)
            if value is None:
                continue
            if isinstance(value, bool):
                values = ["true" if value else "false"]
            elif isinstance(value, (list, tuple)):
                values = [str(v) for v in value]
            else:
                values = [str(value)]
            argv += [f"--{item.name}", *values]
    return argv
