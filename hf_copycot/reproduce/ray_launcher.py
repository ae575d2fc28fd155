"""`copycot reproduce --launcher ray`: each job a Ray task that asks for its CPUs and GPUs.

    pip install 'hf-copycot[ray]'
    copycot reproduce --scale gpu --launcher ray                         # a Ray instance here
    copycot reproduce --scale gpu --launcher ray --ray_address auto      # the cluster of `ray start`

A task runs the same `runner._run_one` as a local worker (fresh run folder, log, result.json written
last), on `cpus_per_job` torch threads and the `gpus_per_job` GPUs Ray assigned it
(CUDA_VISIBLE_DEVICES); with more than one GPU, training and evaluation start `accelerate launch`
inside the task on those GPUs (`job_process.Accelerated`). Tasks have `max_retries=0`: a worker
that dies surfaces as a Ray system error, which the runner retries once like a local one, so the
retry rule is the runner's for both launchers. On a cluster, `--output_dir` must be a folder every
node sees at the same path (a shared file system), and every node needs hf-copycot installed.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path

from hf_copycot.errors import ArgumentError, JobFailed
from hf_copycot.reproduce import job_process
from hf_copycot.reproduce.runner import Execute, Job, Outcome, _init_worker, _run_one
from hf_copycot.tasks import registered_elsewhere

# Job kinds that can run over several GPUs; a timed measurement runs on one.
MULTI_GPU_KINDS = frozenset({"finetune", "evaluate"})
# Settings of this shell that change what a run computes or where it may reach, given to the tasks
# (a cluster's nodes otherwise have their own); paths and tokens stay each node's own.
FORWARDED_ENV = (
    "ACCELERATE_MIXED_PRECISION",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "TOKENIZERS_PARALLELISM",
)


def _ray():
    try:
        import ray
    except ImportError:
        raise ArgumentError(
            "--launcher ray needs Ray: pip install 'hf-copycot[ray]' (or use --launcher local)"
        ) from None
    return ray


@contextlib.contextmanager
def session(address: str | None, num_cpus: int | None = None) -> Iterator[dict]:
    """Connected to the Ray cluster at `address` ("auto": the one `ray start` made on this machine)
    or RAY_ADDRESS, else to a new Ray instance started here with `num_cpus` CPUs, no dashboard, for
    the duration; yields the cluster's resources.

    An instance started here is shut down on leaving; an existing connection is left alone. The
    tasks get this shell's `FORWARDED_ENV` settings.
    """
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        options = {
            "include_dashboard": False,
            "log_to_driver": False,
            "runtime_env": {"env_vars": env} if env else None,
        }
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is None:  # "local": a new instance, even where `ray start` runs one
            address, options["num_cpus"] = "local", num_cpus
        ray.init(address=address, **options)
    try:
        yield ray.cluster_resources()
    finally:
        if started:
            ray.shutdown()


def _task(
    execute: Execute,
    job: Job,
    job_dir: str,
    model_dir: str | None,
    cpus: int,
    gpus: int,
    added_tasks: dict[str, str] | None = None,
) -> tuple:
    """One job inside a Ray worker: ("done", payload) or ("failed", reason, log)."""
    ray = _ray()
    job_path = Path(job_dir)
    if not job_path.parent.is_dir():
        node = platform.node()
        return (
            "failed",
            f"{job_path.parent} does not exist on node {node}: --output_dir must be a folder "
            "every node sees at the same path (a shared file system)",
            None,
        )
    _init_worker(cpus, None, added_tasks)  # the tasks the driver registered, re-registered
    if gpus:  # Ray sets it too; said here so the processes accelerate starts inherit it
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in ray.get_gpu_ids())
    if gpus > 1 and job.kind in MULTI_GPU_KINDS:
        execute = job_process.Accelerated(execute, gpus)
    try:
        return ("done", _run_one(execute, job, job_path, Path(model_dir) if model_dir else None))
    except JobFailed as error:
        return ("failed", error.reason, str(error.log))


class RayLauncher:
    """Jobs as Ray tasks of `cpus_per_job` CPUs and `gpus_per_job` GPUs (needs `session`).

    `max_in_flight` caps the tasks submitted at once; by default as many as the cluster fits now
    (asked again before each submission, so nodes that join are used).
    """

    def __init__(self, cpus_per_job: int, gpus_per_job: int, max_in_flight: int | None = None):
        ray = _ray()
        self.cpus, self.gpus, self.max_in_flight = cpus_per_job, gpus_per_job, max_in_flight
        resources = ray.cluster_resources()
        for name, wanted in (("CPU", cpus_per_job), ("GPU", gpus_per_job)):
            if wanted > resources.get(name, 0):
                flag = f"--{name.lower()}s_per_job"
                raise ArgumentError(
                    f"{flag} {wanted} but the Ray cluster has {resources.get(name, 0):g} {name}(s) "
                    f"in all: lower {flag} or add nodes"
                )
        options = {"num_cpus": cpus_per_job, "num_gpus": gpus_per_job, "max_retries": 0}
        if gpus_per_job:  # a fresh process per GPU job: CUDA keeps the devices it first saw
            options["max_calls"] = 1
        self._remote = ray.remote(**options)(_task)
        self._jobs: dict = {}

    def summary(self) -> str:
        resources = _ray().cluster_resources()
        cluster = f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
        return f"as Ray tasks of {self.cpus} CPU(s) + {self.gpus} GPU(s) on a cluster of {cluster}"

    def capacity(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        resources = _ray().cluster_resources()
        fits = resources.get("CPU", 0) // self.cpus
        if self.gpus:
            fits = min(fits, resources.get("GPU", 0) // self.gpus)
        return max(1, int(fits))

    def submit(self, execute: Execute, job: Job, job_dir: Path, model_dir: Path | None):
        ref = self._remote.remote(
            execute,
            job,
            str(job_dir.resolve()),
            str(model_dir.resolve()) if model_dir else None,
            self.cpus,
            self.gpus,
            registered_elsewhere(),
        )
        self._jobs[ref] = job
        return ref

    def wait(self, handles: list) -> list[tuple[object, Outcome]]:
        ray = _ray()
        ray.wait(handles, num_returns=1)
        ready, _ = ray.wait(handles, num_returns=len(handles), timeout=0)
        outcomes = []
        for ref in ready:
            self._jobs.pop(ref, None)
            try:
                kind, *rest = ray.get(ref)
            except ray.exceptions.RayTaskError as error:  # a bug outside the job: not a death
                line = str(error).strip().splitlines()[-1] if str(error).strip() else "?"
                outcomes.append((ref, Outcome(failed=(line, None))))
                continue
            except ray.exceptions.RayError as error:  # the worker or its node died
                died = f"its Ray worker died ({type(error).__name__})"
                outcomes.append((ref, Outcome(died=died)))
                continue
            if kind == "done":
                outcomes.append((ref, Outcome(payload=rest[0])))
            else:
                outcomes.append((ref, Outcome(failed=(rest[0], rest[1]))))
        return outcomes

    def close(self) -> None:
        """Cancel what is still running (an interrupted run); finished jobs are cached already."""
        ray = _ray()
        for ref in list(self._jobs):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._jobs.clear()
