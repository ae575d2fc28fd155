"""A task added in one file (tests/toy_task.py) works end to end: the dataset build, fine-tuning,
`copycot evaluate`, the metric and the arena all take it from the registry, with no other edit."""

from __future__ import annotations

import json

import datasets
import pytest
import toy_task

from hf_copycot import arena, cli, dataset_repo, finetune, metrics, tasks


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
