"""Stamp the shared helper block of eval/shared_helpers.py into every metric module.

    python eval/stamp_helpers.py           # write the copies (`make metrics`)
    python eval/stamp_helpers.py --check   # exit 1 if a copy differs from what would be written

A module is eval/<name>/<name>.py; its copy is everything from its `# >>> shared helpers` line
through its `# <<< shared helpers` line, replaced byte for byte by the source's block.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "shared_helpers.py"
BLOCK = re.compile(r"^# >>> shared helpers.*?^# <<< shared helpers\n", re.DOTALL | re.MULTILINE)


def helper_block(source: Path = SOURCE) -> str:
    """The block of the source file, markers included."""
    found = BLOCK.findall(source.read_text(encoding="utf-8"))
    if len(found) != 1:
        raise ValueError(f"{source} must hold exactly one shared helpers block, found {len(found)}")
    return found[0]


def modules(root: Path = HERE) -> list[Path]:
    """Every metric module: eval/<name>/<name>.py."""
    return sorted(p / f"{p.name}.py" for p in root.iterdir() if (p / f"{p.name}.py").is_file())


def stamped(text: str, block: str) -> str:
    """`text` with its helper block replaced by `block`."""
    if len(BLOCK.findall(text)) != 1:
        raise ValueError("a metric module must hold exactly one shared helpers block")
    return BLOCK.sub(lambda _: block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stamp_helpers.py", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale copies")
    args = parser.parse_args(argv)
    block = helper_block()
    stale = []
    for module in modules():
        text = module.read_text(encoding="utf-8")
        new = stamped(text, block)
        if new == text:
            continue
        stale.append(module)
        if not args.check:
            module.write_text(new, encoding="utf-8")
    verb = "stale" if args.check else "stamped"
    for module in stale:
        print(f"{verb}: {module.relative_to(HERE.parent)}")
    if args.check and stale:
        print("run `make metrics` to update them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
