"""The peers' data formats in and out: their data trains and scores here, ours runs in their code.

    copycot peers import --format feng-ed --output_dir feng-ed12 \\
        train=Data/chain/train_data.txt test=Data/chain/test_data.txt
    copycot peers export --format feng-ed --dataset_name copy-cot --eval_splits test --output_file test_data.txt

Formats (docs/FORMATS.md, "The peers' formats"):
- `feng-lis`, `feng-ed`: the text files of Feng et al.'s LIS/data.py and ED/data.py, one problem a
  line of space-separated tokens. Chain files (their `chain/`): `x1 ... xn <sep> d1 ... dn <sep> ans`
  and `a1 ... | b1 ... <sep> row1 , row2 , ... , <sep> ans`; direct files (their `decoder/`) end
  at the first `<sep>` with the answer. A direct file's chain of thought is computed here.
- `jelassi-copy`: Jelassi et al.'s synthetic copy examples `$s|s.` (BOS `$`, EOS `.`), one a line.
- `jelassi-phonebook`: JSON lines `{"input": prompt, "label": number}`, the fields of the batches
  their PhoneBookDataset yields (the prompt is the same text as our `phonebook` prompt).

An import writes a dataset folder that `load_dataset(folder, config)`, `copycot finetune
--dataset_name folder` and `copycot evaluate --dataset_name folder` read like a copy-cot build. Every
imported DP problem is checked against our solver, so a file in another convention fails loudly
(with its line number) instead of scoring as wrong.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hf_copycot import publishing, tasks
from hf_copycot.errors import CopycotError
from hf_copycot.overlap import eval_prompts_in_train
from hf_copycot.tasks import ed, lis

SEP = "<sep>"
CONFIG_OF_FORMAT = {
    "feng-lis": "lis",
    "feng-ed": "ed",
    "jelassi-copy": "copy",
    "jelassi-phonebook": "phonebook",
}
FORMATS = tuple(CONFIG_OF_FORMAT)
_NUMBER = re.compile(r"[0-9]+")
_JELASSI_COPY = re.compile(r"\$([^$|.]*)\|([^$|.]*)\.")


class PeerFormatError(CopycotError, ValueError):
    """A file or row that is not in the named format: one line, with the line number and a fix."""


def _check_format(fmt: str) -> str:
    if fmt not in CONFIG_OF_FORMAT:
        raise PeerFormatError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return fmt


def _numbers(tokens: list[str], where: str) -> list[int]:
    bad = [token for token in tokens if not _NUMBER.fullmatch(token)]
    if bad or not tokens:
        raise PeerFormatError(f"{where}: expected non-negative integers, got {bad[:1] or 'none'}")
    return [int(token) for token in tokens]


def _split_sep(line: str, where: str) -> tuple[list[str], list[str] | None, str]:
    """(problem tokens, chain tokens or None for a direct line, answer token) of a Feng line."""
    tokens = line.split()
    seps = [i for i, token in enumerate(tokens) if token == SEP]
    if len(seps) == 2 and seps[1] == len(tokens) - 2:
        return tokens[: seps[0]], tokens[seps[0] + 1 : seps[1]], tokens[-1]
    if len(seps) == 1 and seps[0] == len(tokens) - 2:
        return tokens[: seps[0]], None, tokens[-1]
    raise PeerFormatError(
        f"{where}: expected `problem {SEP} chain {SEP} answer` (chain file) or `problem {SEP} "
        f"answer` (direct file), found {len(seps)} {SEP} tokens"
    )


def _agree(ours: dict[str, list], theirs: list[tuple[str | None, str]], what: str, where) -> None:
    """Raise at the first line whose chain or answer is not the one our DP gives."""
    for k, (cot, answer) in enumerate(theirs):
        if cot is not None and cot != ours["cot"][k]:
            raise PeerFormatError(
                f"{where(k)}: the chain of thought is not the {what} DP of the line's problem "
                f"(ours: {ours['cot'][k]!r}); is the file in this format?"
            )
        if answer != ours["answer"][k]:
            raise PeerFormatError(
                f"{where(k)}: the answer {answer} is not the {what} DP's {ours['answer'][k]}; "
                "is the file in this format?"
            )


def _read_feng_lis(lines: list[str], where, length: int | None) -> dict[str, list]:
    sequences, theirs = [], []
    for k, line in enumerate(lines):
        problem, chain, answer = _split_sep(line, where(k))
        sequences.append(_numbers(problem, where(k)))
        steps = None if chain is None else " ".join(map(str, _numbers(chain, where(k)))) + "|"
        theirs.append((steps, answer))
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    values = np.zeros((len(sequences), int(lengths.max())), dtype=np.int64)
    values[np.arange(values.shape[1]) < lengths[:, None]] = np.concatenate(sequences)
    rows = lis.rows_of(values, lengths)
    _agree(rows, theirs, "LIS", where)
    return {**rows, "length": lengths.tolist()}


def _read_feng_ed(lines: list[str], where, length: int | None) -> dict[str, list]:
    firsts, seconds, theirs = [], [], []
    for k, line in enumerate(lines):
        problem, chain, answer = _split_sep(line, where(k))
        if problem.count("|") != 1 or not all(
            len(t) == 1 and "a" <= t <= "z" for t in problem if t != "|"
        ):
            raise PeerFormatError(
                f"{where(k)}: expected `a1 a2 ... | b1 b2 ...` with one lowercase letter a token"
            )
        bar = problem.index("|")
        first, second = "".join(problem[:bar]), "".join(problem[bar + 1 :])
        if not first or not second:
            raise PeerFormatError(
                f"{where(k)}: an empty string (their generator makes these at --length 3 and "
                "below); copy-cot's ed needs two non-empty strings: drop the line"
            )
        steps = None
        if chain is not None:
            if chain[-1:] != [","]:
                raise PeerFormatError(f"{where(k)}: every DP row ends with ` ,` in a chain file")
            table = " ".join(chain[:-1]).split(" , ")
            steps = ",".join(" ".join(map(str, _numbers(r.split(), where(k)))) for r in table)
            steps += "|"
        firsts.append(first)
        seconds.append(second)
        theirs.append((steps, answer))
    a, len_a = ed.encode(firsts)
    b, len_b = ed.encode(seconds)
    rows = ed.rows_of(a, b, len_a, len_b)
    _agree(rows, theirs, "edit distance", where)
    sizes = len_a.tolist() if length is None else [length] * len(lines)
    return {**rows, "length": sizes}


def _read_jelassi_copy(lines: list[str], where, length: int | None) -> dict[str, list]:
    prompts, answers = [], []
    for k, line in enumerate(lines):
        match = _JELASSI_COPY.fullmatch(line.strip())
        if not match or not match[2] or not match[1].startswith(match[2]):
            raise PeerFormatError(
                f"{where(k)}: expected a copy example `$s|s.` (the answer s or a prefix of it)"
            )
        prompts.append(match[1] + "|")
        answers.append(match[2])
    return {
        "prompt": prompts,
        "cot": [""] * len(lines),
        "answer": answers,
        "length": [len(p) - 1 for p in prompts],
    }


def _read_jelassi_phonebook(lines: list[str], where, length: int | None) -> dict[str, list]:
    prompts, answers, names, sizes = [], [], [], []
    for k, line in enumerate(lines):
        try:
            example = json.loads(line)
            prompt, label = example["input"], example["label"]
        except (ValueError, KeyError, TypeError):
            raise PeerFormatError(
                f'{where(k)}: expected a JSON object {{"input": prompt, "label": number}}'
            ) from None
        parts = prompt.split("\n\n") if isinstance(prompt, str) else []
        if len(parts) != 3 or not parts[2].endswith(":") or not isinstance(label, str):
            raise PeerFormatError(
                f"{where(k)}: the input is not a phone-book prompt (book, blank line, two "
                "examples, blank line, `First Last:`)"
            )
        prompts.append(prompt)
        answers.append(" " + label.strip())
        names.append(parts[2][:-1])
        sizes.append(len(parts[0].split("\n")))
    return {
        "prompt": prompts,
        "cot": [""] * len(lines),
        "answer": answers,
        "length": sizes,
        "query_name": names,
    }


_READERS: dict[str, Callable[..., dict[str, list]]] = {
    "feng-lis": _read_feng_lis,
    "feng-ed": _read_feng_ed,
    "jelassi-copy": _read_jelassi_copy,
    "jelassi-phonebook": _read_jelassi_phonebook,
}


def read_rows(
    fmt: str, text: str, *, split: str = "train", source: str = "input", length: int | None = None
) -> dict[str, list]:
    """copy-cot rows (columns of the format's config) of the non-blank lines of `text`.

    `length` sets the `length` column of `feng-ed` rows (their `--length`); by default it is
    len(a), which their files do not record otherwise (a is the shorter of the two strings).
    """
    config = CONFIG_OF_FORMAT[_check_format(fmt)]
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        raise PeerFormatError(f"{source} has no rows; pass a non-empty {fmt} file")

    def where(k: int) -> str:
        return f"{source} line {numbered[k][0]}"

    rows = _READERS[fmt]([line for _, line in numbered], where, length)
    count = len(numbered)
    return {
        "id": [f"{fmt}-{split}-{k}" for k in range(count)],
        "task": [config] * count,
        **{name: rows[name] for name in tasks.columns(config) if name not in ("id", "task")},
    }


# --- writing their formats -------------------------------------------------------------------
def _tokens_line(tokens: Sequence[str]) -> str:
    """A line as their data.py prints it: every token followed by a space."""
    return "".join(f"{token} " for token in tokens)


def _cot_tables(cot: str) -> list[list[str]]:
    return [row.split() for row in cot.rstrip("|").split(",")]


def write_lines(fmt: str, rows: Mapping[str, Sequence], *, direct: bool = False) -> str:
    """The rows (a copy-cot config's columns) as the text of a file in format `fmt`.

    `direct` writes Feng et al.'s `decoder/` files (problem and answer, no chain of thought).
    """
    config = CONFIG_OF_FORMAT[_check_format(fmt)]
    bad = sorted({task for task in rows["task"] if task != config})
    if bad:
        raise PeerFormatError(f"format {fmt} holds {config} rows, got {bad[0]} rows")
    lines = []
    for prompt, cot, answer in zip(rows["prompt"], rows["cot"], rows["answer"], strict=True):
        if fmt in ("feng-lis", "feng-ed"):
            if fmt == "feng-lis":
                problem, steps = prompt.rstrip("|").split(), cot.rstrip("|").split()
            else:
                a, b, _ = prompt.split("|")
                problem = [*a, "|", *b]
                steps = [t for row in _cot_tables(cot) for t in (*row, ",")]
            if direct:
                lines.append(_tokens_line([*problem, SEP]) + answer + "\n")
            else:
                lines.append(_tokens_line([*problem, SEP, *steps, SEP, answer]) + "\n")
        elif fmt == "jelassi-copy":
            if "$" in prompt + answer:
                raise PeerFormatError("a copy row holds `$`, their BOS: use another alphabet")
            lines.append(f"${prompt}{answer}.\n")
        else:
            lines.append(json.dumps({"input": prompt, "label": answer.strip()}) + "\n")
    return "".join(lines)


# --- files -------------------------------------------------------------------------------------
def _card(fmt: str, config: str, sources: dict[str, dict], overlap: dict[str, int]) -> str:
    import yaml

    metadata = {
        "configs": [
            {
                "config_name": config,
                "data_files": [
                    {"split": split, "path": f"data/{config}/{split}-*.parquet"}
                    for split in sources
                ],
            }
        ]
    }
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {config} rows imported from the {fmt} format",
        "",
        f"Written by `copycot peers import --format {fmt}` (hf-copycot, docs/FORMATS.md). Every "
        "row has the copy-cot columns; DP rows were checked against hf-copycot's solver.",
        "",
        "| split | rows | source | source sha256 | prompts also in train |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {split} | {info['rows']:,} | `{info['file']}` | `{info['sha256']}` | "
        f"{overlap.get(split, '-')} |"
        for split, info in sources.items()
    ]
    return "\n".join(lines) + "\n"


def import_files(
    fmt: str, files: Mapping[str, str | os.PathLike], output_dir: str | os.PathLike, **options
) -> Path:
    """Read each `split -> file` and write a dataset folder (parquet + card) at `output_dir`."""
    from hf_copycot.dataset_repo import write_split

    config = CONFIG_OF_FORMAT[_check_format(fmt)]
    output = Path(output_dir).absolute()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise PeerFormatError(f"--output_dir {output} exists and is not empty; pass a new folder")
    splits, sources = {}, {}
    for split, file in files.items():
        raw = Path(file).read_bytes()
        text = raw.decode("utf-8")
        splits[split] = read_rows(fmt, text, split=split, source=str(file), **options)
        sources[split] = {
            "file": Path(file).name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "rows": len(splits[split]["id"]),
        }
    evals = {split: rows for split, rows in splits.items() if split != "train"}
    overlap = eval_prompts_in_train(
        splits.get("train", {}).get("prompt", []),
        {split: rows["prompt"] for split, rows in evals.items()},
    )
    with publishing.atomic_dir(output) as staging:
        for split, rows in splits.items():
            write_split(rows, config, split, staging / "data")
        publishing.write_text(staging / "README.md", _card(fmt, config, sources, overlap))
    return output


# --- command line ------------------------------------------------------------------------------
def _split_file(text: str) -> tuple[str, str]:
    split, eq, file = text.partition("=")
    if not eq or not split or not file:
        raise argparse.ArgumentTypeError(
            f"expected SPLIT=FILE such as test=test_data.txt: {text!r}"
        )
    return split, file


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="copycot peers",
        description="Import the peers' data formats into copy-cot rows, or export ours to them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser(
        "import", allow_abbrev=False, help="their files -> a copy-cot dataset folder"
    )
    read.add_argument("--format", required=True, choices=FORMATS, help="the format of the files")
    read.add_argument("--output_dir", required=True, help="new folder for the dataset")
    read.add_argument(
        "--length", type=int, help="feng-ed: their --length N for the `length` column"
    )
    read.add_argument(
        "files",
        nargs="+",
        type=_split_file,
        metavar="SPLIT=FILE",
        help="each split's file in their format, e.g. test=test_data.txt",
    )
    write = commands.add_parser(
        "export", allow_abbrev=False, help="copy-cot rows -> a file in their format"
    )
    write.add_argument("--format", required=True, choices=FORMATS, help="the format to write")
    write.add_argument("--output_file", required=True, help="file to write")
    write.add_argument(
        "--dataset_name", help="copy-cot dataset (Hub id or folder); omit to generate rows"
    )
    write.add_argument(
        "--eval_splits", default="test", help="the split to export, one (as copycot evaluate's)"
    )
    write.add_argument("--direct", action="store_true", help="feng-*: a decoder/ file, no chain")
    write.add_argument(
        "--max_eval_examples", type=int, default=None, help="rows (default: all; generated: 200)"
    )
    write.add_argument("--seed", type=int, default=0, help="seeds the subset / generated rows")
    write.add_argument("--dataset_size", default="small", help="generated rows: small or full")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`copycot peers import|export ...`; one-line errors."""
    args = make_parser().parse_args(argv)
    try:
        if args.command == "import":
            files = dict(args.files)
            if len(files) != len(args.files):
                raise PeerFormatError("a split is named twice; give each split one file")
            options = {"length": args.length} if args.length is not None else {}
            folder = import_files(args.format, files, args.output_dir, **options)
            print(f"wrote {folder} ({', '.join(files)})")
            return 0
        from hf_copycot.data import DataArguments, eval_rows

        config = CONFIG_OF_FORMAT[args.format]
        source = DataArguments(
            dataset_config=config,
            dataset_name=args.dataset_name,
            max_eval_examples=args.max_eval_examples,
            dataset_size=args.dataset_size,
        )
        (split, *more) = DataArguments(eval_splits=args.eval_splits).splits() or [""]
        if more or not split:
            raise PeerFormatError(
                f"--eval_splits {args.eval_splits!r}: export writes one split to one file; name one"
            )
        rows = eval_rows(source, config, split, seed=args.seed)
        text = write_lines(args.format, rows, direct=args.direct)
        publishing.write_text(Path(args.output_file), text)
        print(f"wrote {len(rows['prompt'])} rows to {args.output_file}")
        return 0
    except (CopycotError, OSError, UnicodeDecodeError) as err:
        message = " ".join(str(err).split())
        print(f"copycot peers: error: {message}", file=sys.stderr)
        return 2
