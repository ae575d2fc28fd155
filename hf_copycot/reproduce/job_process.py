"""One job on several GPUs: `accelerate launch` starts one process per GPU, each calls the job's
`execute` with the job's own dataclasses (pickled next to the run, not rendered as flags), and rank 0
hands the result back through a JSON file.

The Ray launcher wraps `execute` in `Accelerated` for a job that asked for more than one GPU; the
processes inherit the task's CUDA_VISIBLE_DEVICES (the GPUs Ray assigned) and its log.

    python -m hf_copycot.reproduce.job_process RUN_DIR/job.pkl   # what each launched process runs
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hf_copycot.publishing import write_json
from hf_copycot.tasks import registered_elsewhere, restore_registered

SPEC_FILE = "job.pkl"
RESULT_FILE = "job_result.json"


def free_port() -> int:
    """A TCP port free on this machine now, for one launch's rendezvous (several jobs share a node)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_command(spec: Path, processes: int) -> list[str]:
    """`accelerate launch` of this module on `processes` GPUs of this machine.

    Every setting is a flag, so a user's default accelerate config cannot change a run; mixed
    precision follows ACCELERATE_MIXED_PRECISION as a one-GPU run in the task would.
    """
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        os.environ.get("ACCELERATE_MIXED_PRECISION", "no"),
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        __name__,
        str(spec),
    ]


@dataclass(frozen=True)
class Accelerated:
    """`execute`, run in `processes` processes started by `accelerate launch` (one per GPU)."""

    execute: Callable
    processes: int

    def __call__(self, job, job_dir: Path, model_dir: Path | None) -> dict:
        spec, result = job_dir / SPEC_FILE, job_dir / RESULT_FILE
        added = registered_elsewhere()  # the launched processes register the same tasks
        spec.write_bytes(pickle.dumps((self.execute, job, job_dir, model_dir, added)))
        sys.stdout.flush()
        sys.stderr.flush()
        # stdout and stderr are the run's log (runner._output_to): the processes write there too.
        code = subprocess.run(launch_command(spec, self.processes), check=False).returncode
        if code != 0 or not result.exists():
            raise RuntimeError(
                f"accelerate launch on {self.processes} GPUs exited with {code} without a result"
            )
        return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    """One launched process: run the pickled job; rank 0 writes the result (atomically)."""
    (spec,) = sys.argv[1:] if argv is None else argv
    execute, job, job_dir, model_dir, added = pickle.loads(Path(spec).read_bytes())
    restore_registered(added)
    result = execute(job, job_dir, model_dir)
    if result is None:
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        write_json(job_dir / RESULT_FILE, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
