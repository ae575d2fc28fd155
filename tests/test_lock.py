"""The lock file is current: every requirement pyproject.toml declares is met by a pinned, hashed
version, so `make install` gets what the package asks for (`make lock` after changing pyproject)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "cpu-py311.lock"


def _pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every package in the lock."""
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()):
        match = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            pins[canonicalize_name(match[1])] = (match[2], hashes)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["dev"], *extras["space"]]]


@pytest.mark.parametrize("requirement", _declared(), ids=str)
def test_every_declared_requirement_is_pinned_within_its_range(requirement):
    pins = _pins()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{name} is not in {LOCK.name}: run `make lock`"
    version, hashes = pins[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{LOCK.name} pins {name}=={version}, outside {requirement}: run `make lock`"
    )
    assert hashes, f"{name} has no hash in {LOCK.name}"


def test_every_pin_is_hashed_and_torch_is_the_cpu_build():
    pins = _pins()
    assert len(pins) > 50
    assert all(hashes for _, hashes in pins.values())
    assert pins["torch"][0].endswith("+cpu")
    # The CUDA build's companions must not sneak in through another package.
    assert not [name for name in pins if name.startswith(("nvidia-", "triton"))]


def test_the_makefile_installs_from_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK   := requirements/cpu-py311.lock" in makefile
    assert re.search(r"pip sync .*--require-hashes .*\$\(LOCK\)", makefile)
