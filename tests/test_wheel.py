"""The package stands alone: the built wheel, installed into a fresh environment and run from a folder
outside the clone, builds a dataset, runs `copycot evaluate` (its metrics come from the wheel) and
serves `copycot space`'s page."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
import setuptools
import tomllib
from tiny_models import save_tiny_model

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCES = ("*.egg-info", "build", "dist", "__pycache__", "outputs", ".*")


def test_pyproject_lists_every_package():
    """[tool.setuptools] packages is explicit (eval/ and spaces/ are mapped in); nothing missing."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set(setuptools.find_packages(str(REPO), include=["hf_copycot*"]))
    assert found <= listed
    assert listed - found == {
        "hf_copycot.metric_modules",
        "hf_copycot.spaces",
        "hf_copycot.spaces.copy_arena",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the wheel; torch & co. come from this test environment's site-packages,
    appended by a .pth file (no download, and no editable finder: its .pth is not read there)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    wheel = [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", root / "dist"]
    subprocess.run(wheel, check=True, capture_output=True)
    (built,) = (root / "dist").glob("hf_copycot-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", python, "install", "--no-deps", built], check=True)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def run_in(venv: Path, cwd: Path, *command: str, timeout: int = 300):
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env |= {"HF_HOME": str(cwd / "hf_home"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
def test_wheel_evaluates_and_serves_outside_the_clone(installed, tmp_path):
    where = run_in(
        installed, tmp_path, "python", "-c",
        "import hf_copycot, hf_copycot.metrics as m; print(hf_copycot.__file__); "
        "print(m.metric_path('dp_cot_accuracy'))",
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-2000:]
    package, metric = where.stdout.split()
    assert Path(package).is_relative_to(installed) and Path(metric).is_relative_to(installed)

    built = run_in(installed, tmp_path, "copycot", "datasets", "--rows", "0", "--output_dir", "ds")
    assert built.returncode == 0, built.stderr[-2000:]
    save_tiny_model("gpt_neox", tmp_path / "model")
    evaluated = run_in(
        installed, tmp_path, "copycot", "evaluate", "--model_name_or_path", "model",
        "--dataset_name", "ds", "--dataset_config", "lis", "--max_eval_examples", "4",
        "--output_dir", "out",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    payload = json.loads((tmp_path / "out" / "eval_results.json").read_text())
    assert payload["metric"] == "dp_cot_accuracy" and payload["dataset"] == "ds"
    assert payload["results"]["test_long"]["num_examples"] == 4

    (tmp_path / "no-models").mkdir()
    port = str(free_port())
    command = ["copycot", "space", "--port", port, "--models_dir", "no-models"]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "SPACE_ID"}}
    server = subprocess.Popen(
        [str(installed / "bin" / command[0]), *command[1:], "--model_a", "model"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert url, f"no URL in {line!r}"
        with urllib.request.urlopen(url.group(1), timeout=60) as page:
            assert page.status == 200 and "Copy arena" in page.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
