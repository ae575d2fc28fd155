"""`copycot reproduce --launcher ray` on a local Ray instance (conftest's `ray_address`): failures,
deaths and retries are the runner's, as with the local launcher; several GPUs start `accelerate
launch` inside the task. The smoke scale against the local launcher is in test_reproduce.py."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from hf_copycot.errors import ArgumentError
from hf_copycot.reproduce.runner import Job, run_jobs

pytestmark = pytest.mark.slow  # a Ray instance takes 10-40 s to start on 2 busy cores


@dataclass
class Toy:
    value: int = 0
    marker: str = ""  # a file outside the run folder: "died here once already"


def _dies(job: Job, job_dir: Path, model_dir: Path | None) -> dict:
    """Kills its own worker process (SIGKILL: no exception, no cleanup) once, or every time when
    it has no marker; otherwise returns its value. A value of -1 raises instead."""
    (toy,) = job.args
    if toy.value < 0:
        print("about to raise")
        raise ValueError("bad value")
    marker = Path(toy.marker) if toy.marker else None
    if marker is None or not marker.exists():
        if marker is not None:
            marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"value": toy.value}


def test_a_killed_ray_worker_is_retried_once_then_reported_and_others_finish(ray_address, tmp_path):
    from hf_copycot.reproduce.ray_launcher import RayLauncher

    once = Job("finetune", "dies once", (Toy(1, str(tmp_path / "once")),))
    always = Job("finetune", "always dies", (Toy(2),))
    raises = Job("finetune", "raises", (Toy(-1, str(tmp_path / "unused")),))
    reads = Job("evaluate", "reads the dead run", (Toy(3, "x"),), needs=always.key)
    fine = Job("finetune", "fine", (Toy(4, str(tmp_path / "fine")),))
    (tmp_path / "fine").touch()
    said: list[str] = []
    results = run_jobs(
        [once, always, raises, reads, fine],
        tmp_path / "runs",
        launcher=RayLauncher(1, 0),
        execute=_dies,
        describe=said.append,
    )
    assert "as Ray tasks of 1 CPU(s) + 0 GPU(s)" in said[0]
    assert results[once.key]["result"] == {"value": 1}
    assert results[fine.key]["result"] == {"value": 4}
    assert (tmp_path / "runs" / once.key / "result.json").exists()
    assert results[always.key]["failed"] == "its Ray worker died (WorkerCrashedError), twice"
    assert not (tmp_path / "runs" / always.key / "result.json").exists()
    assert results[raises.key]["failed"] == "ValueError: bad value"
    assert "about to raise" in Path(results[raises.key]["log"]).read_text()
    assert results[reads.key]["failed"] == "needs run 'always dies', which failed"


def _world(job: Job, job_dir: Path, model_dir: Path | None) -> dict:
    """What each process started by accelerate launch sees."""
    return {
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "rank": int(os.environ.get("RANK", "0")),
        "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "pid": os.getpid(),
    }


def test_a_job_with_two_gpus_runs_under_accelerate_launch_on_the_gpus_ray_gave_it(
    ray_address, tmp_path
):
    """The instance has two logical GPUs; the job asks for both, so its task starts two processes
    with accelerate launch (on the CPU here), which see Ray's CUDA_VISIBLE_DEVICES."""
    from hf_copycot.reproduce.ray_launcher import RayLauncher

    job = Job("finetune", "two gpus", (Toy(7),))
    results = run_jobs([job], tmp_path, launcher=RayLauncher(1, 2), execute=_world)
    result = results[job.key]["result"]
    assert result["world_size"] == 2 and result["rank"] == 0
    assert sorted(result["devices"].split(",")) == ["0", "1"]
    assert result["pid"] != os.getpid()
    assert (tmp_path / job.key / "job_result.json").exists()  # rank 0 handed it back


def test_asking_for_more_than_the_cluster_has_is_a_one_line_error(ray_address):
    from hf_copycot.reproduce.ray_launcher import RayLauncher

    with pytest.raises(ArgumentError, match=r"--gpus_per_job 3 but the Ray cluster has 2 GPU"):
        RayLauncher(1, 3)
    with pytest.raises(ArgumentError, match=r"--cpus_per_job 8 but the Ray cluster has 2 CPU"):
        RayLauncher(8, 0)


def test_without_an_address_a_ray_instance_is_started_for_the_run_and_stopped(ray_address):
    """No --ray_address and no RAY_ADDRESS: a new local instance with the CPUs asked for, even
    where another runs (the session's), shut down when the run ends."""
    import subprocess
    import sys

    script = (
        "from hf_copycot.reproduce import ray_launcher\n"
        "import ray\n"
        "with ray_launcher.session(None, num_cpus=1) as resources:\n"
        "    print('cpus', resources['CPU'])\n"
        "print('initialised after', ray.is_initialized())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "cpus 1.0" in run.stdout and "initialised after False" in run.stdout
