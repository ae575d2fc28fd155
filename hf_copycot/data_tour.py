"""`copycot datasets`: a tour of the data.

Build the `small` copy-cot dataset repo into a temporary folder, load every config back with
`datasets.load_dataset(folder, config)` as a user would, and print a few rows of each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hf_copycot import dataset_repo, tasks
from hf_copycot.errors import CopycotError


def shorten(text: str, limit: int = 160) -> str:
    """repr() of text, with the middle of long texts elided."""
    shown = repr(text)
    if len(shown) <= limit:
        return shown
    half = (limit - 5) // 2
    return f"{shown[:half]} ... {shown[-half:]}"


def print_rows(folder: Path, rows: int, cache_dir: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    manifest = json.loads((folder / dataset_repo.MARKER).read_text("utf-8"))
    for config, info in manifest["configs"].items():
        splits = info["splits"]
        loaded = datasets.load_dataset(str(folder), config, cache_dir=str(cache_dir))
        train, long = splits["train"], splits["test_long"]
        rows_text = " / ".join(f"{s['rows']:,}" for s in splits.values())
        ranges = (
            f"lengths {train['min_length']}-{train['max_length']} "
            f"(test_long {long['min_length']}-{long['max_length']}), rows {rows_text} ({' / '.join(splits)})"
        )
        print(f"\n== {config}: {ranges}")
        extras = [c for c in tasks.columns(config) if c not in tasks.SHARED_COLUMNS]
        for row in loaded["train"].select(range(min(rows, loaded["train"].num_rows))):
            print(f"  [{row['id']}] length {row['length']}")
            for column in ("prompt", "cot", "answer", *extras):
                print(
                    f"    {column + ':':<11} {shorten(row[column]) if isinstance(row[column], str) else row[column]}"
                )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="copycot datasets", allow_abbrev=False, description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=2, help="rows to print per config (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the build (default 0)")
    parser.add_argument("--output_dir", help="keep the built dataset here (default: a temp folder)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="copycot-datasets-") as scratch:
        target = Path(args.output_dir) if args.output_dir else Path(scratch) / "copy-cot"
        try:
            folder = dataset_repo.build_repo(
                target, seed=args.seed, size="small", log=lambda *_: None
            )
        except CopycotError as error:
            print(f"copycot datasets: error: {error}", file=sys.stderr)
            return 2
        print(f"Built the small copy-cot dataset repo in {folder}")
        print_rows(folder, args.rows, Path(scratch) / "datasets-cache")
        print(
            "\nLoad it yourself: datasets.load_dataset(FOLDER, CONFIG); rebuild with "
            "`python dataset_scripts/build_copy_cot.py --output_dir FOLDER` (--dataset_size full for the "
            "papers' scale)."
        )
    return 0
