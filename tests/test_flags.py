"""One flag vocabulary: every command takes the underscore names (no deprecated spellings: 0.1.0
was never released), every flag has help text, and run files keep their YAML/JSON types."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest
import yaml
from transformers import HfArgumentParser

from hf_copycot import cli, data, dataset_repo, evaluation, finetune, flags, peers
from hf_copycot.errors import ArgumentError


class Captured(Exception):
    """Raised instead of parsing: carries the parser a command built."""


COMMANDS = {
    **{name: target for name, (target, _) in cli.SUBCOMMANDS.items()},
    "build_copy_cot.py": "hf_copycot.dataset_repo:main",
    "python -m hf_copycot.registry_files": "hf_copycot.registry_files:main",
}


def parser_of(target: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a command's main builds, caught where it would parse."""

    def capture(self, args=None, namespace=None):
        raise Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    module, function = target.split(":")
    with pytest.raises(Captured) as caught:
        getattr(importlib.import_module(module), function)([])
    return caught.value.args[0]


def flags_without_help(parser: argparse.ArgumentParser, where: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += flags_without_help(sub, f"{where} {name}")
        elif not action.help or action.help == argparse.SUPPRESS:
            missing.append(
                f"{where} {action.option_strings[0] if action.option_strings else action.dest}"
            )
    return missing


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_flag_of_every_command_has_help(command, monkeypatch):
    parser = parser_of(COMMANDS[command], monkeypatch)
    assert len(parser._actions) > 1
    assert flags_without_help(parser, command) == []


@pytest.mark.parametrize("arguments", [finetune.ARGUMENT_TYPES, evaluation.ARGUMENT_TYPES])
def test_every_argument_dataclass_field_has_help(arguments):
    import dataclasses

    for kind in arguments:
        for item in dataclasses.fields(kind):
            assert item.metadata.get("help", "").strip(), f"{kind.__name__}.{item.name}"


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--model_name_or_path", "m", "--model", "m"],
        ["evaluate", "--model_name_or_path", "m", "--output", "x.json"],  # not --output_dir
        ["finetune", "--model_name_or_path", "m", "--output_dir", "o", "--task_size", "full"],
        ["reproduce", "--preset", "smoke"],
        ["peers", "export", "--format", "feng-lis", "--output_file", "f", "--split", "test"],
    ],
)
def test_the_unreleased_spellings_are_gone(argv, capsys):
    """Nor do abbreviations pass for them (argparse's allow_abbrev is off)."""
    try:
        code = cli.main(argv)
    except SystemExit as exited:  # argparse's own error
        code = exited.code
    old = next(token for token in argv[::-1] if token.startswith("--"))
    err = capsys.readouterr().err
    assert code == 2 and f"unrecognized arguments: {old}" in err


def test_dataset_build_uses_transformers_hub_flags(capsys):
    args = dataset_repo.make_parser().parse_args(
        ["--output_dir", "x", "--push_to_hub", "--hub_dataset_id", "a/b", "--hub_private_repo"]
    )
    assert (args.push_to_hub, args.hub_dataset_id, args.hub_private_repo) == (True, "a/b", True)
    assert dataset_repo.main(["--output_dir", "x", "--repo_id", "a/b"]) == 2
    assert "unrecognized arguments: --repo_id a/b" in capsys.readouterr().err
    assert not hasattr(dataset_repo, "BuildError") and not hasattr(flags, "normalize")


def test_peers_take_evaluates_names():
    parser = peers.make_parser()
    args = parser.parse_args(["import", "--format", "feng-ed", "--output_dir", "o", "test=t.txt"])
    assert args.output_dir == "o"
    args = parser.parse_args(
        ["export", "--format", "feng-lis", "--output_file", "f", "--eval_splits", "test_long"]
    )
    assert (args.output_file, args.eval_splits) == ("f", "test_long")


def test_yaml_run_file_keeps_mappings_and_numbers(tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text(
        "model_name_or_path: preset:pythia-tiny\n"
        "dataset_config: prefix_ngram\n"
        "task_params: {n: 4}\n"
        "learning_rate: 1e-3\n"  # YAML 1.1 reads this as a string: argparse converts it
        "use_cot: false\n"
        f"output_dir: {tmp_path / 'out'}\n"
    )
    model_args, data_args, args = finetune.parse_args([str(run_file), "--max_steps", "3"])
    assert data_args.task_params == {"n": 4} and data.parse_task_params(data_args.task_params) == {
        "n": 4
    }
    assert args.learning_rate == 1e-3 and isinstance(args.learning_rate, float)
    assert data_args.use_cot is False and args.max_steps == 3
    params = data.parse_task_params(data_args.task_params)
    rows = data.generate_rows(
        "prefix_ngram", 4, seed=0, split="train", min_length=8, max_length=12, params=params
    )
    assert all(len(gram) == 4 for gram in rows["ngram"])
    # Rendered back as a command line, the mapping is JSON that parses to the same arguments.
    argv = flags.to_argv(model_args, data_args, args)
    assert argv[argv.index("--task_params") + 1] == '{"n": 4}'


def test_json_run_file_and_flags_that_override_it(tmp_path):
    run_file = tmp_path / "run.json"
    run_file.write_text(
        json.dumps(
            {"model_name_or_path": "m", "dataset_config": "lis", "task_params": {"max_value": 99}}
        )
    )
    model_args, data_args, _ = evaluation.parse_args(
        [str(run_file), "--dataset_config", "copy", "--max_eval_examples", "5"]
    )
    assert model_args.model_name_or_path == "m" and data_args.dataset_config == "copy"
    assert data_args.task_params == {"max_value": 99} and data_args.max_eval_examples == 5


def test_bad_run_files_fail_in_one_line(tmp_path):
    run_file = tmp_path / "run.yaml"
    run_file.write_text(yaml.safe_dump({"model_name_or_path": "m", "output_dir": "o", "lr": 1}))
    with pytest.raises(ArgumentError, match="not used by the HfArgumentParser") as error:
        finetune.parse_args([str(run_file)])
    assert "\n" not in str(error.value)
    run_file.write_text(yaml.safe_dump({"model_name_or_path": "m"}))
    with pytest.raises(ArgumentError, match=r"output_dir.*holds every required flag"):
        finetune.parse_args([str(run_file), "--output_dir", "o"])
    with pytest.raises(ArgumentError, match="does not exist"):
        evaluation.parse_args([str(tmp_path / "missing.yaml")])


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
