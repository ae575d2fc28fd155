"""Print how the running environment's versions differ from a lock file (for `make test-latest`).

    python requirements/compare_to_lock.py requirements/cpu-py311.lock

One line per locked package whose installed version differs; the ecosystem packages hf-copycot
patches or builds on are listed even when unchanged, with the newest release the package index
offers: when the resolver could not install it (a dependency the index lacks, say), the line says
so, and that release is the next drift to expect.
"""

from __future__ import annotations

import re
import subprocess
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


def newest_on_index(name: str) -> str | None:
    """The newest release pip's index lists (`pip index versions`), or None if it cannot say."""
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\((\S+)\)", listing)
    return match[1] if match else None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python requirements/compare_to_lock.py LOCK_FILE", file=sys.stderr)
        return 2
    locked = locked_versions(Path(argv[0]))
    changed = [
        (name, version, now)
        for name, version in sorted(locked.items())
        if (now := installed_version(name)) != version
    ]
    print(f"against {argv[0]}: {len(changed)} of {len(locked)} packages differ")
    for name in WATCHED:
        now, newest = installed_version(name), newest_on_index(name)
        marks = [] if now == locked.get(name) else ["differs from the lock"]
        if newest and now and newest != now and "+" not in now:
            marks.append(f"newest release {newest} did not resolve")
        mark = f"   <- {'; '.join(marks)}" if marks else ""
        print(
            f"  {name:<16} locked {locked.get(name, '-'):<11} installed {now or '-':<11} "
            f"index {newest or '?'}{mark}"
        )
    others = [row for row in changed if row[0] not in WATCHED]
    for name, version, now in others:
        print(f"  {name:<18} locked {version:<14} installed {now or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
