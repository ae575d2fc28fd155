"""Faults, in-suite: kill -9, two writers, damaged files, a full disk, bad input and a crowded Space,
each with a few seeded trials (benchmarks/faults.py is the long form and docs/RELIABILITY.md its
figures). Every test here failed before the fix it guards, or guards a promise the long form
measures."""

from __future__ import annotations

import errno
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from hf_copycot import dataset_repo, finetune, publishing
from hf_copycot.errors import CorruptFileError, DiskFullError, FolderBusyError
from hf_copycot.reproduce import cli as reproduce_cli
from hf_copycot.reproduce.runner import CHECKSUM, Job, load_result, payload_digest
from hf_copycot.reproduce.runs import output_lock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import faults  # noqa: E402

pytestmark = pytest.mark.faults


def quiet(*_):
    pass


def all_survived(tally: faults.Tally) -> bool:
    return tally.survived == tally.trials > 0 and tally.lost == 0


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("build") / "copy-cot"
    return dataset_repo.build_repo(
        folder, ["copy"], seed=0, train_rows=40, eval_rows=8, lengths=(3, 8),
        long_lengths=(9, 12), log=quiet,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# kill -9 and two writers (subprocesses, through the long form's functions)


@pytest.mark.slow
def test_a_killed_build_never_looks_finished_and_rebuilds_the_same_bytes(work):
    assert all_survived(faults.kill_build(2, random.Random(0), work))


@pytest.mark.slow
def test_two_builds_into_one_folder_end_as_one_whole_build(work):
    tally = faults.two_builds(1, random.Random(1), work)
    assert all_survived(tally), tally.notes


def test_a_second_writer_is_refused_in_one_line_and_a_killed_holder_frees_the_folder(
    tmp_path, capsys
):
    out = tmp_path / "reproduce"
    with output_lock(out):
        assert reproduce_cli.main(["--scale", "smoke", "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "in use by pid" in err and "choose another output folder" in err
    build = tmp_path / "copy-cot"
    with dataset_repo.build_lock(build):
        assert dataset_repo.main(["--output_dir", str(build), "--configs", "copy"]) == 2
    assert "in use" in capsys.readouterr().err
    # A holder killed with SIGKILL leaves no stale lock behind.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom hf_copycot.publishing import folder_lock\n"
         "with folder_lock(sys.argv[1], 'x'):\n    print('held', flush=True); time.sleep(60)",
         str(tmp_path / "lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderBusyError), publishing.folder_lock(tmp_path / "lock", "x"):
        pass
    holder.kill()
    holder.wait()
    with publishing.folder_lock(tmp_path / "lock", "x"):
        pass


# ---------------------------------------------------------------------------------------------
# Damaged files


@pytest.mark.parametrize("seed", range(6))
def test_a_damaged_result_json_is_named_never_read(seed, tmp_path):
    job = Job(kind="evaluate", label="copy seed 0")
    path = tmp_path / job.key / "result.json"
    payload = job.record(seconds=1.0, result={"results": {"test": {"exact_match": 0.75}}})
    payload[CHECKSUM] = payload_digest(payload)
    publishing.write_json(path, payload)
    assert load_result(tmp_path, job) == payload
    rng = random.Random(seed)
    how = faults.damage(path, rng)
    with pytest.raises(CorruptFileError) as caught:
        load_result(tmp_path, job)
    message = str(caught.value)
    assert str(path) in message and "delete" in message and "\n" not in message, how


def test_a_damaged_parquet_shard_is_named_with_the_rebuild_command(small_build, tmp_path):
    from hf_copycot.data import load_rows

    folder = tmp_path / "copy-cot"
    publishing.shutil.copytree(small_build, folder)
    shard = next((folder / "data" / "copy").glob("test-*.parquet"))
    faults.damage(shard, random.Random(3))
    with pytest.raises(CorruptFileError) as caught:  # datasets would read it for any split
        load_rows(str(folder), "copy", "train")
    assert str(shard) in str(caught.value) and "build_copy_cot.py" in str(caught.value)


@pytest.fixture(scope="module")
def finetuned(work) -> Path:
    """An uninterrupted run of the long form's finetune (checkpoints 3, 6, 9, 12; evaluations at
    6 and 12)."""
    out = work / "finetune-full"
    argv = ["--model_name_or_path", "preset:pythia-tiny", *faults.FINETUNE_ARGS]
    assert finetune.main([*argv, "--output_dir", str(out)]) == 0
    return out


def test_a_resumed_run_equals_an_uninterrupted_one_evaluation_history_included(finetuned, tmp_path):
    argv = ["--model_name_or_path", "preset:pythia-tiny", *faults.FINETUNE_ARGS]
    resumed = tmp_path / "resumed"
    checkpoint = finetuned / "checkpoints" / "step_9"  # after the evaluation at 6
    assert finetune.main([*argv, "--output_dir", str(resumed), "--resume_from_checkpoint",
                          str(checkpoint)]) == 0  # fmt: skip
    assert faults.finetune_outcome(resumed) == faults.finetune_outcome(finetuned)
    history = json.loads((resumed / "eval_results.json").read_text())["history"]
    assert [entry["step"] for entry in history] == [6, 12]


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.bin", "trainer_state.json"])
def test_a_damaged_checkpoint_is_named_never_resumed(name, finetuned, tmp_path, capsys):
    checkpoint = tmp_path / "step_6"
    publishing.shutil.copytree(finetuned / "checkpoints" / "step_6", checkpoint)
    path = checkpoint / name
    faults.damage(path, random.Random(name))
    argv = ["--model_name_or_path", "preset:pythia-tiny", *faults.FINETUNE_ARGS]
    out = tmp_path / "out"
    assert finetune.main([*argv, "--output_dir", str(out), "--resume_from_checkpoint",
                          str(checkpoint)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert faults.one_error_line(err, str(checkpoint), "delete"), err
    assert not (out / "model.safetensors").exists()


# ---------------------------------------------------------------------------------------------
# A full disk: a tmpfs where this process may mount one (root), else ENOSPC raised by the writer


def test_a_full_disk_during_the_build_keeps_the_previous_build(small_build, tmp_path, monkeypatch):
    size = sum(p.stat().st_size for p in small_build.rglob("*") if p.is_file())
    with faults.small_disk(tmp_path / "disk", 3 * size + (1 << 16)) as mounted:
        out = tmp_path / "disk" / "copy-cot"
        publishing.shutil.copytree(small_build, out)
        before = faults.digests(out)
        if mounted:
            faults.fill(tmp_path / "disk", size // 2)
        else:

            def full(*args, **kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(dataset_repo, "write_split", full)
        with pytest.raises(DiskFullError) as caught:
            dataset_repo.build_repo(
                out, ["copy"], seed=1, train_rows=400, eval_rows=8, lengths=(3, 8),
                long_lengths=(9, 12), log=quiet,
            )  # fmt: skip
        assert "no space left" in str(caught.value) and str(out) in str(caught.value)
        assert faults.digests(out) == before and not faults.leftovers(tmp_path / "disk")


def test_a_full_disk_during_a_checkpoint_keeps_the_earlier_ones(tmp_path, monkeypatch, capsys):
    from accelerate import Accelerator

    saved = Accelerator.save_state
    calls = []

    def save_state(self, output_dir, **kwargs):  # the second checkpoint meets a full disk
        calls.append(output_dir)
        if len(calls) == 2:
            (Path(output_dir) / "model.safetensors").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return saved(self, output_dir, **kwargs)

    monkeypatch.setattr(Accelerator, "save_state", save_state)
    out = tmp_path / "out"
    argv = ["--model_name_or_path", "preset:pythia-tiny", *faults.FINETUNE_ARGS]
    assert finetune.main([*argv, "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert faults.one_error_line(err, "no space left", "step_6"), err
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_3"]
    assert faults._checkpoint_ok(out / "checkpoints" / "step_3")
    assert not faults.leftovers(out)


# ---------------------------------------------------------------------------------------------
# Bad input and the crowd


def test_generated_bad_flags_never_end_in_a_traceback(work):
    tally = faults.fuzz_cli(210, random.Random(0), work)
    assert all_survived(tally), tally.notes


def test_generated_bad_metric_inputs_give_a_result_or_one_line(work):
    tally = faults.fuzz_metrics(150, random.Random(0), work)
    assert all_survived(tally), tally.notes


@pytest.mark.slow
def test_the_space_answers_or_refuses_twenty_concurrent_clients(work):
    tally = faults.space_load(20, random.Random(0), work)
    assert tally.trials == 20 and all_survived(tally), tally.notes
