"""A local Hugging Face Hub for tests: `olah` in offline mode serving git repos from a folder.

No real Hub is reachable here, so hub-id code paths (`load_dataset("ORG/name", ...)`,
`from_pretrained("ORG/name")`, `hf_hub_download`, `snapshot_download`, `HfApi().model_info`) are
tested against this server. It is read-only: uploads are tested with a stubbed `HfApi`.

    from tests.local_hub import LocalHub

    @pytest.fixture(scope="module")
    def hub(tmp_path_factory):
        with LocalHub(tmp_path_factory.mktemp("hub")) as server:
            yield server

    def test_loads_by_hub_id(hub, tmp_path):
        hub.add_repo("dataset", "ORG/copy-cot", built_folder)      # or "model", "ORG/tiny-mamba"
        proc = hub.run_python("from datasets import load_dataset; load_dataset('ORG/copy-cot', 'copy')")
        assert proc.returncode == 0, proc.stderr

API:
- `LocalHub(root)`: state lives under `root` (mirrors/, cache/, logs/, hf_home/). Use as a context
  manager, or call `start()` / `stop()`.
- `add_repo(repo_type, repo_id, folder, message=...) -> str`: copy `folder` (a model, dataset or
  space repo: config.json + model.safetensors, or README.md + data/...) into a git repo on branch
  `main` and commit it; calling it again for the same id adds a new commit with the new contents.
  Returns the commit sha. `repo_type` is "model", "dataset" or "space" (plural forms work too).
- `endpoint`: the server URL for `HF_ENDPOINT`.
- `env(**extra) -> dict`: os.environ plus HF_ENDPOINT, HF_HUB_OFFLINE=0 (and the datasets and
  transformers switches), a private HF_HOME, no token, and this checkout first on PYTHONPATH.
- `run_python(code, timeout=120, **extra_env) -> CompletedProcess`: run a snippet in a fresh
  interpreter with `env()`; huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import time,
  so hub-id loads in tests (which run with HF_HUB_OFFLINE=1) belong in a subprocess.

How olah is used (read off olah 0.5.4's source): with `offline = true` it answers API, tree and
file requests from git repos found at `<mirrors-path>/<models|datasets|spaces>/<org>/<name>` (at a
branch name or a commit sha). Requests without a revision (`HfApi().model_info(id)`) resolve the
newest commit from `<repos-path>/api/<type>/<org>/<name>/revision/<sha>/meta_head.json`, which
`add_repo` writes. Files are served as plain git blobs (no LFS needed for tiny repos).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_TYPES = {"model": "models", "dataset": "datasets", "space": "spaces"}
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "local-hub",
    "GIT_AUTHOR_EMAIL": "local-hub@example.invalid",
    "GIT_COMMITTER_NAME": "local-hub",
    "GIT_COMMITTER_EMAIL": "local-hub@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalHub:
    def __init__(self, root: str | os.PathLike, *, startup_timeout: float = 60.0):
        self.root = Path(root)
        self.mirrors = self.root / "mirrors"
        self.cache = self.root / "cache"
        self.hf_home = self.root / "hf_home"
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._process: subprocess.Popen | None = None

    # --- server ----------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError(
                "LocalHub is not started; use it as a context manager or call start()"
            )
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalHub:
        for folder in (self.mirrors, self.cache, self.hf_home, self.root / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        config = self.root / "olah.toml"
        config.write_text(
            "[basic]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f"repos-path = {json.dumps(str(self.cache))}\n"
            f"mirrors-path = [{json.dumps(str(self.mirrors))}]\n"
            "[accessibility]\n"
            "offline = true\n"
        )
        log = open(self.root / "logs" / "server.log", "ab")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "olah.server",
                "--config",
                str(config),
                "--log-path",
                str(self.root / "logs"),
            ],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._log = log
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"olah exited with {self._process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/api/whoami-v2", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer means the server is up
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"olah did not answer within {self.startup_timeout:.0f} s; see {log.name}"
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
            self._log.close()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- repos -----------------------------------------------------------------------------------
    def repo_path(self, repo_type: str, repo_id: str) -> Path:
        kind = REPO_TYPES.get(repo_type, repo_type)
        if kind not in REPO_TYPES.values():
            raise ValueError(f"unknown repo type {repo_type!r}; use model, dataset or space")
        org, _, name = repo_id.rpartition("/")
        return self.mirrors / kind / org / name if org else self.mirrors / kind / name

    def add_repo(
        self, repo_type: str, repo_id: str, folder: str | os.PathLike, *, message: str = "upload"
    ) -> str:
        """Commit the contents of `folder` as the new `main` of `repo_id`; returns the commit sha."""
        target = self.repo_path(repo_type, repo_id)
        if not (target / ".git").exists():
            target.mkdir(parents=True, exist_ok=True)
            self._git(target, "init", "--quiet", "--initial-branch=main")
        for child in target.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.copytree(folder, target, dirs_exist_ok=True)
        self._git(target, "add", "--all")
        self._git(target, "commit", "--quiet", "--allow-empty", "-m", message)
        sha = self._git(target, "rev-parse", "HEAD").strip()
        self._record_newest_commit(repo_type, repo_id, sha)
        return sha

    def _git(self, cwd: Path, *args: str) -> str:
        env = {**os.environ, **_GIT_ENV}
        proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def _record_newest_commit(self, repo_type: str, repo_id: str, sha: str) -> None:
        """What olah's offline mode reads to answer revision-less requests."""
        kind = REPO_TYPES.get(repo_type, repo_type)
        folder = self.cache / "api" / kind / repo_id / "revision" / sha
        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        (folder / "meta_head.json").write_text(json.dumps({"sha": sha, "lastModified": now}))

    # --- clients ---------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k not in {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}
        }
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HUB_OFFLINE="0",
            HF_DATASETS_OFFLINE="0",
            TRANSFORMERS_OFFLINE="0",
            HF_HOME=str(self.hf_home),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_XET="1",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
            ),
        )
        env.update(extra)
        return env

    def run_python(
        self, code: str, *, timeout: float = 120, **extra_env: str
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
