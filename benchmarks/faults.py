"""Fault injection, measured: kill -9, two writers, damaged files, a full disk, bad input, a crowd.

    python benchmarks/faults.py                      # the long form (about 20 min on 2 cores)
    python benchmarks/faults.py --trials 3 --only kill_build,disk_full

Each fault runs `--trials` seeded trials (the fuzzers `--cases` generated inputs, the Space
`--clients` concurrent clients) and prints one row of a markdown table: trials run, survived, data
lost, and the command that reproduces it; docs/RELIABILITY.md holds a run's table. What counts:

- survived: the promise held (a killed writer left nothing that looks finished and the re-run or
  resume ended equal to an uninterrupted run; a second writer was refused in one line or the result
  was right; a damaged file was named in one line; a full disk gave one line and kept the previous
  state; bad input gave a result or one error line, never a traceback).
- data lost: something finished before the fault was gone or changed after it, or a damaged file
  was read as good (a silent wrong score).

tests/test_faults.py (pytest marker `faults`, part of `make test`) runs each fault with a few
trials through these same functions. Kills are SIGKILL to the whole process group (the command and
the worker processes it started), at a uniformly drawn time within an uninterrupted run's length.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hf_copycot import publishing  # noqa: E402

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
}
PYTHON = sys.executable
BUILD = [PYTHON, str(REPO / "dataset_scripts" / "build_copy_cot.py")]
COPYCOT = [PYTHON, "-m", "hf_copycot.cli"]
# A build of a few seconds: enough shards and files for a kill to land in the middle of writing.
BUILD_ARGS = ["--configs", "copy", "lis", "ed", "--train_rows", "12000", "--eval_rows", "1000"]
FINETUNE_ARGS = [
    "--dataset_config", "copy", "--max_length", "8", "--max_steps", "12",
    "--checkpointing_steps", "3", "--eval_steps", "6", "--per_device_train_batch_size", "4",
    "--max_eval_examples", "4", "--logging_steps", "1", "--seed", "0",
]  # fmt: skip
REPRODUCE_ARGS = ["--scale", "smoke", "--seeds", "1", "--only", "copy_length", "--workers", "2"]
TIMED = ("seconds", "tok_s", "ms")  # what a clock measures, not what a run computes


@dataclass
class Tally:
    """One row of the table."""

    fault: str
    command: str
    trials: int = 0
    survived: int = 0
    lost: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, survived: bool, lost: bool = False, note: str | None = None) -> None:
        self.trials += 1
        self.survived += bool(survived)
        self.lost += bool(lost)
        if note and (not survived or lost) and len(self.notes) < 5:
            self.notes.append(note)


# ---------------------------------------------------------------------------------------------
# Helpers


def run(command: list[str], timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run a command to its end, offline, output captured."""
    kwargs.setdefault("env", ENV)
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def kill_at(command: list[str], delay: float, **kwargs) -> bool:
    """Start `command` in a process group of its own and SIGKILL the group after `delay` seconds;
    returns whether it was still running then (False: it finished first)."""
    kwargs.setdefault("env", ENV)
    process = subprocess.Popen(
        [str(c) for c in command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


def timed(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = run(command, **kwargs)
    return result, time.perf_counter() - started


def last_line(stderr: str) -> str:
    """The last non-empty line of a command's stderr, for a note."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def one_error_line(stderr: str, *needles: str) -> bool:
    """No traceback, exactly one line saying error, and it contains every needle."""
    if "Traceback" in stderr:
        return False
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    return len(errors) == 1 and all(needle in errors[0] for needle in needles)


def digests(folder: Path) -> dict[str, str]:
    return publishing.file_digests(folder) if folder.is_dir() else {}


def computed(value):
    """`value` without what a clock measures or where a run lived (keys ending in a time unit,
    model paths)."""
    if isinstance(value, dict):
        return {
            k: computed(v)
            for k, v in value.items()
            if k not in ("model", "log", "sha256") and not k.endswith(TIMED)
        }
    if isinstance(value, list):
        return [computed(v) for v in value]
    return value


def leftovers(folder: Path) -> list[Path]:
    """Staging folders and temporary files anywhere under `folder` (a writer's debris)."""
    return [p for p in folder.rglob(".*") if ".partial-" in p.name or p.name.endswith(".tmp")]


def damage(path: Path, rng: random.Random) -> str:
    """Damage a file one of four ways (seeded); returns which."""
    data = path.read_bytes()
    how = rng.choice(["truncate", "flip", "empty", "digit"])
    if how == "digit" and not re.search(rb"[0-9]", data):
        how = "flip"
    if how == "truncate" and len(data) > 1:
        path.write_bytes(data[: rng.randrange(1, len(data))])
    elif how == "empty" or len(data) <= 1:
        path.write_bytes(b"")
        how = "empty"
    elif how == "flip":
        at = rng.randrange(len(data))
        path.write_bytes(data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :])
    else:  # one digit changed: still valid JSON, still a loadable tensor
        spots = [m.start() for m in re.finditer(rb"[0-9]", data)]
        at = rng.choice(spots)
        new = b"0123456789"[(data[at] - 48 + rng.randrange(1, 10)) % 10]
        path.write_bytes(data[:at] + bytes([new]) + data[at + 1 :])
    return how


# ---------------------------------------------------------------------------------------------
# References: an uninterrupted run of each target, made once per work folder


def reference_build(work: Path) -> tuple[Path, float]:
    folder = work / "ref-build"
    if not publishing_complete(folder):
        result, seconds = timed([*BUILD, "--output_dir", folder, *BUILD_ARGS])
        assert result.returncode == 0, result.stderr[-2000:]
        (work / "ref-build.seconds").write_text(f"{seconds}")
    return folder, float((work / "ref-build.seconds").read_text())


def publishing_complete(folder: Path) -> bool:
    from hf_copycot.dataset_repo import is_previous_build

    return is_previous_build(folder)


def finetune_command(output_dir: Path, preset: str, *extra: str) -> list:
    return [*COPYCOT, "finetune", "--model_name_or_path", f"preset:{preset}", *FINETUNE_ARGS,
            "--output_dir", output_dir, *extra]  # fmt: skip


def reference_finetune(work: Path, preset: str) -> tuple[Path, float]:
    folder = work / f"ref-finetune-{preset}"
    if not (folder / "eval_results.json").exists():
        result, seconds = timed(finetune_command(folder, preset))
        assert result.returncode == 0, result.stderr[-2000:]
        (work / f"ref-finetune-{preset}.seconds").write_text(f"{seconds}")
    return folder, float((work / f"ref-finetune-{preset}.seconds").read_text())


def reproduce_command(output_dir: Path) -> list:
    return [*COPYCOT, "reproduce", *REPRODUCE_ARGS, "--output_dir", output_dir,
            "--models_dir", output_dir / "models"]  # fmt: skip


def reproduce_env(output_dir: Path) -> dict:
    return {**ENV, "COPYCOT_HOME": str(output_dir / "home")}


def reference_reproduce(work: Path) -> tuple[Path, float]:
    folder = work / "ref-reproduce"
    if not (folder / "results.json").exists():
        command = reproduce_command(folder)
        result, seconds = timed(command, env=reproduce_env(folder))
        assert result.returncode == 0, result.stderr[-2000:]
        (work / "ref-reproduce.seconds").write_text(f"{seconds}")
    return folder, float((work / "ref-reproduce.seconds").read_text())


def reproduce_outcome(folder: Path) -> dict:
    """What a reproduce run computed: each run's result and each study's numbers and verdict."""
    results = json.loads((folder / "results.json").read_text())
    runs = {run["key"]: computed(run["result"]) for run in results["runs"]}
    studies = {
        name: computed({"numbers": s["numbers"], "verdict": s["verdict"]})
        for name, s in results["studies"].items()
    }
    return {"runs": runs, "studies": studies}


def finetune_outcome(folder: Path) -> tuple[bytes, dict]:
    """The final weights' bytes and eval_results.json less its timings."""
    payload = json.loads((folder / "eval_results.json").read_text())
    return (folder / "model.safetensors").read_bytes(), computed(payload)


# ---------------------------------------------------------------------------------------------
# kill -9


def kill_build(trials: int, rng: random.Random, work: Path) -> Tally:
    """kill -9 during `build_copy_cot.py`, half the trials over a previous finished build; then
    build again. Nothing may look finished unless it is the full build, the previous build must
    survive the kill, and the re-run must equal an uninterrupted build byte for byte."""
    tally = Tally(
        "kill -9 during the dataset build", "python benchmarks/faults.py --only kill_build"
    )
    reference, seconds = reference_build(work)
    expected = digests(reference)
    out = work / "kill-build" / "copy-cot"
    command = [*BUILD, "--output_dir", out, *BUILD_ARGS]
    for trial in range(trials):
        shutil.rmtree(out.parent, ignore_errors=True)
        out.parent.mkdir(parents=True)
        had_build = trial % 2 == 1
        if had_build:
            shutil.copytree(reference, out)
        kill_at(command, rng.uniform(0.0, seconds * 1.1))
        after = digests(out)
        looks_finished = publishing_complete(out)
        honest = not looks_finished or after == expected  # finished means whole
        lost = had_build and after != expected
        result = run(command)
        rebuilt = result.returncode == 0 and digests(out) == expected
        clean = not leftovers(out.parent)
        note = f"trial {trial}: honest={honest} rebuilt={rebuilt} clean={clean}"
        tally.add(honest and rebuilt and clean and not lost, lost, note)
    return tally


def kill_finetune(trials: int, rng: random.Random, work: Path, presets=("pythia-tiny",)) -> Tally:
    """kill -9 during a finetune run that checkpoints every 3 updates (and evaluates every 6), then
    `--resume_from_checkpoint latest` (or a fresh start when no checkpoint was finished): the final
    weights' bytes and eval_results.json (less its timings) must equal an uninterrupted run's."""
    tally = Tally(
        "kill -9 during finetune (checkpoints, resume)",
        "python benchmarks/faults.py --only kill_finetune",
    )
    resumed = 0
    for trial in range(trials):
        preset = presets[trial % len(presets)]
        reference, seconds = reference_finetune(work, preset)
        expected = finetune_outcome(reference)
        out = work / "kill-finetune" / "out"
        shutil.rmtree(out.parent, ignore_errors=True)
        out.parent.mkdir(parents=True)
        kill_at(finetune_command(out, preset), rng.uniform(0.0, seconds))
        honest = all(  # every checkpoint that looks finished checks out
            _checkpoint_ok(folder) for folder in (out / "checkpoints").glob("step_*")
        )
        honest &= not publishing.holds_trained_model(out) or (out / "eval_results.json").exists()
        extra = []
        if any((out / "checkpoints").glob("step_*")):
            extra, resumed = ["--resume_from_checkpoint", "latest"], resumed + 1
        result = run(finetune_command(out, preset, *extra))
        same = result.returncode == 0 and finetune_outcome(out) == expected
        note = f"trial {trial} ({preset}): honest={honest} same={same} rc={result.returncode}"
        tally.add(honest and same, not same, note)
    tally.notes.insert(0, f"{resumed} of {trials} resumed from a checkpoint")
    return tally


def _checkpoint_ok(folder: Path) -> bool:
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
        publishing.check_digests(folder, state["files"], "")
    except Exception:
        return False
    return True


def kill_reproduce(trials: int, rng: random.Random, work: Path, kills_per_run: int = 3) -> Tally:
    """kill -9 (the command and its workers) during `copycot reproduce --scale smoke --seeds 1
    --only copy_length`, up to `kills_per_run` times in a row on one output folder (each restart
    goes on from what the last one left), then run it to the end: at every restart each
    result.json already there is valid and is reused untouched (never rewritten), the finishing run
    says how many it reused, and its numbers equal an uninterrupted run's."""
    tally = Tally(
        "kill -9 during copycot reproduce (smoke)",
        "python benchmarks/faults.py --only kill_reproduce",
    )
    reference, seconds = reference_reproduce(work)
    expected = reproduce_outcome(reference)
    out = work / "kill-reproduce"
    reused_total, env = 0, reproduce_env(out)
    shutil.rmtree(out, ignore_errors=True)

    def snapshot() -> dict[Path, tuple[int, bytes]]:
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("runs/*/result.json")}

    def untouched(before: dict[Path, tuple[int, bytes]]) -> bool:
        return all(
            p.exists() and (p.stat().st_mtime_ns, p.read_bytes()) == v for p, v in before.items()
        )

    for trial in range(trials):
        before = snapshot()
        killed = kill_at(reproduce_command(out), rng.uniform(0.0, seconds), env=env)
        honest = all(_result_ok(path) for path in out.glob("runs/*/result.json"))
        kept = untouched(before)
        reused_total += len(before)
        last = trial == trials - 1 or (trial + 1) % kills_per_run == 0 or not killed
        said = same = True
        if last:  # run it to the end and compare with the uninterrupted run
            before = snapshot()
            result = run(reproduce_command(out), env=env)
            kept &= untouched(before)
            said = f"{len(before)} cached" in result.stdout
            same = result.returncode == 0 and reproduce_outcome(out) == expected
            reused_total += len(before)
            shutil.rmtree(out, ignore_errors=True)
        note = f"trial {trial}: honest={honest} kept={kept} said={said} same={same}"
        tally.add(honest and kept and said and same, not (kept and same), note)
    tally.notes.insert(0, f"{reused_total} finished runs found again at restarts, none rewritten")
    return tally


def _result_ok(path: Path) -> bool:
    from hf_copycot.reproduce.runner import CHECKSUM, payload_digest

    try:
        payload = json.loads(path.read_text())
    except ValueError:
        return False
    return payload.get("key") == path.parent.name and payload.get(CHECKSUM) == payload_digest(
        payload
    )


# ---------------------------------------------------------------------------------------------
# Two writers


def two_builds(trials: int, rng: random.Random, work: Path) -> Tally:
    """Two builds into one folder at once (the second a random moment later): each one finishes or
    is refused in one line, and the folder ends as the full build."""
    tally = Tally(
        "two dataset builds into one folder", "python benchmarks/faults.py --only two_builds"
    )
    reference, seconds = reference_build(work)
    expected = digests(reference)
    out = work / "two-builds" / "copy-cot"
    command = [str(c) for c in [*BUILD, "--output_dir", out, *BUILD_ARGS]]
    refused = 0
    for trial in range(trials):
        shutil.rmtree(out.parent, ignore_errors=True)
        results = _race(command, command, rng.uniform(0.0, seconds / 2), ENV)
        ok = all(r.returncode == 0 or one_error_line(r.stderr, "in use") for r in results)
        refused += sum(r.returncode != 0 for r in results)
        whole = digests(out) == expected and not leftovers(out.parent)
        tally.add(ok and whole, not whole, f"trial {trial}: rcs={[r.returncode for r in results]}")
    tally.notes.insert(0, f"{refused} of {2 * trials} builds refused in one line")
    return tally


def two_reproduces(trials: int, rng: random.Random, work: Path) -> Tally:
    """Two `copycot reproduce` on one output folder at once: one is refused in one line (or both
    finish, one after the other), and the runs and report equal an uninterrupted run's."""
    tally = Tally(
        "two copycot reproduce on one folder", "python benchmarks/faults.py --only two_reproduces"
    )
    reference, _ = reference_reproduce(work)
    expected = reproduce_outcome(reference)
    out = work / "two-reproduces"
    refused = 0
    for trial in range(trials):
        shutil.rmtree(out, ignore_errors=True)
        command = [str(c) for c in reproduce_command(out)]
        results = _race(command, command, rng.uniform(0.0, 3.0), reproduce_env(out))
        ok = all(r.returncode == 0 or one_error_line(r.stderr, "in use") for r in results)
        refused += sum(r.returncode != 0 for r in results)
        intact = all(_result_ok(p) for p in out.glob("runs/*/result.json"))
        same = intact and reproduce_outcome(out) == expected
        tally.add(ok and same, not same, f"trial {trial}: rcs={[r.returncode for r in results]}")
    tally.notes.insert(0, f"{refused} of {2 * trials} refused in one line")
    return tally


def _race(first: list[str], second: list[str], gap: float, env: dict):
    """Start `first`, then `second` `gap` seconds later; both results."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    a = subprocess.Popen(first, **options)
    time.sleep(gap)
    b = subprocess.Popen(second, **options)
    outputs = [p.communicate(timeout=900) for p in (a, b)]
    return [
        subprocess.CompletedProcess(p.args, p.returncode, *output)
        for p, output in zip((a, b), outputs, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Damaged files


def corrupt_cache(trials: int, rng: random.Random, work: Path) -> Tally:
    """A run's result.json truncated, emptied, bit-flipped or with one digit changed, then
    `copycot reproduce` again: one error line naming the file, or (a change that parses to the same
    numbers) the same report; never different numbers."""
    tally = Tally(
        "damaged result.json in the run cache", "python benchmarks/faults.py --only corrupt_cache"
    )
    reference, _ = reference_reproduce(work)
    expected = reproduce_outcome(reference)
    out = work / "corrupt-cache"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(reference, out)
    for trial in range(trials):
        path = rng.choice(sorted(out.glob("runs/*/result.json")))
        original = path.read_bytes()
        how = damage(path, rng)
        result = run(reproduce_command(out), env=reproduce_env(out))
        named = result.returncode == 2 and one_error_line(result.stderr, str(path), "delete")
        wrong = result.returncode == 0 and reproduce_outcome(out) != expected
        same = result.returncode == 0 and not wrong
        path.write_bytes(original)
        tally.add(named or same, wrong, f"trial {trial} ({how}): rc={result.returncode}")
    return tally


def corrupt_checkpoint(trials: int, rng: random.Random, work: Path) -> Tally:
    """A file of a finished checkpoint damaged, then a resume from it: one error line naming the
    checkpoint, never a run that goes on from damaged weights or optimizer state."""
    tally = Tally(
        "damaged checkpoint file", "python benchmarks/faults.py --only corrupt_checkpoint"
    )
    reference, _ = reference_finetune(work, "pythia-tiny")
    expected = finetune_outcome(reference)
    for trial in range(trials):
        root = work / "corrupt-checkpoint"
        shutil.rmtree(root, ignore_errors=True)
        checkpoint = root / "step_6"
        shutil.copytree(reference / "checkpoints" / "step_6", checkpoint)
        path = rng.choice(sorted(p for p in checkpoint.iterdir() if p.is_file()))
        how = damage(path, rng)
        command = finetune_command(
            root / "out", "pythia-tiny", "--resume_from_checkpoint", checkpoint
        )
        result = run(command)
        named = result.returncode == 2 and one_error_line(result.stderr, str(checkpoint))
        wrong = result.returncode == 0 and finetune_outcome(root / "out") != expected
        same = result.returncode == 0 and not wrong
        tally.add(
            named or same, wrong, f"trial {trial} ({path.name}, {how}): rc={result.returncode}"
        )
    return tally


def corrupt_shard(trials: int, rng: random.Random, work: Path) -> Tally:
    """A parquet shard of a local build damaged, then a finetune on that folder: one error line
    naming the shard and the rebuild command, never training or scoring on altered rows."""
    tally = Tally(
        "damaged dataset parquet shard", "python benchmarks/faults.py --only corrupt_shard"
    )
    reference, _ = reference_build(work)
    root = work / "corrupt-shard"
    for trial in range(trials):
        shutil.rmtree(root, ignore_errors=True)
        folder = root / "copy-cot"
        shutil.copytree(reference, folder)
        config = rng.choice(["copy", "lis", "ed"])
        path = rng.choice(sorted(folder.glob(f"data/{config}/t*.parquet")))  # train, test*
        how = damage(path, rng)
        command = [*COPYCOT, "finetune", "--model_name_or_path", "preset:pythia-tiny",
                   "--dataset_name", folder, "--dataset_config", config, "--max_steps", "1",
                   "--per_device_train_batch_size", "2", "--max_eval_examples", "2",
                   "--output_dir", root / "out"]  # fmt: skip
        result = run(command)
        named = result.returncode == 2 and one_error_line(result.stderr, str(path), "rebuild")
        tally.add(
            named,
            result.returncode == 0,
            f"trial {trial} ({path.name}, {how}): rc={result.returncode}",
        )
    return tally


# ---------------------------------------------------------------------------------------------
# A full disk


@contextlib.contextmanager
def small_disk(folder: Path, size_bytes: int) -> Iterator[bool]:
    """A tmpfs of `size_bytes` mounted on `folder` (True), or False where mounting is not allowed
    (not root): the caller then simulates ENOSPC instead."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(folder)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of `folder` up to `leave` free bytes with a filler file."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as handle:
        handle.truncate(0)
        block = b"\0" * (1 << 16)
        remaining = max(0, free - leave)
        while remaining > 0:
            remaining -= handle.write(block[: min(len(block), remaining)])


def disk_full_build(trials: int, rng: random.Random, work: Path) -> Tally:
    """Rebuild over a finished build on a small tmpfs with a random amount of space left: one error
    line saying the disk is full, the previous build unchanged, no staging debris left."""
    tally = Tally(
        "full disk during the dataset build (tmpfs)",
        "python benchmarks/faults.py --only disk_full_build",
    )
    reference, _ = reference_build(work)
    size = sum(p.stat().st_size for p in reference.rglob("*") if p.is_file())
    mount = work / "disk-build"
    with small_disk(mount, 2 * size + (1 << 20)) as mounted:
        if not mounted:
            tally.notes.append("tmpfs mount refused (not root): not run")
            return tally
        for trial in range(trials):
            for entry in mount.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            out = mount / "copy-cot"
            shutil.copytree(reference, out)
            before = digests(out)
            fill(mount, rng.randrange(0, int(size * 0.9)))
            result = run([*BUILD, "--output_dir", out, *BUILD_ARGS])
            said = result.returncode == 2 and one_error_line(result.stderr, "no space left")
            kept = digests(out) == before
            clean = not leftovers(mount)
            note = f"trial {trial}: rc={result.returncode} said={said} kept={kept} clean={clean}: {last_line(result.stderr)}"
            tally.add(said and kept and clean, not kept, note)
    return tally


def disk_full_checkpoint(trials: int, rng: random.Random, work: Path) -> Tally:
    """Resume a finished run on a small tmpfs whose free space runs out at a random point of the
    next checkpoint or the final save: one error line, the checkpoints and the model already there
    unchanged, no staging debris left."""
    tally = Tally(
        "full disk during checkpoint / model save (tmpfs)",
        "python benchmarks/faults.py --only disk_full_checkpoint",
    )
    seed_run = work / "disk-checkpoint-seed"
    if not (seed_run / "eval_results.json").exists():  # 6 updates: checkpoints 3 and 6, a model
        shutil.rmtree(seed_run, ignore_errors=True)
        result = run(finetune_command(seed_run, "pythia-tiny", "--max_steps", "6"))
        assert result.returncode == 0, result.stderr[-2000:]
    size = sum(p.stat().st_size for p in seed_run.rglob("*") if p.is_file())
    checkpoint_size = sum(p.stat().st_size for p in (seed_run / "checkpoints/step_3").iterdir())
    mount = work / "disk-checkpoint"
    with small_disk(mount, size + 2 * checkpoint_size + (1 << 20)) as mounted:
        if not mounted:
            tally.notes.append("tmpfs mount refused (not root): not run")
            return tally
        for trial in range(trials):
            for entry in mount.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            out = mount / "out"
            shutil.copytree(seed_run, out)
            before = digests(out)
            fill(mount, rng.randrange(0, checkpoint_size))
            command = finetune_command(out, "pythia-tiny", "--resume_from_checkpoint", "latest")
            result = run(command)
            said = result.returncode == 2 and one_error_line(result.stderr, "no space left")
            after = digests(out)
            kept = all(after.get(name) == digest for name, digest in before.items())
            clean = not leftovers(mount)
            note = f"trial {trial}: rc={result.returncode} said={said} kept={kept} clean={clean}: {last_line(result.stderr)}"
            tally.add(said and kept and clean, not kept, note)
    return tally


# ---------------------------------------------------------------------------------------------
# Bad input


class WouldRun(Exception):
    """Raised in place of the work a command starts once its flags are accepted."""


VALUES = ["", "-1", "0", "1", "2", "999999999999", "nan", "inf", "-inf", "1e309", "abc", "-",
          "--", "ü✓", "x" * 300, "3:2", "5:", ":", "0:0", "1:1000000", "true", "false", "none",
          "{", "[]", '{"n": -3}', "0x10", " 1", "preset:nope", "preset:pythia-tiny", "copy", "lis",
          "phonebook", "sort", "small", "full", "smoke", "gpu", "ray", "nowhere/sub"]  # fmt: skip
FLAGS = {
    "build": ["--output_dir", "--configs", "--seed", "--dataset_size", "--train_rows",
              "--eval_rows", "--lengths", "--long_lengths", "--push_to_hub", "--repo_id",
              "--private", "--size"],
    "finetune": ["--model_name_or_path", "--dataset_name", "--dataset_config", "--output_dir",
                 "--max_steps", "--learning_rate", "--per_device_train_batch_size",
                 "--gradient_accumulation_steps", "--checkpointing_steps",
                 "--resume_from_checkpoint", "--eval_steps", "--early_stopping_score",
                 "--min_length", "--max_length", "--task_params", "--tokenizer", "--use_cot",
                 "--max_eval_examples", "--push_to_hub", "--seed", "--num_train_epochs"],
    "evaluate": ["--model_name_or_path", "--dataset_name", "--dataset_config", "--output_dir",
                 "--min_length", "--max_length", "--max_eval_examples", "--eval_splits",
                 "--per_device_eval_batch_size", "--output", "--seed", "--dtype"],
    "reproduce": ["--scale", "--output_dir", "--seeds", "--workers", "--launcher",
                  "--ray_address", "--cpus_per_job", "--gpus_per_job", "--only", "--dry_run",
                  "--tune_lr", "--models_dir", "--preset"],
    "peers": ["import", "export", "--format", "--output", "--split", "--dataset_name",
              "--length", "--direct", "--files", "--max_eval_examples", "--seed"],
    "space": ["--model_a", "--model_b", "--models_dir", "--port", "--max_input_chars",
              "--max_new_tokens", "--concurrency", "--queue_size", "--dtype", "--skip_training"],
    "copycot": ["demo", "datasets", "finetune", "evaluate", "reproduce", "peers", "space",
                "nope", "--help", "-x"],
}  # fmt: skip
REQUIRED = {  # often given valid, so the fuzz reaches the checks after parsing
    "finetune": ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy",
                 "--output_dir", "out"],
    "evaluate": ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy"],
    "build": ["--output_dir", "build"],
}  # fmt: skip


def _command_mains() -> dict[str, tuple[Callable, list[tuple[object, str]]]]:
    """Each command's main and what to replace with WouldRun (the work after validation)."""
    from hf_copycot.spaces.copy_arena import app

    from hf_copycot import cli, data, dataset_repo, evaluation, finetune, peers
    from hf_copycot.reproduce import cli as reproduce_cli

    def build_main(argv):
        return dataset_repo.main(argv)

    return {
        "build": (build_main, [(dataset_repo, "_generate_splits")]),
        "finetune": (finetune.main, [(finetune, "train")]),
        "evaluate": (evaluation.main, [(evaluation, "eval_rows")]),
        "reproduce": (reproduce_cli.main, [(reproduce_cli, "run_plan")]),
        "peers": (peers.main, [(peers, "import_files"), (data, "eval_rows")]),
        "space": (app.main, [(app, "ensure_copy_pair")]),
        "copycot": (cli.main, [(cli.importlib, "import_module")]),
    }


def fuzz_argv(command: str, rng: random.Random) -> list[str]:
    argv = list(REQUIRED.get(command, [])) if rng.random() < 0.5 else []
    for _ in range(rng.randrange(0, 5)):
        flag = rng.choice(FLAGS[command]) if rng.random() < 0.9 else "--no_such_flag"
        argv.append(flag)
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            argv.append(rng.choice(VALUES))
    return argv


def fuzz_cli(cases: int, rng: random.Random, work: Path) -> Tally:
    """`cases` generated command lines over every CLI (the build, finetune, evaluate, reproduce,
    peers, space, copycot itself), run in-process up to the point where work would start: each
    is accepted, or ends with exit 2 (1 for a failed push) and one error line; no traceback."""
    from unittest import mock

    tally = Tally(
        "bad flags to every CLI (generated)", "python benchmarks/faults.py --only fuzz_cli"
    )
    mains = _command_mains()
    folder = work / "fuzz-cli"
    folder.mkdir(parents=True, exist_ok=True)
    previous = Path.cwd()
    os.chdir(folder)  # relative output folders land here
    try:
        for case in range(cases):
            command = list(mains)[case % len(mains)]
            main, replaced = mains[command]
            argv = fuzz_argv(command, rng)
            err, out = io.StringIO(), io.StringIO()
            with contextlib.ExitStack() as stack:
                for owner, name in replaced:
                    stack.enter_context(mock.patch.object(owner, name, side_effect=WouldRun))
                stack.enter_context(contextlib.redirect_stderr(err))
                stack.enter_context(contextlib.redirect_stdout(out))
                try:
                    code = main(argv)
                except WouldRun:
                    code = "accepted"
                except SystemExit as exit_:
                    code = exit_.code if isinstance(exit_.code, int) else 2
                except Exception as error:  # a traceback for the user
                    code = f"{type(error).__name__}: {error}"
            if code in ("accepted", 0, None):
                tally.add(True)
            elif code in (1, 2):
                ok = one_error_line(err.getvalue())
                tally.add(ok, note=f"{command} {argv}: {err.getvalue().strip()[-300:]}")
            else:
                tally.add(False, note=f"{command} {argv}: raised {str(code)[:200]}")
    finally:
        os.chdir(previous)
    return tally


def fuzz_metrics(cases: int, rng: random.Random, work: Path) -> Tally:
    """`cases` generated inputs to each metric module (copy_accuracy, phonebook_accuracy,
    dp_cot_accuracy): a result whose scores are numbers in their range, or a ValueError / TypeError
    of one line; never another exception or a NaN."""
    import math

    import evaluate

    tally = Tally(
        "bad inputs to the metrics (generated)", "python benchmarks/faults.py --only fuzz_metrics"
    )
    names = ["copy_accuracy", "phonebook_accuracy", "dp_cot_accuracy"]
    metrics = {
        name: evaluate.load(str(REPO / "eval" / name), keep_in_memory=True) for name in names
    }
    atoms = [
        lambda: "", lambda: "abc", lambda: "a" * rng.randrange(1, 3000), lambda: "ü✓\n\t.",
        lambda: None, lambda: 3, lambda: 2.5, lambda: float("nan"), lambda: b"abc",
        lambda: ["a"], lambda: {"a": 1}, lambda: "1 2 3", lambda: "-1,5,x", lambda: "</s>",
        lambda: " ".join(str(rng.randrange(-9, 99)) for _ in range(rng.randrange(0, 12))),
    ]  # fmt: skip
    kwarg_values = [None, -1, 0, 1, 3, [0], [3, 1], [1, 2, 3], "x", [None], [-1], 1.5, []]
    for case in range(cases):
        name = names[case % len(names)]
        n = rng.choice([0, 1, 2, 5])
        predictions = [rng.choice(atoms)() for _ in range(n)]
        references = [rng.choice(atoms)() for _ in range(n + rng.choice([0, 0, 0, 1, -1]))]
        kwargs = {}
        for key in rng.sample(["lengths", "length_buckets", "end_markers", "prompts"], 2):
            if rng.random() < 0.4:
                kwargs[key] = rng.choice(kwarg_values)
        try:
            result = metrics[name].compute(predictions=predictions, references=references, **kwargs)
        except (ValueError, TypeError) as error:
            tally.add(
                "\n" not in str(error), note=f"{name}: {type(error).__name__}: {error!s:.200}"
            )
            continue
        except Exception as error:
            tally.add(
                False,
                note=f"{name} {predictions!r:.80} {kwargs}: {type(error).__name__}: {error!s:.150}",
            )
            continue
        scores = [v for v in (result or {}).values() if isinstance(v, float)]
        tally.add(bool(scores) and all(math.isfinite(v) and v >= 0 for v in scores),
                  note=f"{name}: result {result!r:.200}")  # fmt: skip
    return tally


# ---------------------------------------------------------------------------------------------
# The Space under load

SPACE_DEADLINE_S = 120.0  # every request answered or refused within this (stated in the table)
SPACE_LIMITS = ["--max_input_chars", "300", "--max_new_tokens", "64", "--concurrency", "1",
                "--queue_size", "16"]  # fmt: skip


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def space_load(clients: int, rng: random.Random, work: Path) -> Tally:
    """`clients` gradio_client clients at once, each racing both tiny models on an input at or past
    the Space's bounds (text of 0 to 10x --max_input_chars characters, lengths out of range, a
    model that is not offered): every request is answered, or refused in one line, within
    SPACE_DEADLINE_S; the server's resident memory is sampled throughout."""
    import socket
    import threading

    from gradio_client import Client

    sys.path.insert(0, str(REPO / "tests"))
    from tiny_models import save_tiny_model

    tally = Tally(
        f"Space under load ({clients} concurrent clients)",
        "python benchmarks/faults.py --only space_load",
    )
    root = work / "space"
    shutil.rmtree(root, ignore_errors=True)
    (root / "no-models").mkdir(parents=True)
    mamba = save_tiny_model("mamba", root / "mamba-tiny")
    pythia = save_tiny_model("gpt_neox", root / "pythia-tiny")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [*COPYCOT, "space", "--port", str(port), "--model_a", str(mamba), "--model_b",
               str(pythia), "--models_dir", str(root / "no-models"), *SPACE_LIMITS]  # fmt: skip
    log = (root / "server.log").open("w")
    env = {**ENV, "COPYCOT_MODEL_A": "", "COPYCOT_MODEL_B": ""}
    env.pop("SPACE_ID", None)
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    peak, stop = [0.0], threading.Event()
    try:
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", server.stdout.readline())
        if not match:
            tally.notes.append("server did not start: " + (root / "server.log").read_text()[-300:])
            return tally
        url = match.group(1)
        start_rss = _rss_mb(server.pid)

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_mb(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cases = []
        for i in range(clients):
            text = "ab" * (rng.choice([1, 4, 20, 146, 146, 0, 150, 151, 1500]))  # cap 300
            length = rng.choice([1, 5, 5, 5, 292, 293, 0, -3])  # the slider's bounds: 1..292
            model_b = str(pythia) if rng.random() < 0.9 else "no/such-model"
            cases.append(["copy", text, i, length, 4, str(mamba), model_b])
        outcomes: list[tuple[str, float, str]] = [("", 0.0, "")] * clients
        barrier = threading.Barrier(clients)

        def client(i: int) -> None:
            started = None
            try:
                handle = Client(url, verbose=False)
                barrier.wait()
                started = time.perf_counter()
                job = handle.submit(*cases[i], api_name="/run")
                result = job.result(timeout=SPACE_DEADLINE_S)
                kind = "answered" if len(result) == 4 else "odd"
                outcomes[i] = (kind, time.perf_counter() - started, "")
            except Exception as error:
                seconds = time.perf_counter() - started if started else 0.0
                message = str(error).strip()
                kind = "refused" if message and "\n" not in message else "unclear"
                if isinstance(error, TimeoutError) or seconds >= SPACE_DEADLINE_S:
                    kind = "late"
                outcomes[i] = (kind, seconds, f"{type(error).__name__}: {message[:120]}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SPACE_DEADLINE_S + 60)
        stop.set()
        sampler.join()
        kinds = [kind for kind, _, _ in outcomes]
        for kind, seconds, message in outcomes:
            tally.add(kind in ("answered", "refused") and seconds < SPACE_DEADLINE_S,
                      note=f"{kind} after {seconds:.1f}s: {message}")  # fmt: skip
        reasons = sorted(
            {m.split(":", 1)[1].strip()[:60] for k, _, m in outcomes if k == "refused"}
        )
        tally.notes[:0] = [
            f"{kinds.count('answered')} answered, {kinds.count('refused')} refused in one line; "
            f"slowest {max(s for _, s, _ in outcomes):.1f} s (deadline {SPACE_DEADLINE_S:.0f} s); "
            f"server RSS {start_rss:.0f} MB at start, {peak[0]:.0f} MB peak; queue: "
            + " ".join(SPACE_LIMITS[4:]),
            "refusals: " + " | ".join(reasons),
        ]
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return tally


# ---------------------------------------------------------------------------------------------
# The table

FAULTS: dict[str, Callable[[int, random.Random, Path], Tally]] = {
    "kill_build": kill_build,
    "kill_finetune": kill_finetune,
    "kill_reproduce": kill_reproduce,
    "two_builds": two_builds,
    "two_reproduces": two_reproduces,
    "corrupt_cache": corrupt_cache,
    "corrupt_checkpoint": corrupt_checkpoint,
    "corrupt_shard": corrupt_shard,
    "disk_full_build": disk_full_build,
    "disk_full_checkpoint": disk_full_checkpoint,
    "fuzz_cli": fuzz_cli,
    "fuzz_metrics": fuzz_metrics,
    "space_load": space_load,
}
# Trials of the long form where --trials does not say: the fuzzers count generated cases, the
# Space its concurrent clients; the slowest targets fewer trials.
LONG_FORM = {"two_builds": 10, "two_reproduces": 3, "corrupt_cache": 10, "corrupt_checkpoint": 10,
             "corrupt_shard": 10, "disk_full_build": 5, "disk_full_checkpoint": 5,
             "fuzz_cli": 400, "fuzz_metrics": 300, "space_load": 40}  # fmt: skip


def table(tallies: list[Tally]) -> str:
    lines = [
        "| fault | trials | survived | data lost | seconds | notes |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for t in tallies:
        notes = "; ".join(t.notes).replace("|", "/")
        lines.append(
            f"| {t.fault} | {t.trials} | {t.survived} | {t.lost} | {t.seconds:.0f} | {notes} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help=f"comma-separated of: {', '.join(FAULTS)}")
    parser.add_argument("--trials", type=int, default=None, help="per fault (default: 20 kills)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(FAULTS)
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        parser.error(f"unknown fault {unknown[0]!r}; choose from {', '.join(FAULTS)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="copycot-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    tallies = []
    for name in names:
        trials = args.trials or LONG_FORM.get(name, 20)
        started = time.perf_counter()
        tally = FAULTS[name](trials, random.Random(f"{args.seed}-{name}"), work)
        tally.seconds = time.perf_counter() - started
        tallies.append(tally)
        print(f"{name}: {tally.survived}/{tally.trials} survived, {tally.lost} lost "
              f"({tally.seconds:.0f} s)", flush=True)  # fmt: skip
    print(table(tallies))
    return 0 if all(t.survived == t.trials and not t.lost for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main())
