"""`copycot reproduce`: plan building, caching, analysis helpers, and the smoke preset end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hf_copycot.reproduce import cli as reproduce_cli
from hf_copycot.reproduce import report, runs, statistics
from hf_copycot.reproduce.runner import Job, run_jobs, unique_jobs
from hf_copycot.reproduce.scales import SCALES
from hf_copycot.reproduce.statistics import (
    CONTRADICTED,
    INCONCLUSIVE,
    SUPPORTED,
    bootstrap_gap,
    compare,
    gap_verdict,
    keeps_up,
    mean_std,
)
from hf_copycot.reproduce.studies import (
    STUDIES,
    copy_length,
    dp_cot,
    examples_to_learn,
    m_locality,
    state_size,
)

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Toy:
    """Stands for a command's argument dataclass in the runner's own tests."""

    seed: int = 0
    value: int = 0


def test_job_key_follows_what_runs_not_its_label():
    a = Job("finetune", "one", (Toy(seed=0),))
    assert a.key == Job("finetune", "other label", (Toy(seed=0),)).key
    assert a.key != Job("finetune", "one", (Toy(seed=1),)).key
    assert a.key != Job("evaluate", "one", (Toy(seed=0),)).key
    assert a.key != Job("finetune", "one", (Toy(seed=0),), needs="abc").key


@pytest.mark.parametrize("preset", sorted(SCALES))
def test_every_preset_plans_unique_runs_with_their_dependencies(preset):
    scale = SCALES[preset]
    jobs = [job for study in STUDIES for job in study.jobs(scale)]
    unique = unique_jobs(jobs)
    assert len(unique) < len(jobs)  # studies share runs (copy pair, stream_dp models)
    keys = {job.key for job in unique}
    assert all(job.needs is None or job.needs in keys for job in unique)
    for job in unique:
        if job.kind == "finetune":
            assert "--seed" in job.flags and "--max_steps" in job.flags


@pytest.mark.parametrize("preset", sorted(SCALES))
def test_jobs_carry_the_arguments_their_command_parses(preset):
    """No study builds argv to call training: a job holds the dataclasses finetune.py or copycot
    evaluate parse, and its argv (for display) parses back to exactly those."""
    from transformers import HfArgumentParser

    from hf_copycot import evaluation, finetune
    from hf_copycot.reproduce.runs import CostArguments

    types = {
        "finetune": finetune.ARGUMENT_TYPES,
        "evaluate": evaluation.ARGUMENT_TYPES,
        "inference_cost": (CostArguments,),
    }
    for job in unique_jobs(job for study in STUDIES for job in study.jobs(SCALES[preset])):
        assert tuple(type(a) for a in job.args) == types[job.kind]
        parsed = HfArgumentParser(types[job.kind]).parse_args_into_dataclasses(list(job.flags))
        assert tuple(parsed) == job.args


def test_job_key_hashes_what_changes_the_result_not_where_it_goes():
    from dataclasses import replace

    run = runs.copy_run(SCALES["smoke"], "mamba-tiny", 0)
    model, data, training = run.args
    elsewhere = replace(run, args=(model, data, replace(training, output_dir="/elsewhere")))
    assert elsewhere.key == run.key
    for changed in (
        (model, data, replace(training, learning_rate=1e-2)),
        (model, replace(data, max_length=data.max_length + 1), training),
        (replace(model, config_overrides="state_size=8"), data, training),
    ):
        assert replace(run, args=changed).key != run.key


def test_studies_share_the_copy_runs():
    scale = SCALES["cpu"]
    longest = runs.copy_run(scale, scale.mamba, 0)
    assert longest in examples_to_learn.jobs(scale) and longest in copy_length.jobs(scale)
    assert longest.args[1].max_length == max(scale.copy_budgets)
    # Every copy model, the positional-encoding variants included, trains the same way.
    models = {job.info["model"] for job in copy_length.jobs(scale)}
    assert models == {scale.transformer, *scale.copy_variants, scale.mamba}
    # The state sweep: each d_state once a seed, plus the smallest state's runs continued for
    # the budget again (twice the training) on fresh rows.
    trained = [job for job in state_size.jobs(scale) if job.kind == "finetune"]
    assert len(trained) == (len(scale.state_sizes) + 1) * scale.seeds
    assert {job.args[2].max_steps for job in trained} == {scale.state_budget}
    fresh = [job for job in trained if job.needs is None]
    assert all(scale.state_overrides in job.args[0].config_overrides for job in fresh)
    by_key = {job.key: job for job in fresh}
    continued = [job for job in trained if job.needs is not None]
    assert len(continued) == scale.seeds
    for job in continued:
        parent = by_key[job.needs]
        assert parent.args[1:] != job.args[1:] and parent.args[1] == job.args[1]
        assert f"state_size={min(scale.state_sizes)}" in parent.args[0].config_overrides
        assert job.args[0].model_name_or_path == f"../{parent.key}/model"
        assert job.args[2].seed != parent.args[2].seed  # fresh rows, not the same ones again
    # Every copy run is scored up to twice the longest length it trained on.
    sweeps = [job for job in copy_length.jobs(scale) if job.kind == "evaluate"]
    assert {job.args[1].max_length for job in sweeps} == {2 * max(scale.copy_budgets)}
    budgets = {
        job.args[1].max_length: job.args[2].max_steps for job in examples_to_learn.jobs(scale)
    }
    assert budgets == scale.copy_budgets


def test_longest_copied_and_the_gate():
    assert statistics.longest_copied({5: 1.0, 6: 0.95, 7: 0.5, 8: 1.0}, 0.9) == 6
    assert statistics.longest_copied({5: 0.2, 6: 1.0}, 0.9) == 0
    scale = SCALES["cpu"]
    stopped = {"stopped_at_gate": 300, "main_score": "exact_match", "results": {}}
    assert runs.learned(stopped, scale) and runs.examples_to_gate(stopped, scale) == 300 * 32
    budget = {"stopped_at_gate": None, "main_score": "exact_match"}
    assert not runs.learned({**budget, "results": {"validation": {"exact_match": 0.89}}}, scale)
    # A run whose last evaluation, at the budget, reached the gate has learned (no early stop).
    assert runs.learned({**budget, "results": {"validation": {"exact_match": 0.9}}}, scale)
    assert runs.examples_to_gate(budget, scale) is None
    assert report.learned_phrase(2, 3) == "learned the training range: 2 of 3 runs"


def test_train_jobs_stop_at_the_gate_with_the_tuned_rate_of_their_architecture(monkeypatch):
    scale = SCALES["cpu"]
    rates = {"cpu": {"copy": {"mamba-tiny": 0.01}, "dp": {"pythia-tiny": 0.001}}}
    monkeypatch.setattr("hf_copycot.reproduce.scales.tuned_learning_rates", lambda: rates)
    _, data, training = runs.copy_run(scale, "mamba-tiny", 0).args
    assert training.learning_rate == 0.01 and training.early_stopping_score == scale.gate
    assert training.eval_steps == scale.eval_every and data.eval_splits == "validation"
    assert runs.copy_run(scale, "pythia-tiny", 0).args[2].learning_rate == 3e-3  # default
    dp = scale.dp_tasks[0]
    assert runs.dp_run(scale, dp, "pythia-tiny", 0, True).args[2].learning_rate == 0.001


def test_tuning_picks_the_rate_that_reaches_the_gate_soonest():
    from hf_copycot.reproduce import tune

    def run(learned, examples, validation):
        return {"learned": learned, "examples_to_gate": examples, "validation": validation}

    assert tune.best_rate({1e-3: run(True, 6400, 0.92), 3e-3: run(True, 3200, 0.91)}) == 3e-3
    assert tune.best_rate({1e-3: run(False, None, 0.6), 1e-2: run(True, 9600, 0.9)}) == 1e-2
    assert tune.best_rate({1e-3: run(False, None, 0.6), 1e-2: run(False, None, 0.7)}) == 1e-2
    scale = SCALES["cpu"]
    jobs = tune.jobs(scale)
    assert len(jobs) == 2 * 2 * len(scale.lr_grid)  # groups x architectures x rates
    assert {job.args[2].learning_rate for job in jobs} == set(scale.lr_grid)
    assert all(job.args[1].eval_splits == "validation" for job in jobs)  # never test rows


def test_tuned_rates_go_to_the_output_folder_never_into_the_package(tmp_path, capsys):
    from hf_copycot.reproduce import scales, tune

    packaged = scales.LEARNING_RATES.read_bytes()
    scale = SCALES["cpu"]
    outcome = {"learned": True, "examples_to_gate": 3200, "validation": 0.95}
    choice = {
        group: {model: {"chosen": 0.02, "runs": {"0.02": outcome}} for model in ("pythia-tiny",)}
        for group in scales.LR_GROUPS
    }
    assert "**chosen**" in tune.write(scale, choice, tmp_path, "copycot reproduce --tune_lr")
    assert scales.LEARNING_RATES.read_bytes() == packaged
    written = tmp_path / "learning_rates.json"
    stored = json.loads(written.read_text())
    assert stored["learning_rates"]["cpu"]["copy"]["pythia-tiny"] == 0.02
    assert stored["tuned_with"]["cpu"]["command"] == "copycot reproduce --tune_lr"
    try:
        scales.use_learning_rates(written)
        assert runs.copy_run(scale, "pythia-tiny", 0).args[2].learning_rate == 0.02
    finally:
        scales.use_learning_rates(None)
    assert runs.copy_run(scale, "pythia-tiny", 0).args[2].learning_rate != 0.02
    with pytest.raises(SystemExit):
        reproduce_cli.parse_args(["--learning_rates", str(tmp_path / "missing.json")])
    assert "no such file" in capsys.readouterr().err


def test_study_verdicts_follow_runs_that_learned():
    from hf_copycot.reproduce.statistics import UNTESTED

    def runs(beyond, learned=True, in_range=1.0):
        return [{"learned": learned, "in_range": in_range, "beyond": b} for b in beyond]

    mamba = runs([0.0, 0.05, 0.02])
    # copy, Mamba half: in range it copies, beyond it does not.
    assert copy_length.mamba_half(mamba)[0] == SUPPORTED
    assert copy_length.mamba_half(runs([0.0, 0.1], learned=False))[0] == UNTESTED
    # copy, each Transformer's half: beyond the range, ahead of the Mamba.
    assert copy_length.transformer_half(runs([0.8, 0.9, 0.85]), mamba)[0] == SUPPORTED
    nothing = copy_length.transformer_half(runs([0.0, 0.02, 0.01]), runs([0.0, 0.0, 0.0]))
    assert nothing[0] == CONTRADICTED  # nobody generalises
    assert copy_length.transformer_half(runs([0.5, 0.9]), runs([0.4, 0.6]))[0] == INCONCLUSIVE
    assert copy_length.transformer_half(runs([0.9]), mamba)[0] == UNTESTED  # one learned run
    # examples to the gate: more for the Mamba supports, fewer contradicts.
    assert examples_to_learn.needs_more([3200, 3200], [9600, 9000], True) == SUPPORTED
    assert examples_to_learn.needs_more([9600, 9000], [3200, 3200], True) == CONTRADICTED
    assert examples_to_learn.needs_more([1, 1], [1, 1], False) == UNTESTED
    # state size: the longest copied grows from the smallest state to the largest, and twice
    # the training does not lift the smallest to the largest (a capacity limit).
    assert state_size.capacity_verdict([5, 6, 5], [11, 12, 12], [6, 6, 7], cap=16) == SUPPORTED
    assert (
        state_size.capacity_verdict([5, 6, 5], [11, 12, 12], [11, 12, 13], cap=16) == INCONCLUSIVE
    )
    assert state_size.capacity_verdict([11, 12, 12], [5, 6, 5], [6, 6, 7], cap=16) == CONTRADICTED
    assert state_size.capacity_verdict([6, 9, 7], [7, 8, 9], [6, 6, 7], cap=16) == INCONCLUSIVE
    assert state_size.capacity_verdict([16, 16, 16], [16, 16, 16], [16, 16, 16], cap=16) == UNTESTED


def test_dp_models_are_scored_on_the_test_rows_their_training_held_out():
    """Same seed, lengths and parameters as training, and no more rows than it held out; the
    m-locality study reads the lags off those scores (no job of its own)."""
    from hf_copycot.finetune import HELD_OUT_ROWS

    scale = SCALES["cpu"]
    dp = scale.dp_tasks[0]
    run = runs.dp_run(scale, dp, scale.mamba, 1, True)
    test = runs.dp_test(scale, dp, run)
    _, train_data, training = run.args
    _, test_data, evaluate = test.args
    assert evaluate.seed == training.seed == 1 and test.needs == run.key
    assert (test_data.min_length, test_data.max_length, test_data.task_params) == (
        train_data.min_length,
        train_data.max_length,
        train_data.task_params,
    )
    assert test_data.max_eval_examples <= HELD_OUT_ROWS
    own = {job.key for job in m_locality.jobs(scale)} - {job.key for job in dp_cot.jobs(scale)}
    # Its own runs: the shallow Mamba at each state size, trained and scored, a seed each.
    assert len(own) == 2 * len(scale.locality_state_sizes) * scale.seeds
    result = {
        "main_score": "answer_accuracy",
        "results": {"test": {"by_slice": {"m=1": {"answer_accuracy": 0.9, "count": 40}}}},
    }
    assert m_locality.by_lag(result) == {1: (0.9, 40)}


def test_spread_helpers():
    assert mean_std([0.5]) == (0.5, 0.0)
    # The interval of a clear gap excludes 0; an overlapping one holds it; one seed has none.
    clear = bootstrap_gap([0.9, 0.95, 0.92], [0.1, 0.2, 0.15])
    assert clear.low > 0 and clear.high < 1 and clear.sizes == (3, 3)
    assert gap_verdict([0.9, 0.95, 0.92], [0.1, 0.2, 0.15]) == SUPPORTED
    assert gap_verdict([0.1, 0.2, 0.15], [0.9, 0.95, 0.92]) == CONTRADICTED
    assert gap_verdict([0.5, 0.9], [0.4, 0.6]) == INCONCLUSIVE
    assert gap_verdict([0.9], [0.1]) == INCONCLUSIVE  # one seed: no interval
    assert not bootstrap_gap([0.9], [0.1]).has_interval
    # Seeded: the same numbers give the same interval, whatever ran before.
    assert bootstrap_gap([0.5, 0.9, 0.7], [0.4, 0.6]) == bootstrap_gap([0.5, 0.9, 0.7], [0.4, 0.6])
    # Keeping up: behind by less than the margin with confidence, or by more.
    assert keeps_up([0.88, 0.9, 0.89], [0.9, 0.91, 0.9]) == SUPPORTED
    assert keeps_up([0.5, 0.55, 0.52], [0.9, 0.91, 0.9]) == CONTRADICTED
    # The report's words follow the numbers, whichever side leads.
    assert compare([0.9, 0.95], [0.1, 0.2], ("A", "B")).startswith("A ahead of B by 77.5 points")
    assert "the interval excludes 0" in compare([0.9, 0.95], [0.1, 0.2], ("A", "B"))
    assert compare([0.4, 0.6], [0.5, 0.9], ("A", "B")).startswith("B ahead of A by 20.0")
    assert "the interval holds 0" in compare([0.4, 0.6], [0.5, 0.9], ("A", "B"))
    assert compare([0.9], [0.1], ("A", "B")).endswith("(1 vs 1 seeds: no interval)")


def _fails(job, job_dir, model_dir):
    print("something went wrong here")
    raise RuntimeError("boom")


def _writes(job, job_dir, model_dir):
    return {"value": job.args[0].value}


def _fails_on_one(job, job_dir, model_dir):
    if job.label == "broken run":
        return _fails(job, job_dir, model_dir)
    return _writes(job, job_dir, model_dir)


def test_failed_run_is_reported_with_its_log_leaves_no_result_and_others_run_on(tmp_path):
    broken = Job("finetune", "broken run", (Toy(value=1),))
    dependent = Job("evaluate", "reads the broken model", (Toy(value=2),), needs=broken.key)
    other = Job("finetune", "fine run", (Toy(value=3),))
    said = []
    results = run_jobs(
        [broken, dependent, other],
        tmp_path,
        workers=1,
        threads=1,
        execute=_fails_on_one,
        describe=said.append,
    )
    assert results[broken.key]["failed"] == "RuntimeError: boom"
    log = Path(results[broken.key]["log"])
    assert "something went wrong here" in log.read_text()
    assert not (tmp_path / broken.key / "result.json").exists()
    assert results[dependent.key]["failed"] == "needs run 'broken run', which failed"
    assert results[other.key]["result"] == {"value": 3}
    assert (tmp_path / other.key / "result.json").exists()


def _device(job, job_dir, model_dir):
    """Which GPU the worker was given (long enough that both workers take a job)."""
    import time

    time.sleep(1.5)
    return {"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}


@pytest.mark.slow
def test_local_workers_get_one_gpu_each_round_robin(tmp_path, monkeypatch):
    import torch

    from hf_copycot.reproduce.runner import LocalLauncher, gpu_slots, visible_gpus

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_gpus() == ["0", "1"]
    assert gpu_slots(["0", "1"], 3) == ["0", "1", "0"] and gpu_slots([], 2) == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # the GPUs this shell may use, by name
    assert visible_gpus() == ["4", "6"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    launcher = LocalLauncher(2, 1)
    assert "one GPU each (CUDA_VISIBLE_DEVICES 0, 1, round-robin)" in launcher.summary()
    jobs = [Job("finetune", f"run {i}", (Toy(value=i),)) for i in range(2)]
    results = run_jobs(jobs, tmp_path, launcher=launcher, execute=_device, describe=print)
    seen = {r["result"]["pid"]: r["result"]["devices"] for r in results.values()}
    assert sorted(seen.values()) == ["0", "1"]  # two workers, one GPU each
    assert LocalLauncher(2, 1, gpus=[]).summary() == "on 2 worker(s) x 1 thread(s)"


def test_on_a_gpu_machine_the_local_launcher_runs_one_worker_per_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with reproduce_cli.launchers(reproduce_cli.parse_args([])) as (launcher, alone):
        assert (launcher.workers, launcher.gpus) == (3, ["0", "1", "2"])
        assert (alone.workers, alone.threads, alone.gpus) == (1, 1, ["0", "1", "2"])
    args = reproduce_cli.parse_args(["--workers", "2", "--gpus_per_job", "0"])
    with reproduce_cli.launchers(args) as (launcher, alone):
        assert (launcher.workers, launcher.gpus, alone.gpus) == (2, [], [])


def _dies_once(job, job_dir, model_dir):
    """Kills its worker process (SIGKILL: no exception) the first time, or always for value 2."""
    import signal

    marker = job_dir.parent / f"died-{job.args[0].value}"
    if job.args[0].value == 2 or not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"value": job.args[0].value}


@pytest.mark.slow
def test_a_killed_local_worker_is_retried_once_then_reported(tmp_path):
    """One worker, so the pool that breaks holds only the job that killed it."""
    once = Job("finetune", "dies once", (Toy(value=1),))
    always = Job("finetune", "always dies", (Toy(value=2),))
    fine = Job("finetune", "fine", (Toy(value=3),))
    (tmp_path / "died-3").touch()
    results = run_jobs([once, always, fine], tmp_path, workers=1, threads=1, execute=_dies_once)
    assert results[once.key]["result"] == {"value": 1}
    assert results[fine.key]["result"] == {"value": 3}
    reason = "its worker process died (killed, or out of memory), twice"
    assert results[always.key]["failed"] == reason
    assert results[always.key]["log"].endswith("log.txt")
    assert not (tmp_path / always.key / "result.json").exists()


def test_launcher_flags(capsys):
    args = reproduce_cli.parse_args(["--launcher", "ray", "--ray_address", "auto"])
    assert args.launcher == "ray" and args.ray_address == "auto"
    for bad, message in (
        (["--gpus_per_job", "2"], "--gpus_per_job above 1 needs --launcher ray"),
        (["--ray_address", "auto"], "--ray_address needs --launcher ray"),
        (["--cpus_per_job", "0"], "--cpus_per_job must be at least 1"),
    ):
        with pytest.raises(SystemExit):
            reproduce_cli.parse_args(bad)
        assert message in capsys.readouterr().err


def test_gpu_dry_run_prints_the_gpu_hours_per_study(capsys):
    from hf_copycot.reproduce import gpu_hours

    assert reproduce_cli.main(["--scale", "gpu", "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "Expected GPU-hours per study" in out and "| **all** |" in out
    for study in STUDIES:
        assert f"| {study.NAME} |" in out
    rows = gpu_hours.study_hours(STUDIES, SCALES["gpu"])
    # Every planned run counted once; the DP study (long CoT targets) costs the most here.
    planned = unique_jobs(job for study in STUDIES for job in study.jobs(SCALES["gpu"]))
    assert sum(row.runs for row in rows) == len(planned)
    assert max(rows, key=lambda row: row.hours).name == "dp_cot"
    assert "Assumed (one A100/H100-class GPU, bf16; not measured)" in out
    # docs/GPU.md keeps the same table: regenerate it when the gpu scale changes.
    table = gpu_hours.hours_table(rows).split("\n\n")[0]
    assert table in (REPO / "docs" / "GPU.md").read_text()


def test_gpu_hours_follow_the_scale_sizes():
    """Twice the updates, about twice the training time; a longer CoT, more tokens."""
    from dataclasses import replace

    from hf_copycot.reproduce import gpu_hours

    job = runs.copy_run(SCALES["gpu"], "mamba-base", 0)
    budgets = {n: 2 * steps for n, steps in SCALES["gpu"].copy_budgets.items()}
    doubled = runs.copy_run(replace(SCALES["gpu"], copy_budgets=budgets), "mamba-base", 0)
    plan = {job.key: job, doubled.key: doubled}
    one, two = gpu_hours.job_seconds(job, plan), gpu_hours.job_seconds(doubled, plan)
    assert 1.9 < two / one < 2.1
    faster = gpu_hours.Assumptions(train_tokens_per_s={"mamba": 3e5, "transformer": 8e5})
    assert gpu_hours.job_seconds(job, plan, faster) < 0.6 * one


def _study(name: str, numbers):
    """A study the way cli reads one: jobs, numbers and verdict here, its prose in PROSE."""
    from types import SimpleNamespace

    job = Job("evaluate", f"{name} run", (Toy(value=int(name)),))
    return SimpleNamespace(
        NAME=name,
        TITLE=f"Study {name}",
        CLAIM="a claim",
        jobs=lambda scale: [job],
        numbers=numbers,
        verdict=lambda scale, numbers: "measured",
    )


def _prose(name: str):
    from types import SimpleNamespace

    from hf_copycot.reproduce.report import Section

    def section(scale, numbers, verdict, out_dir):
        return Section(name, f"Study {name}", "a claim", verdict, f"value {numbers['value']}")

    return SimpleNamespace(section=section)


def _run_value(lookup, name):
    return {"value": lookup(Job("evaluate", f"{name} run", (Toy(value=int(name)),)))["value"]}


def _cli_failing_run(job, job_dir, model_dir):
    if job.args[0].value == 9:
        raise RuntimeError("the run broke")
    return {"value": job.args[0].value}


def test_one_study_that_raises_cannot_sink_the_others(tmp_path, monkeypatch):
    """A study whose analysis raises (ZeroDivisionError, say) or whose run failed is reported as
    failed with its error line; every other section and results.json are written; exit 1."""
    good = _study("7", lambda scale, lookup: _run_value(lookup, "7"))
    divides = _study("8", lambda scale, lookup: 1 / 0)
    broken = _study("9", lambda scale, lookup: _run_value(lookup, "9"))
    monkeypatch.setattr(reproduce_cli, "STUDIES", (good, divides, broken))
    for name in "789":
        monkeypatch.setitem(reproduce_cli.PROSE, name, _prose(name))
    monkeypatch.setattr(reproduce_cli, "execute", _cli_failing_run)
    out = tmp_path / "out"
    code = reproduce_cli.main(
        ["--scale", "smoke", "--output_dir", str(out), "--models_dir", str(tmp_path / "m")]
    )
    assert code == 1
    results = json.loads((out / "results.json").read_text())
    studies = results["studies"]
    assert studies["7"]["verdict"] == "measured" and studies["7"]["paragraph"] == "value 7"
    assert studies["8"]["verdict"] == "failed"
    assert studies["8"]["numbers"]["error"] == "ZeroDivisionError: division by zero"
    assert studies["9"]["verdict"] == "failed"
    assert "run '9 run' failed: RuntimeError: the run broke" in studies["9"]["numbers"]["error"]
    report = (out / "report.md").read_text()
    assert "**2 of 3 studies failed; 1 of 3 runs failed.**" in report
    assert "`ZeroDivisionError: division by zero`" in report and "value 7" in report


def test_finished_runs_are_cached(tmp_path):
    jobs = [Job("finetune", f"run {i}", (Toy(value=i),)) for i in range(3)]
    first = run_jobs(jobs, tmp_path, workers=2, threads=1, execute=_writes, describe=print)
    assert {k: v["result"]["value"] for k, v in first.items()} == {
        j.key: i for i, j in enumerate(jobs)
    }
    said = []
    again = run_jobs(jobs, tmp_path, workers=2, threads=1, execute=_fails, describe=said.append)
    assert again == first and "3 cached, 0 to run" in said[0]


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        reproduce_cli.main(["--scale", "huge"])
    with pytest.raises(SystemExit):
        reproduce_cli.main(["--only", "copy_length,nope"])
    err = capsys.readouterr().err
    assert "invalid choice: 'huge'" in err and "unknown study ['nope']" in err


def _reproduce(out: Path, home: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COPYCOT_HOME": str(home), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "hf_copycot.cli", "reproduce", "--scale", "smoke"]
    command += ["--output_dir", str(out), *flags]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=out.parent)


@pytest.fixture(scope="module")
def smoke_local(tmp_path_factory) -> Path:
    """The smoke scale run once with the local launcher (about 40 s); its folder."""
    root = tmp_path_factory.mktemp("smoke-local")
    first = _reproduce(root / "out", root / "home")
    assert first.returncode == 0, first.stderr[-3000:]
    return root


@pytest.mark.slow
def test_smoke_preset_end_to_end(smoke_local):
    """The whole pipeline at toy scale: runs, report with every study and plot, cache, models."""
    out = smoke_local / "out"
    report = (out / "report.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert set(results["studies"]) == {study.NAME for study in STUDIES}
    for study in STUDIES:
        section = results["studies"][study.NAME]
        assert f"## {section['title']}" in report
        assert section["verdict"] in set(statistics.VERDICTS) - {statistics.FAILED}
        if study.NAME != "phonebook":  # gpu only: no runs, no plot
            png = out / f"{study.NAME}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({study.NAME}.png)" in report
    for run in results["runs"]:
        assert run["result"] and run["seconds"] >= 0
        if run["kind"] == "finetune":
            assert "--seed" in run["flags"]
    finetunes = [r for r in results["runs"] if r["kind"] == "finetune"]
    assert {r["info"]["seed"] for r in finetunes} == {0, 1, 2}
    # Every study says how many of its runs learned the training range, in the fixed words.
    for name in ("copy_length", "examples_to_learn", "state_size", "dp_cot"):
        assert "learned the training range:" in results["studies"][name]["paragraph"], name
    assert results["studies"]["dp_cot"]["numbers"]["train_test_overlap"] == 0
    for name in ("copy_length", "dp_cot", "state_size"):
        assert results["studies"][name]["anchors"], name
    # The copy-trained pair is where the Space looks for models, and loads.
    models = smoke_local / "home" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["mamba-tiny-copy", "pythia-tiny-copy"]
    from transformers import AutoModelForCausalLM

    assert (
        AutoModelForCausalLM.from_pretrained(models / "mamba-tiny-copy").config.model_type
        == "mamba"
    )
    # A second run finds everything cached and rewrites the same numbers.
    second = _reproduce(out, smoke_local / "home")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0 to run" in second.stdout
    again = json.loads((out / "results.json").read_text())
    assert (
        again["studies"][copy_length.NAME]["numbers"]
        == results["studies"][copy_length.NAME]["numbers"]
    )


TIMED = ("seconds", "tok_s", "ms")  # what a clock measures, not what training computes


def _computed(value):
    """`value` without what depends on the clock or on where the run folder is: every key that
    ends in a timing unit and `model` (an evaluated model's path)."""
    if isinstance(value, dict):
        return {
            key: _computed(item)
            for key, item in value.items()
            if key != "model" and not key.endswith(TIMED)
        }
    if isinstance(value, list):
        return [_computed(item) for item in value]
    return value


@pytest.mark.slow
def test_smoke_scale_on_ray_matches_the_local_launcher(smoke_local, ray_address, tmp_path):
    """`--launcher ray` on the session's local Ray instance runs the same runs to the same numbers:
    every finetune and evaluate run's result (scores, per-length scores, evaluation history,
    architecture numbers; not timings or paths) and every study's numbers and verdict, except the
    inference-cost study, which times things. Training is deterministic per seed and both launchers
    give each job one torch thread."""
    out = tmp_path / "out"
    run = _reproduce(
        out, tmp_path / "home", "--launcher", "ray", "--ray_address", ray_address,
        "--gpus_per_job", "0",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "as Ray tasks of 1 CPU(s) + 0 GPU(s)" in run.stdout
    local = json.loads((smoke_local / "out" / "results.json").read_text())
    on_ray = json.loads((out / "results.json").read_text())
    by_key = {r["key"]: r for r in local["runs"]}
    assert {r["key"] for r in on_ray["runs"]} == set(by_key)
    compared = 0
    for record in on_ray["runs"]:
        if record["kind"] in ("finetune", "evaluate"):
            assert _computed(record["result"]) == _computed(by_key[record["key"]]["result"]), (
                record["label"]
            )
            compared += 1
    assert compared == sum(r["kind"] != "inference_cost" for r in local["runs"])
    for name, section in on_ray["studies"].items():
        if name != "inference_cost":
            assert section["numbers"] == local["studies"][name]["numbers"], name
            assert section["verdict"] == local["studies"][name]["verdict"], name
