"""Print how the running environment's versions differ from a lock file (for `make test-latest`).

    python requirements/compare_to_lock.py requirements/cpu-py311.lock

One line per locked package whose installed version differs, newest first in the eye: the
ecosystem packages hf-copycot patches or builds on are listed even when unchanged.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

WATCHED = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "evaluate",
    "huggingface-hub",
    "gradio",
    "numba",
    "lm-eval",
)


def locked_versions(lock: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", lock.read_text(), flags=re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python requirements/compare_to_lock.py LOCK_FILE", file=sys.stderr)
        return 2
    locked = locked_versions(Path(argv[0]))
    changed = [
        (name, version, installed_version(name))
        for name, version in sorted(locked.items())
        if installed_version(name) != version
    ]
    print(f"against {argv[0]}: {len(changed)} of {len(locked)} packages differ")
    for name in WATCHED:
        now = installed_version(name)
        mark = "" if now == locked.get(name) else "   <- differs"
        print(f"  {name:<18} locked {locked.get(name, '-'):<14} installed {now or '-'}{mark}")
    others = [row for row in changed if row[0] not in WATCHED]
    for name, version, now in others:
        print(f"  {name:<18} locked {version:<14} installed {now or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
