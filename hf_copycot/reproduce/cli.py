"""`copycot reproduce --scale {smoke,cpu,gpu} --output_dir DIR [--seeds N] [--launcher ray]`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
from pathlib import Path

from hf_copycot.errors import CopycotError
from hf_copycot.paths import models_dir
from hf_copycot.reproduce import report, tune
from hf_copycot.reproduce.prose import PROSE
from hf_copycot.reproduce.report import Section
from hf_copycot.reproduce.runner import (
    RESULT_FILE,
    Job,
    Launcher,
    LocalLauncher,
    default_workers,
    run_jobs,
    unique_jobs,
    visible_gpus,
)
from hf_copycot.reproduce.runs import (
    DEFAULT_OUTPUT,
    execute,
    output_lock,
    publish_models,
    result_of,
)
from hf_copycot.reproduce.scales import SCALES, use_learning_rates
from hf_copycot.reproduce.statistics import FAILED
from hf_copycot.reproduce.studies import STUDIES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="copycot reproduce",
        description="Reproduce the COPY and CoT claims: train, evaluate, write report.md.",
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default="cpu", help="how big the experiments are"
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"runs, report.md and plots go here (default {DEFAULT_OUTPUT})",
    )
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel runs (default: one per GPU, else one per core up to 4; with Ray: as many "
        "as the cluster fits)",
    )
    parser.add_argument(
        "--launcher",
        choices=["local", "ray"],
        default="local",
        help="local: worker processes here; ray: one Ray task per run (pip install hf-copycot[ray])",
    )
    parser.add_argument(
        "--ray_address",
        default=None,
        help="Ray cluster to join ('auto': the one `ray start` made here; default: RAY_ADDRESS, "
        "else a Ray instance started for this run)",
    )
    parser.add_argument(
        "--cpus_per_job",
        type=int,
        default=None,
        help="CPUs (torch threads) per run (default: cores / workers; with Ray: 1)",
    )
    parser.add_argument(
        "--gpus_per_job",
        type=int,
        default=None,
        help="Ray: GPUs per run, more than 1 trains under accelerate launch (default: 1 if the "
        "cluster has GPUs, else 0); local: one GPU per worker where there are GPUs",
    )
    parser.add_argument(
        "--models_dir", type=Path, default=None, help="where the Space finds the trained pair"
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated studies to run (default: all)"
    )
    parser.add_argument("--dry_run", action="store_true", help="list the runs and stop")
    parser.add_argument(
        "--tune_lr",
        action="store_true",
        help="train one seed per architecture at every rate of the scale's grid, pick each "
        "architecture's rate on in-range validation, write learning_rates.json to --output_dir, "
        "and stop (then run the studies with --learning_rates that file)",
    )
    parser.add_argument(
        "--learning_rates",
        type=Path,
        default=None,
        help="learning_rates.json to read the tuned rates from (default: the committed one, "
        "hf_copycot/reproduce/learning_rates.json)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    for flag in ("workers", "cpus_per_job"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    if args.gpus_per_job is not None and args.gpus_per_job < 0:
        parser.error("--gpus_per_job must be 0 or more")
    if args.launcher == "local" and (args.gpus_per_job or 0) > 1:
        parser.error(
            "--gpus_per_job above 1 needs --launcher ray (the local launcher gives each worker one "
            "GPU)"
        )
    if args.launcher == "local" and args.ray_address:
        parser.error("--ray_address needs --launcher ray")
    if args.learning_rates is not None and not args.learning_rates.is_file():
        parser.error(
            f"--learning_rates {args.learning_rates}: no such file (copycot reproduce --tune_lr "
            "writes one to its --output_dir)"
        )
    names = [study.NAME for study in STUDIES]
    if args.only:
        unknown = set(args.only.split(",")) - set(names)
        if unknown:
            parser.error(f"unknown study {sorted(unknown)}; choose from {', '.join(names)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """`copycot reproduce`: one-line errors (a busy output folder, a damaged run cache)."""
    args = parse_args(argv)
    use_learning_rates(args.learning_rates)
    try:
        if args.dry_run:
            return run_plan(args, argv)
        with output_lock(args.output_dir):
            return run_plan(args, argv)
    except (CopycotError, OSError) as error:  # OSError: an output folder that cannot be made
        print(f"copycot reproduce: error: {error}", file=sys.stderr)
        return 2


def run_plan(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The runs of the chosen studies (cached ones reused), then the report."""
    started = time.perf_counter()
    scale = SCALES[args.scale].with_seeds(args.seeds)
    studies = [s for s in STUDIES if not args.only or s.NAME in args.only.split(",")]
    if args.tune_lr:
        jobs = unique_jobs(tune.jobs(scale))
    else:
        jobs = unique_jobs(job for study in studies for job in study.jobs(scale))
    runs_dir = args.output_dir / "runs"
    if args.dry_run:
        for job in jobs:
            print(f"{job.key}  {job.kind:<14} {job.label}")
        print(f"{len(jobs)} runs")
        if scale.name == "gpu":
            from hf_copycot.reproduce import gpu_hours

            print("\nExpected GPU-hours per study (hf_copycot/reproduce/gpu_hours.py):\n")
            print(gpu_hours.hours_table(gpu_hours.study_hours(studies, scale)))
            print(gpu_hours.describe_assumptions())
        return 0
    print(f"copycot reproduce --scale {scale.name}: {len(studies)} studies -> {args.output_dir}")
    reused = sum((runs_dir / job.key / RESULT_FILE).exists() for job in jobs)
    # Timed measurements run alone, after the training and evaluation.
    timed = [job for job in jobs if job.kind == "inference_cost"]
    with launchers(args) as (launcher, alone):
        results = run_jobs(
            [job for job in jobs if job not in timed], runs_dir, launcher=launcher, execute=execute
        )
        if timed:
            results |= run_jobs(timed, runs_dir, launcher=alone, execute=execute)

    def lookup(job: Job) -> dict:
        return result_of(results[job.key])

    command = "copycot reproduce " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.tune_lr:
        table = tune.write(scale, tune.choose(scale, lookup), args.output_dir, command.strip())
        print(table)
        written = args.output_dir / tune.LEARNING_RATES.name
        print(
            f"learning rates written to {written}; use them with `copycot reproduce "
            f"--learning_rates {written}`, or adopt them by committing that file over "
            "hf_copycot/reproduce/learning_rates.json"
        )
        return 0
    sections = [analyse(study, scale, lookup, args.output_dir) for study in studies]
    published = publish_models(scale, runs_dir, args.models_dir or models_dir())
    path = report.write(
        args.output_dir,
        scale=scale,
        sections=sections,
        runs=[results[job.key] for job in jobs],
        seconds=time.perf_counter() - started,
        reused=reused,
        command=command.strip(),
    )
    for section in sections:
        print(f"  {section.verdict:<14} {section.title}")
    for folder in published:
        print(f"model for the Space: {folder}")
    print(f"report: {path} ({(time.perf_counter() - started) / 60:.1f} min)")
    failures = [section for section in sections if section.verdict == FAILED]
    for section in failures:
        print(f"study {section.name} failed: {section.numbers['error']}", file=sys.stderr)
    return 1 if failures else 0


@contextlib.contextmanager
def launchers(args: argparse.Namespace):
    """(where the runs go, where the timed measurements go alone), for `--launcher`.

    Timed measurements get one thread: tiny models gain nothing from a second, and OpenMP threads
    that wait on a busy core turn a 0.4 ms decode step into tens of milliseconds.
    """
    if args.launcher == "local":
        gpus = visible_gpus() if args.gpus_per_job is None or args.gpus_per_job > 0 else []
        workers = args.workers or len(gpus) or default_workers()  # one per GPU where there are
        threads = args.cpus_per_job or max(1, (os.cpu_count() or 1) // workers)
        launcher: Launcher = LocalLauncher(workers, threads, gpus)
        yield launcher, LocalLauncher(1, 1, gpus)
        return
    from hf_copycot.reproduce import ray_launcher

    cpus = args.cpus_per_job or 1
    local_cpus = args.workers * cpus if args.workers else None
    with ray_launcher.session(args.ray_address, num_cpus=local_cpus) as resources:
        gpus = args.gpus_per_job
        if gpus is None:
            gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        yield (
            ray_launcher.RayLauncher(cpus, gpus, max_in_flight=args.workers),
            ray_launcher.RayLauncher(1, min(gpus, 1), max_in_flight=1),
        )


def analyse(study, scale, lookup, out_dir: Path) -> Section:
    """The study's numbers and verdict, told by its prose; a `failed` section with the error line
    if any of that raises: one study cannot sink the report of the others."""
    try:
        numbers = study.numbers(scale, lookup)
        verdict = study.verdict(scale, numbers)
        return PROSE[study.NAME].section(scale, numbers, verdict, out_dir)
    except Exception as error:  # any bug or failed run in one study; the others still report
        return report.failed_section(study, error)


def demo(argv: list[str] | None = None) -> int:
    """`copycot demo` / `make demo`: the cpu scale, models saved where the Space finds them."""
    return main(["--scale", "cpu", *(argv or [])])
