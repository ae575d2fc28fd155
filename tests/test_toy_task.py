"""A task added in one file (tests/toy_task.py) works end to end: the dataset build, fine-tuning,
`copycot evaluate`, the metric, the arena, the lm-eval YAMLs, FORMATS.md's table, the dataset
benchmark and reproduce's spawned workers all take it from the registry, with no other edit."""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass

import datasets
import pytest
import toy_task
from metric_helpers import REPO_ROOT

from hf_copycot import arena, cli, dataset_repo, finetune, metrics, registry_files, tasks


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def reverse():
    tasks.register(toy_task.SPEC)
    yield toy_task.SPEC
    tasks.unregister(toy_task.SPEC.name)
    assert "reverse" not in tasks.TASK_NAMES


@pytest.fixture(scope="module")
def reverse_dataset(reverse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy") / "copy-cot-reverse"
    return dataset_repo.build_repo(folder, ["reverse"], train_rows=64, eval_rows=8, log=quiet)


def test_registered_task_is_everywhere_tasks_are_listed(reverse):
    assert "reverse" in tasks.TASK_NAMES and tasks.TASK_NAMES[-1] == "reverse"
    rows = tasks.generate("reverse", 5, seed=0, min_length=3, max_length=6)
    assert all(p[:-1][::-1] == a for p, a in zip(rows["prompt"], rows["answer"], strict=True))
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(reverse)


def test_dataset_build_and_load(reverse_dataset):
    loaded = datasets.load_dataset(str(reverse_dataset), "reverse")
    assert list(loaded) == list(tasks.SPLITS)
    assert loaded["train"].num_rows == 64 and loaded["test_long"].num_rows == 8
    assert all(7 <= n <= 9 for n in loaded["test_long"]["length"])
    card = (reverse_dataset / "README.md").read_text()
    assert "## `reverse`" in card and toy_task.SPEC.text_format in card


def test_metric_scores_its_rows(reverse):
    rows = tasks.generate("reverse", 20, seed=1, min_length=3, max_length=6, split="test")
    right = metrics.score("reverse", list(rows["answer"]), rows, use_cot=True)
    assert right["exact_match"] == 1.0 and set(right["by_length"]) <= {"3", "4", "5", "6"}
    unreversed = [prompt[:-1] for prompt in rows["prompt"]]
    assert metrics.score("reverse", unreversed, rows, use_cot=True)["exact_match"] < 1.0


def test_finetune_then_copycot_evaluate(reverse_dataset, tmp_path, capsys):
    out = tmp_path / "model"
    result = finetune.run(
        finetune.ModelArguments(model_name_or_path="preset:pythia-tiny"),
        finetune.DataArguments(
            dataset_config="reverse", dataset_name=str(reverse_dataset), max_eval_examples=4
        ),
        finetune.TrainingArguments(
            output_dir=str(out), max_steps=2, per_device_train_batch_size=8, logging_steps=1
        ),
    )
    assert result.eval_results["metric"] == "copy_accuracy"
    assert result.eval_results["dataset_config"] == "reverse"
    assert set(result.eval_results["results"]) == {"test", "test_long"}
    assert (out / "model.safetensors").exists()

    argv = ["evaluate", "--model_name_or_path", str(out), "--dataset_name", str(reverse_dataset)]
    argv += ["--dataset_config", "reverse", "--max_eval_examples", "4"]
    assert cli.main([*argv, "--output_dir", str(tmp_path / "eval")]) == 0
    payload = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert payload["main_score"] == "exact_match" and payload["dataset_config"] == "reverse"
    assert payload["results"]["test"]["num_examples"] == 4
    assert "test: exact_match" in capsys.readouterr().out


def test_arena_offers_it(reverse):
    assert ("reverse a string", "reverse") in arena.task_choices()
    assert "reverse" in arena.typed_tasks()
    example = arena.build_example("reverse", "abcd")
    assert (example.prompt, example.expected, example.length) == ("abcd|", "dcba", 4)
    text = arena.random_string("reverse", 5, "xy", seed=3)
    assert len(text) == 5 and set(text) <= set("xy")
    from hf_copycot.spaces.copy_arena import app

    demo = app.build_demo(app.parse_args(["--models_dir", "/nonexistent"]))
    dropdown = next(
        block for block in demo.blocks.values() if getattr(block, "label", None) == "Task"
    )
    assert ("reverse a string", "reverse") in [tuple(choice) for choice in dropdown.choices]


def test_lm_eval_task_and_group_are_generated_for_it(reverse, tmp_path):
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "FORMATS.md").write_text((REPO_ROOT / "docs" / "FORMATS.md").read_text())
    written = registry_files.write(tmp_path)
    lm_eval_dir = tmp_path / "integrations" / "lm_eval"
    assert lm_eval_dir / "copycot_reverse.yaml" in written
    # the hooks, next to the metric modules they load (../../eval from them), as in a checkout
    (lm_eval_dir / "utils.py").write_text((REPO_ROOT / "integrations/lm_eval/utils.py").read_text())
    (tmp_path / "eval").symlink_to(REPO_ROOT / "eval")
    task = load_yaml(lm_eval_dir / "copycot_reverse.yaml")
    assert task["dataset_name"] == "reverse" and task["task"] == "copycot_reverse"
    scores = task["process_results"]({"prompt": "abc|", "cot": "", "answer": "cba"}, ["cba"])
    assert scores["exact_match"] == 1.0  # copy_accuracy, the metric the spec names
    assert load_yaml(lm_eval_dir / "copycot.yaml")["task"][-1] == "copycot_reverse"
    manager = TaskManager(include_path=str(lm_eval_dir), include_defaults=False)
    assert "copycot_reverse" in manager.all_tasks


def test_formats_table_lists_it_and_the_check_sees_it_missing(reverse):
    table = registry_files.formats_table()
    assert "| `reverse` | " + toy_task.SPEC.text_format.replace("|", "\\|") in table
    # The committed files know only the built-in tasks: with "reverse" registered they are stale.
    stale = registry_files.stale_files(REPO_ROOT)
    assert REPO_ROOT / "docs" / "FORMATS.md" in stale
    assert REPO_ROOT / "integrations" / "lm_eval" / "copycot_reverse.yaml" in stale


def test_dataset_benchmark_measures_it_without_a_baseline(reverse):
    bench = runpy.run_path(str(REPO_ROOT / "benchmarks" / "bench_datasets.py"))
    assert bench["without_baseline"]() == ["reverse"]
    measured = bench["bench_task"]("reverse", 50, 1)
    assert measured["vectorised"] > 0 and measured["plain"] != measured["plain"]  # nan: none


@dataclass(frozen=True)
class Rows:
    count: int


def generate_in_worker(job, job_dir, model_dir):
    """Runs in a spawned worker process, which starts with the built-in tasks only."""
    import os

    rows = tasks.generate("reverse", job.args[0].count, seed=2, min_length=3, max_length=6)
    score = metrics.score("reverse", list(rows["answer"]), rows, use_cot=True)
    return {
        "pid": os.getpid(),
        "exact_match": score["exact_match"],
        "tasks": list(tasks.TASK_NAMES),
    }


def test_reproduce_workers_register_it(reverse, tmp_path):
    import os

    from hf_copycot.reproduce.runner import Job, LocalLauncher, run_jobs

    job = Job("evaluate", "reverse in a worker", (Rows(count=8),))
    launcher = LocalLauncher(1, 1, gpus=[])
    results = run_jobs([job], tmp_path, launcher=launcher, execute=generate_in_worker)
    result = results[job.key]
    assert "failed" not in result, result.get("log")
    assert result["result"]["pid"] != os.getpid()
    assert result["result"]["exact_match"] == 1.0 and result["result"]["tasks"][-1] == "reverse"


@pytest.mark.slow
def test_ray_workers_register_it(reverse, ray_address, tmp_path):
    from hf_copycot.reproduce.ray_launcher import RayLauncher
    from hf_copycot.reproduce.runner import Job, run_jobs

    job = Job("evaluate", "reverse in a Ray worker", (Rows(count=8),))
    results = run_jobs([job], tmp_path, launcher=RayLauncher(1, 0), execute=generate_in_worker)
    result = results[job.key]
    assert "failed" not in result, result.get("log")
    assert result["result"]["exact_match"] == 1.0 and "reverse" in result["result"]["tasks"]


def test_restore_registered_names_a_module_without_the_spec():
    with pytest.raises(ValueError, match="declares no TaskSpec named 'nowhere'"):
        tasks.restore_registered({"nowhere": "toy_task"})
    assert "nowhere" not in tasks.TASK_NAMES
