"""One vocabulary of flags for every command, after transformers' example scripts.

    --model_name_or_path  --dataset_name  --dataset_config  --eval_splits  --output_dir

Names use underscores everywhere (`finetune.py`, `copycot evaluate`, `copycot reproduce`, `copycot
space`, `copycot datasets`, `copycot peers`, `dataset_scripts/build_copy_cot.py`); pushing to the Hub
is `--push_to_hub` with `--hub_model_id` / `--hub_dataset_id` and `--hub_private_repo`, as in
transformers. Every flag has help text (tests/test_flags.py walks every parser).

`parse_dataclasses` reads a YAML or JSON run file through HfArgumentParser's own
`parse_yaml_file` / `parse_json_file`, so values keep their YAML/JSON types (`task_params: {n: 4}`
is a mapping), and flags after the file override it. `to_argv` renders argument dataclasses back
into the command line that parses to them: jobs carry the dataclasses themselves, and argv exists
only to show a run as a user would type it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

RUN_FILE_SUFFIXES = (".yaml", ".yml", ".json")


class FlagError(ValueError):
    """Flags the command does not have, or a run file that does not exist or does not fit."""


def parse_dataclasses(parser: Any, argv: list[str]) -> tuple:
    """An HfArgumentParser's dataclasses from `argv`: flags, or a run file (YAML or JSON) first
    and flags that override its values after it."""
    if not argv or not argv[0].endswith(RUN_FILE_SUFFIXES):
        return _parse_flags(parser, argv)
    path = Path(argv[0])
    if not path.is_file():
        raise FlagError(f"run file {path} does not exist; pass a YAML or JSON file of flags")
    try:
        if path.suffix == ".json":
            from_file = parser.parse_json_file(path)
        else:
            from_file = parser.parse_yaml_file(path)
    except ValueError as err:  # HfArgumentParser: "Some keys are not used ...: [...]"
        raise FlagError(f"{path}: {err}; use the flag names without the leading --") from None
    except TypeError as err:  # a field without a default is missing from the file
        raise FlagError(
            f"{path}: {err}; a run file holds every required flag (flags after it override)"
        ) from None
    values = {
        item.name: getattr(obj, item.name) for obj in from_file for item in dataclasses.fields(obj)
    }
    # The file's values become the parser's defaults, so a flag after the file wins and argparse
    # still converts what is text (YAML reads 1e-3 as a string) while mappings stay mappings.
    for action in parser._actions:
        if action.dest in values:
            action.default = values[action.dest]
            action.required = False
    return _parse_flags(parser, argv[1:])


def _parse_flags(parser: Any, argv: list[str]) -> tuple:
    """HfArgumentParser raises ValueError for flags it does not know; say it in one line."""
    _, unknown = parser.parse_known_args(argv)
    if unknown:
        raise FlagError(f"unrecognized arguments: {' '.join(unknown)} (see --help)")
    return tuple(parser.parse_args_into_dataclasses(args=argv))


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
            elif isinstance(value, dict):
                values = [json.dumps(value)]
            elif isinstance(value, (list, tuple)):
                values = [str(v) for v in value]
            else:
                values = [str(value)]
            argv += [f"--{item.name}", *values]
    return argv
