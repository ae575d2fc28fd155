"""Run a study plan: jobs cached by a hash of what they run, scheduled over worker processes.

A job carries the very dataclasses a command parses (`finetune.py`'s, `copycot evaluate`'s, or an
inference-cost measurement's) and the runner calls the function behind the command, which returns
its results. Its key hashes the job's kind, its arguments (all but where output goes, which the
runner sets per run: `KEY_EXCLUDED`), the model it reads and the generator version, so changing any
of them re-runs it and nothing else. The label is for people only: two studies that share a run
under different labels share its cache. argv (`Job.flags`) is rendered from the arguments for
results.json and the user's command line; nothing runs it. A finished job leaves
`runs/<key>/result.json` (written last, atomically); everything else in the folder is the job's own
output (model, log).

Small models train fastest one per core: each worker process runs one job at a time with
`threads` torch threads, and jobs go out longest first (dependencies permitting). Where they run is
a `Launcher`: worker processes on this machine (`LocalLauncher`, one GPU each where there are GPUs)
or Ray tasks on a cluster (`ray_launcher.RayLauncher`); the cache, order, progress bar, retries and
records are this module's, the same for both. A job whose worker process dies (killed, out of
memory) runs once more, then is recorded as failed like a job that raised.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from hf_copycot import __version__
from hf_copycot.errors import CorruptFileError, JobFailed
from hf_copycot.flags import to_argv
from hf_copycot.publishing import write_json
from hf_copycot.tasks import registered_elsewhere, restore_registered

RESULT_FILE = "result.json"
MODEL_DIR = "model"  # a finetune job's output folder, inside its run folder
# Fields that say where output goes (the runner sets them per run), not what the run computes.
KEY_EXCLUDED = frozenset({"output_dir", "overwrite_output_dir", "output", "predictions_file"})


@dataclass(frozen=True)
class Job:
    """One cached unit of work. `needs` is the key of the finetune job whose model it reads."""

    kind: str  # "finetune" | "evaluate" | "inference_cost"
    label: str  # readable: "copy mamba-tiny seed 0"; not part of the key
    args: tuple[Any, ...] = field(default=(), hash=False)  # the dataclasses the command parses
    needs: str | None = None
    cost: float = 1.0  # relative estimate, for scheduling and the time-left estimate
    info: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        from hf_copycot.tasks import GENERATOR_VERSION

        arguments = [
            {k: v for k, v in dataclasses.asdict(a).items() if k not in KEY_EXCLUDED}
            for a in self.args
        ]
        blob = json.dumps(
            [self.kind, arguments, self.needs, GENERATOR_VERSION, __version__], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def flags(self) -> tuple[str, ...]:
        """The arguments as a command line, for people (results.json, the report)."""
        return tuple(to_argv(*self.args))

    def record(self, **outcome) -> dict:
        """What results.json keeps of the job: which run it is, then `outcome`."""
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "flags": list(self.flags),
            "needs": self.needs,
            "info": self.info,
            **outcome,
        }


def unique_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Drop repeated jobs (studies share runs), keeping the first label."""
    seen: dict[str, Job] = {}
    for job in jobs:
        seen.setdefault(job.key, job)
    return list(seen.values())


CHECKSUM = "sha256"  # result.json's digest of the rest of its payload


def payload_digest(payload: dict) -> str:
    """sha256 of a result payload (without its own digest), key order aside."""
    rest = {key: value for key, value in payload.items() if key != CHECKSUM}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def load_result(runs_dir: Path, job: Job) -> dict | None:
    """The cached result of `job`, None if it has not finished; CorruptFileError (naming the file
    and the fix) for a result.json that is truncated, altered or another run's, so a damaged
    cache never turns into a wrong score. Results written before the digest existed are read as
    they are."""
    path = runs_dir / job.key / RESULT_FILE
    if not path.exists():
        return None
    fix = f"delete {path.parent} and run again to redo that run"
    try:
        payload = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptFileError(f"{path} is not valid JSON (truncated or damaged); {fix}") from None
    if not isinstance(payload, dict) or payload.get("key") != job.key or "result" not in payload:
        raise CorruptFileError(f"{path} is not the result of run {job.key}; {fix}")
    if CHECKSUM in payload and payload[CHECKSUM] != payload_digest(payload):
        raise CorruptFileError(f"{path} does not match its sha256 (altered or damaged); {fix}")
    return payload


def default_workers() -> int:
    """One worker per core, at most 4 (tiny models gain little from more threads per job)."""
    return max(1, min(4, os.cpu_count() or 1))


Execute = Callable[[Job, Path, Path | None], dict]  # runs one job in a worker, returns its result


@dataclass
class Outcome:
    """How a submitted job ended, as a launcher reports it: exactly one field is set."""

    payload: dict | None = None  # finished: its result.json record
    failed: tuple[str, str | None] | None = None  # (one-line reason, log path): raised or None
    died: str | None = None  # its worker process died (killed, out of memory): retried once


class Launcher(Protocol):
    """Where jobs run: worker processes here (`LocalLauncher`) or Ray tasks
    (`hf_copycot.reproduce.ray_launcher.RayLauncher`). The runner keeps the cache, the order,
    the progress bar, the retries and the records, so they are the same whichever runs the jobs."""

    def summary(self) -> str: ...  # "on 2 worker(s) x 1 thread(s)", for the first line

    def capacity(self) -> int: ...  # how many jobs to keep submitted at once

    def submit(
        self, execute: Execute, job: Job, job_dir: Path, model_dir: Path | None
    ) -> Hashable: ...

    def wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]: ...

    def close(self) -> None: ...


RETRIES = 1  # a job whose worker process dies runs once more, then is reported as failed


def run_jobs(
    jobs: list[Job],
    runs_dir: Path,
    *,
    execute: Execute,
    workers: int | None = None,
    threads: int | None = None,
    launcher: Launcher | None = None,
    describe: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Run every job not yet cached; returns key -> result for all of them.

    `execute(job, job_dir, model_dir)` runs in a worker process (`launcher`, by default
    `LocalLauncher(workers, threads)`) and returns the job's result. A job that fails (and every
    job that needs its model) is returned as a record with `failed` (one line) and `log` instead
    of `result`, and is said through `describe`; the other jobs run on. A job whose worker process
    dies is run once more first. Finished jobs stay cached; failed ones leave no result and run
    again next time.
    """
    if launcher is None:
        launcher = LocalLauncher(workers or default_workers(), threads or 1)
    runs_dir.mkdir(parents=True, exist_ok=True)
    by_key = {job.key: job for job in jobs}
    results = {key: r for key in by_key if (r := load_result(runs_dir, by_key[key])) is not None}
    pending = [job for job in jobs if job.key not in results]
    failed: set[str] = set()
    finished = set(results) | {  # dependencies that finished earlier, outside this plan
        job.needs for job in pending if job.needs and (runs_dir / job.needs / RESULT_FILE).exists()
    }
    for job in pending:
        if job.needs is not None and job.needs not in by_key and job.needs not in finished:
            raise ValueError(f"job {job.label!r} needs {job.needs}, which is not in the plan")
    describe(f"{len(jobs)} runs: {len(results)} cached, {len(pending)} to run {launcher.summary()}")
    if not pending:
        return results

    # The bar advances by each job's share of the estimated cost; tqdm turns it into time left.
    total_cost = sum(job.cost for job in pending)
    bar = tqdm(
        total=100.0,
        desc="reproduce",
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining} left] {postfix}",
    )
    in_flight: dict[Hashable, Job] = {}
    deaths: dict[str, int] = {}
    waiting = sorted(pending, key=lambda job: -job.cost)

    def fail(job: Job, reason: str, log: str | None = None) -> None:
        failed.add(job.key)
        results[job.key] = _failure(job, reason, log)

    try:
        while waiting or in_flight:
            for job in [job for job in waiting if job.needs in failed]:
                waiting.remove(job)
                fail(job, f"needs run {by_key[job.needs].label!r}, which failed")
                bar.update(100.0 * job.cost / total_cost)
            ready = [
                job
                for job in waiting
                if job.needs is None or job.needs in results or job.needs in finished
            ]
            for job in ready[: max(0, launcher.capacity() - len(in_flight))]:
                waiting.remove(job)
                model_dir = runs_dir / job.needs / MODEL_DIR if job.needs else None
                in_flight[launcher.submit(execute, job, runs_dir / job.key, model_dir)] = job
            if not in_flight:
                if not waiting:
                    break
                raise RuntimeError("no job can start: a dependency is missing from the plan")
            bar.set_postfix_str(_running(in_flight.values()), refresh=True)
            for handle, outcome in launcher.wait(list(in_flight)):
                job = in_flight.pop(handle)
                if outcome.died is not None:
                    deaths[job.key] = deaths.get(job.key, 0) + 1
                    if deaths[job.key] <= RETRIES:
                        bar.write(f"run {job.label!r}: {outcome.died}; running it once more")
                        waiting.insert(0, job)
                        continue
                    log = runs_dir / job.key / "log.txt"
                    outcome.failed = (
                        f"{outcome.died}, twice",
                        str(log) if log.exists() else None,
                    )
                if outcome.failed is not None:
                    reason, log = outcome.failed
                    fail(job, reason, log)
                    bar.write(f"run {job.label!r} failed: {reason} (log: {log})")
                else:
                    results[job.key] = outcome.payload
                    finished.add(job.key)
                bar.update(100.0 * job.cost / total_cost)
    finally:
        launcher.close()
        bar.close()
    return results


def _running(jobs: Iterable[Job], shown: int = 4) -> str:
    """The progress bar's postfix: the labels of the jobs in flight (a cluster runs many)."""
    labels = [job.label for job in jobs]
    more = f", +{len(labels) - shown} more" if len(labels) > shown else ""
    return ", ".join(labels[:shown]) + more


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES names them ("0", "1", ...):
    a worker is given one of these names."""
    import torch

    count = torch.cuda.device_count()
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(index) for index in range(count)]
    return [name.strip() for name in listed.split(",") if name.strip()][:count]


def gpu_slots(gpus: list[str], workers: int) -> list[str]:
    """The GPU of each worker, round-robin: worker i gets gpus[i % len(gpus)]."""
    return [gpus[index % len(gpus)] for index in range(workers)] if gpus else []


class LocalLauncher:
    """`workers` spawned processes on this machine, each running one job at a time with `threads`
    torch threads, and pinned to one GPU (CUDA_VISIBLE_DEVICES, round-robin) where GPUs are
    visible. A worker that dies breaks the whole pool (concurrent.futures cannot tell which job
    killed it): every job in flight then counts one death, and a fresh pool takes the retries."""

    def __init__(self, workers: int, threads: int, gpus: list[str] | None = None):
        self.workers, self.threads = workers, threads
        self.gpus = visible_gpus() if gpus is None else gpus
        self._pool: ProcessPoolExecutor | None = None
        self._pool_of: dict[Future, ProcessPoolExecutor] = {}

    def summary(self) -> str:
        text = f"on {self.workers} worker(s) x {self.threads} thread(s)"
        if self.gpus:
            text += f", one GPU each (CUDA_VISIBLE_DEVICES {', '.join(self.gpus)}, round-robin)"
        return text

    def capacity(self) -> int:
        return self.workers

    def submit(self, execute: Execute, job: Job, job_dir: Path, model_dir: Path | None) -> Future:
        if self._pool is None:
            context = get_context("spawn")
            slots = context.SimpleQueue()
            for gpu in gpu_slots(self.gpus, self.workers):
                slots.put(gpu)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.threads, slots if self.gpus else None, registered_elsewhere()),
            )
        future = self._pool.submit(_run_one, execute, job, job_dir, model_dir)
        self._pool_of[future] = self._pool
        return future

    def wait(self, handles: list[Future]) -> list[tuple[Future, Outcome]]:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        outcomes = []
        for future in done:
            pool = self._pool_of.pop(future)
            error = future.exception()
            if error is None:
                outcomes.append((future, Outcome(payload=future.result())))
            elif isinstance(error, JobFailed):
                outcomes.append((future, Outcome(failed=(error.reason, str(error.log)))))
            elif isinstance(error, BrokenProcessPool):
                if pool is self._pool:  # the next submit starts a fresh pool
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
                died = "its worker process died (killed, or out of memory)"
                outcomes.append((future, Outcome(died=died)))
            else:
                raise error
        return outcomes

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _failure(job: Job, reason: str, log: str | None = None) -> dict:
    """The record of a job that did not finish, in place of its result payload."""
    return job.record(failed=reason, log=log, result=None)


def _init_worker(threads: int, gpu_queue=None, added_tasks: dict[str, str] | None = None) -> None:
    """A worker process's set-up: its torch threads, its GPU (before CUDA starts), and the tasks
    the parent registered (a spawned process starts with the built-in ones only)."""
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_queue.get()
    restore_registered(added_tasks or {})
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run_one(
    execute: Execute,
    job: Job,
    job_dir: Path,
    model_dir: Path | None,
) -> dict:
    """Run `job` into a fresh `job_dir`, its output in `job_dir/log.txt`; write result.json last."""
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True)
    log_path = job_dir / "log.txt"
    started = time.perf_counter()
    with _output_to(log_path):
        _reset_accelerate()
        try:
            result = execute(job, job_dir, model_dir)
        except Exception:
            traceback.print_exc()
            result = None
    if result is None:
        lines = log_path.read_text().splitlines(keepends=True)
        reason = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        raise JobFailed(job.label, reason, log_path, "".join(lines[-15:]))
    payload = job.record(seconds=round(time.perf_counter() - started, 2), result=result)
    payload[CHECKSUM] = payload_digest(payload)
    write_json(job_dir / RESULT_FILE, payload)
    return payload


@contextlib.contextmanager
def _output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to `path`.

    At the descriptor level, so loggers and progress bars that captured `sys.stderr` when they
    were made (transformers', the first job's) write into the current job's log too.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _reset_accelerate() -> None:
    """Worker processes run many jobs; Accelerate keeps process-wide state between them."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    PartialState._reset_state()
    sys.stdout.flush()
