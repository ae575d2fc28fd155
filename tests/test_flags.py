"""One flag vocabulary: every command takes the underscore names, old spellings still work for one
release with one deprecation line each, and --min_length/--max_length mean the same everywhere."""

from __future__ import annotations

import argparse

import pytest
from transformers import HfArgumentParser

from hf_copycot import data, dataset_repo, evaluation, finetune, flags
from hf_copycot.reproduce import cli as reproduce_cli


def deprecation_lines(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert all("deprecated" in line for line in lines), lines
    return lines


def test_normalize_rewrites_old_spellings_once_each(capsys):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--output_dir")
    parser.add_argument("--dataset_size")
    argv = ["--output-dir=o", "--size", "full", "--output-dir", "p", "--unknown-flag", "--x"]
    got = flags.normalize(argv, parser, renamed={"--size": "--dataset_size"})
    assert got == ["--output_dir=o", "--dataset_size", "full", "--output_dir", "p", *argv[-2:]]
    lines = deprecation_lines(capsys.readouterr().err)
    assert lines == [
        "tool: warning: --output-dir is deprecated, use --output_dir (the old spelling goes in "
        f"hf-copycot {flags.REMOVED_IN})",
        "tool: warning: --size is deprecated, use --dataset_size (the old spelling goes in "
        f"hf-copycot {flags.REMOVED_IN})",
    ]
    assert flags.normalize(["--output_dir", "--size"], parser) == ["--output_dir", "--size"]


def test_copycot_evaluate_accepts_the_old_flags(capsys):
    model_args, data_args, args = evaluation.parse_args(
        [
            *("--model", "m", "--config", "copy", "--dataset", "d", "--split", "test"),
            *("--max_examples", "3", "--batch_size", "2", "--task_size", "full"),
            *("--revision", "r", "--output", "x.json"),
        ]
    )
    assert (model_args.model_name_or_path, model_args.model_revision) == ("m", "r")
    assert (data_args.dataset_config, data_args.dataset_name) == ("copy", "d")
    assert (data_args.eval_splits, data_args.max_eval_examples) == ("test", 3)
    assert data_args.dataset_size == "full" and args.per_device_eval_batch_size == 2
    assert str(args.results_file()) == "x.json"
    assert len(deprecation_lines(capsys.readouterr().err)) == 9


def test_every_command_takes_the_new_names_and_the_old_ones(capsys):
    _, data_args, args = finetune.parse_args(
        ["--model_name_or_path", "m", "--task_size", "full", "--output-dir", "o"]
    )
    assert data_args.dataset_size == "full" and args.output_dir == "o"
    args = reproduce_cli.parse_args(["--preset", "smoke", "--output-dir", "x", "--dry-run"])
    assert args.scale == "smoke" and str(args.output_dir) == "x" and args.dry_run
    parser = dataset_repo.make_parser()
    argv = ["--output-dir", "x", "--size", "full", "--train-rows", "5", "--push-to-hub"]
    argv = flags.normalize([*argv, "--repo-id", "a/b"], parser, renamed=dataset_repo.RENAMED)
    args = parser.parse_args(argv)
    assert args.output_dir == "x" and args.train_rows == 5 and args.push_to_hub
    assert args.repo_id == "a/b" and args.dataset_size == "full"
    from hf_copycot.spaces.copy_arena import app

    args = app.parse_args(["--model-a", "m", "--max-input-chars", "10", "--models-dir", "d"])
    assert args.model_a[0] == "m" and args.max_input_chars == 10
    assert len(deprecation_lines(capsys.readouterr().err)) == 13


@pytest.mark.parametrize("split", ["train", "validation", "test", "test_long"])
def test_min_and_max_length_mean_the_same_in_finetune_and_evaluate(split):
    lengths = ["--dataset_config", "copy", "--min_length", "3", "--max_length", "8"]
    _, tuned, _ = finetune.parse_args(["--model_name_or_path", "m", *lengths, "--output_dir", "o"])
    _, evaluated, _ = evaluation.parse_args(["--model_name_or_path", "m", *lengths])
    assert type(tuned).__mro__[1] is data.DataArguments and type(evaluated) is data.DataArguments
    expected = (21, 40) if split == "test_long" else (3, 8)  # test_long keeps the table's range
    assert data.split_lengths(tuned, "copy", split) == expected
    assert data.split_lengths(evaluated, "copy", split) == expected


def test_to_argv_parses_back_to_the_same_dataclasses():
    arguments = (
        finetune.ModelArguments(model_name_or_path="preset:mamba-tiny", config_overrides="a=1"),
        finetune.DataArguments(dataset_config="lis", use_cot=False, task_params='{"n": 4}'),
        finetune.TrainingArguments(output_dir="o", learning_rate=3e-3, max_steps=7),
    )
    argv = flags.to_argv(*arguments)
    assert "--use_cot" in argv and argv[argv.index("--use_cot") + 1] == "false"
    parsed = HfArgumentParser(finetune.ARGUMENT_TYPES).parse_args_into_dataclasses(argv)
    assert tuple(parsed) == arguments
