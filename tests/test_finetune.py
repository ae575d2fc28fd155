"""finetune.py end to end on CPU: from scratch, resume, two processes, pretrained checkpoints by
Hub id (through the local Hub), and bad arguments stopping before any training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from hf_copycot import dataset_repo, finetune
from hf_copycot.tokenizer import build_word_tokenizer, tokenizer_kind

REPO_ROOT = Path(__file__).resolve().parents[1]
FAST = ["--per_device_train_batch_size", "4", "--max_eval_examples", "4", "--logging_steps", "1"]


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def copy_lis_dataset(tmp_path_factory):
    """A copy-cot dataset folder (copy and lis), as `load_dataset(folder, config)` reads it."""
    folder = tmp_path_factory.mktemp("data") / "copy-cot"
    return dataset_repo.build_repo(
        folder, ["copy", "lis"], seed=0, train_rows=24, eval_rows=6,
        lengths=(3, 8), long_lengths=(9, 12), log=quiet,
    )  # fmt: skip


def write_dataset(folder: Path, config: str, columns: dict[str, list]) -> Path:
    """A one-config dataset folder with the given columns in every split."""
    for split in ("train", "test", "test_long"):
        datasets.Dataset.from_dict(columns).to_parquet(
            folder / "data" / config / f"{split}.parquet"
        )
    card = {
        "configs": [
            {
                "config_name": config,
                "data_files": [
                    {"split": s, "path": f"data/{config}/{s}.parquet"}
                    for s in ("train", "test", "test_long")
                ],
            }
        ]
    }
    (folder / "README.md").write_text(f"---\n{yaml.safe_dump(card)}---\n")
    return folder


def run(argv: list[str]) -> int:
    return finetune.main([str(a) for a in argv])


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


# ---------------------------------------------------------------------------------------------
# From scratch


@pytest.mark.parametrize(
    ("preset", "task", "use_dataset"),
    [("pythia-tiny", "copy", False), ("mamba-tiny", "lis", True)],
)
def test_from_scratch_trains_saves_and_reloads(
    preset, task, use_dataset, copy_lis_dataset, tmp_path
):
    out = tmp_path / "out"
    data = ["--dataset_name", copy_lis_dataset] if use_dataset else ["--max_length", "8"]
    argv = ["--model_name_or_path", f"preset:{preset}", "--dataset_config", task, *data]
    argv += ["--max_steps", "3", "--eval_steps", "2", "--report_to", "tensorboard"]
    assert run([*argv, "--output_dir", out, *FAST]) == 0

    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= names
    assert {"eval_results.json", "training_args.json", "generation_config.json"} <= names
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind
    assert list((out / "logs").rglob("events.out.tfevents.*"))  # the tensorboard tracker
    payload = json.loads((out / "eval_results.json").read_text())
    assert payload["global_step"] == 3 and payload["dataset_config"] == task
    assert [entry["step"] for entry in payload["history"]] == [2, 3]
    overlap = payload["train_test_overlap"]  # 0 by construction, counted over the training rows
    assert overlap["eval_prompts_in_train"] == {"test": 0, "test_long": 0}
    assert ("generated stream" in overlap["train"]) != use_dataset
    assert set(payload["results"]) == {"test", "test_long"}
    for scores in payload["results"].values():
        assert scores["num_examples"] == 4 and scores["by_length"]
    if not use_dataset:  # generated test rows follow --max_length; test_long stays longer
        assert all(int(n) <= 8 for n in payload["results"]["test"]["by_length"])
        assert all(int(n) > 8 for n in payload["results"]["test_long"]["by_length"])
    card = (out / "README.md").read_text()
    assert "model-index" in card and f"preset:{preset}" in card and "| test_long | 4 |" in card

    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.copycot["preset"] == preset
    inputs = tokenizer(["3 1 2|"], return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs.input_ids.shape[1]


@pytest.mark.parametrize(("gate", "stops_at"), [(0.0, 2), (1.01, None)])
def test_training_stops_at_the_gate_or_the_budget(gate, stops_at, tmp_path):
    """Train to a gate or --max_steps, whichever comes first; the payload says which."""
    out = tmp_path / "out"
    argv = ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy"]
    argv += ["--max_length", "6", "--max_steps", "6", "--eval_steps", "2"]
    argv += ["--eval_splits", "validation,test", "--early_stopping_score", gate]
    assert run([*argv, "--output_dir", out, *FAST]) == 0
    payload = json.loads((out / "eval_results.json").read_text())
    assert payload["stopped_at_gate"] == stops_at
    assert payload["global_step"] == (stops_at or 6)
    # Evaluated every 2 updates until the stop; a gated stop is not evaluated twice.
    assert [entry["step"] for entry in payload["history"]] == ([2] if stops_at else [2, 4, 6])


def test_word_tokenizer_is_chosen_per_run_and_saved_with_the_model(tmp_path):
    out = tmp_path / "out"
    argv = ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "lis"]
    argv += [
        "--tokenizer",
        "word",
        "--max_length",
        "8",
        "--max_steps",
        "2",
        "--eval_splits",
        "test",
    ]
    assert run([*argv, "--output_dir", out, *FAST]) == 0
    overlap = json.loads((out / "eval_results.json").read_text())["train_test_overlap"]
    assert overlap["eval_prompts_in_train"] == {"test": 0, "test_long": 0}  # held out unevaluated
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer_kind(tokenizer) == "word" and len(tokenizer) == len(build_word_tokenizer())
    text = "30 41 25|1 2 1|2"
    assert tokenizer(text).input_ids == build_word_tokenizer()(text).input_ids
    assert len(tokenizer(text).input_ids) == 1 + 9  # <s>, 7 numbers and 2 bars
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.copycot["tokenizer"] == "word"
    assert model.config.vocab_size == len(tokenizer)
    assert json.loads((out / "eval_results.json").read_text())["results"]["test"]["num_examples"]


def test_yaml_config_with_overriding_flags(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_name_or_path": "preset:pythia-tiny",
                "dataset_config": "lis",
                "use_cot": False,
                "max_steps": 100,
                "output_dir": str(tmp_path / "out"),
            }
        )
    )
    model_args, data_args, args = finetune.parse_args([str(config), "--max_steps", "5"])
    assert model_args.model_name_or_path == "preset:pythia-tiny"
    assert data_args.dataset_config == "lis" and data_args.use_cot is False
    assert args.max_steps == 5


# ---------------------------------------------------------------------------------------------
# Resume


@pytest.mark.parametrize(
    "preset, use_dataset",
    [("pythia-tiny", True), ("pythia-tiny", False), ("mamba-tiny", False)],
    ids=["pythia-dataset", "pythia-generated", "mamba-generated"],
)
def test_resumed_run_ends_with_identical_weights(preset, use_dataset, copy_lis_dataset, tmp_path):
    # Dataset: 24 rows, batches of 4, 2 micro-batches per update: 3 updates per epoch, so the
    # checkpoint at update 4 sits inside the second epoch and resuming skips batches there.
    # The Mamba case runs the default scan path (numba kernels on CPU), backward included.
    data = ["--dataset_name", copy_lis_dataset] if use_dataset else ["--max_length", "8"]
    argv = ["--model_name_or_path", f"preset:{preset}", "--dataset_config", "copy", *data]
    argv += ["--max_steps", "7", "--gradient_accumulation_steps", "2", *FAST]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert run([*argv, "--output_dir", full, "--checkpointing_steps", "4"]) == 0
    checkpoint = full / "checkpoints" / "step_4"
    assert (checkpoint / "trainer_state.json").exists()
    assert run([*argv, "--output_dir", resumed, "--resume_from_checkpoint", checkpoint]) == 0
    a, b = weights(full), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # And resuming changed something: the checkpoint's weights differ from the final ones.
    assert run([*argv, "--output_dir", tmp_path / "short", "--max_steps", "4"]) == 0
    assert not all(torch.equal(a[k], v) for k, v in weights(tmp_path / "short").items())


def test_save_total_limit_keeps_the_newest_checkpoints(tmp_path):
    argv = ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy"]
    argv += ["--max_length", "6", "--max_steps", "5", "--checkpointing_steps", "1", *FAST]
    assert run([*argv, "--output_dir", tmp_path / "out", "--save_total_limit", "2"]) == 0
    kept = finetune.checkpoint_dirs(tmp_path / "out")
    assert [p.name for p in kept] == ["step_4", "step_5"]
    assert all((p / "trainer_state.json").exists() for p in kept)
    assert run([*argv, "--output_dir", tmp_path / "bad", "--save_total_limit", "0"]) == 2


def test_rotation_never_deletes_the_checkpoint_just_saved(tmp_path):
    """A run resumed from an older checkpoint saves below the newest one of the earlier run."""
    for step in (2, 4, 6, 8):
        (tmp_path / "checkpoints" / f"step_{step}").mkdir(parents=True)
    just_saved = tmp_path / "checkpoints" / "step_4"
    deleted = finetune.rotate_checkpoints(tmp_path, 2, keep=just_saved)
    assert [p.name for p in deleted] == ["step_2", "step_6"]
    assert [p.name for p in finetune.checkpoint_dirs(tmp_path)] == ["step_4", "step_8"]
    assert finetune.rotate_checkpoints(tmp_path, None) == []


@pytest.mark.parametrize("tracker", ["trackio", "wandb"])
def test_report_to_a_tracker_not_installed_fails_in_one_line(
    tracker, monkeypatch, tmp_path, capsys
):
    import accelerate.utils

    monkeypatch.setattr(accelerate.utils, f"is_{tracker}_available", lambda: False)
    argv = ["--model_name_or_path", "preset:pythia-tiny", "--max_steps", "1"]
    assert run([*argv, "--output_dir", tmp_path, "--report_to", tracker]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"finetune: error: --report_to {tracker} needs the {tracker} package, which is not "
        f"installed: pip install hf-copycot[{tracker}]"
    )
    assert not any(tmp_path.iterdir())  # stopped before anything was built
    assert run([*argv, "--output_dir", tmp_path, "--report_to", "mlflowx"]) == 2
    assert "--report_to mlflowx is not a tracker" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Several processes


def accelerate_launch(config: str, argv: list, env: dict | None = None, timeout: int = 240):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    cmd += [
        str(REPO_ROOT / "configs" / "accelerate" / config),
        str(REPO_ROOT / "hf_copycot" / "finetune.py"),
    ]
    env = env or {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        cmd + [str(a) for a in argv], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    """2 processes x batch 4 see the batches 1 process x batch 4 x 2 accumulation steps sees:
    same loss normalisation, so the same weights (to float rounding) and the same eval scores,
    with evaluation sharded over the two processes and gathered."""
    argv = ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy"]
    argv += ["--max_length", "8", "--max_steps", "6", *FAST, "--max_eval_examples", "7"]
    proc = accelerate_launch("cpu_ddp.yaml", [*argv, "--output_dir", tmp_path / "two"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run([*argv, "--output_dir", tmp_path / "one", "--gradient_accumulation_steps", "2"]) == 0
    two = json.loads((tmp_path / "two" / "eval_results.json").read_text())
    one = json.loads((tmp_path / "one" / "eval_results.json").read_text())
    assert "| num_processes | 2 |" in (tmp_path / "two" / "README.md").read_text()
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert two["results"] == one["results"]
    assert two["results"]["test"]["num_examples"] == 7  # odd count: no row lost or doubled


# ---------------------------------------------------------------------------------------------
# Pretrained checkpoints by Hub id


def bpe_tokenizer(texts: list[str]):
    """A small byte-level BPE tokenizer, GPT-NeoX style (<|endoftext|> as BOS/EOS, no pad)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
    )


def pretrained_style_checkpoints(root: Path) -> dict[str, Path]:
    """A tiny MambaForCausalLM and GPTNeoXForCausalLM, saved as their Hub repos would be."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, MambaConfig, MambaForCausalLM

    from hf_copycot.tasks import generate

    texts = []
    for task in ("copy", "lis", "phonebook"):
        rows = generate(task, 50, seed=0, min_length=5, max_length=12)
        texts += [
            p + c + a for p, c, a in zip(rows["prompt"], rows["cot"], rows["answer"], strict=True)
        ]
    tokenizer = bpe_tokenizer(texts)
    ids = {"eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id}
    torch.manual_seed(0)
    models = {
        "tiny-org/mamba-tiny-hf": MambaForCausalLM(
            MambaConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                num_hidden_layers=2,
                pad_token_id=0,
                **ids,
            )
        ),
        "tiny-org/pythia-tiny": GPTNeoXForCausalLM(
            GPTNeoXConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                **ids,
            )
        ),
    }
    folders = {}
    for repo_id, model in models.items():
        folder = root / repo_id.split("/")[1]
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        # AutoTokenizer lists this folder; the Hub answers 404 for a missing one, but olah answers
        # 401 (read as "no such repo"), so the local repos carry it, without templates.
        (folder / "additional_chat_templates").mkdir()
        (folder / "additional_chat_templates" / "README.md").write_text("No chat templates.\n")
        folders[repo_id] = folder
    return folders


@pytest.mark.slow
def test_pretrained_checkpoints_fine_tune_by_hub_id(copy_lis_dataset, tmp_path):
    from tests.local_hub import LocalHub

    with LocalHub(tmp_path / "hub") as hub:
        hub.add_repo("dataset", "tiny-org/copy-cot", copy_lis_dataset)
        checkpoints = pretrained_style_checkpoints(tmp_path / "checkpoints")
        for repo_id, folder in checkpoints.items():
            hub.add_repo("model", repo_id, folder)
        for repo_id in checkpoints:
            out = tmp_path / repo_id.split("/")[1]
            argv = ["--model_name_or_path", repo_id, "--dataset_name", "tiny-org/copy-cot"]
            argv += ["--dataset_config", "copy", "--max_steps", "2", "--output_dir", out, *FAST]
            proc = accelerate_launch("cpu.yaml", argv, env=hub.env(OMP_NUM_THREADS="1"))
            assert proc.returncode == 0, proc.stderr[-3000:]
            if "mamba" in repo_id:
                assert "Mamba scan path:" in proc.stderr
            tokenizer = AutoTokenizer.from_pretrained(out)
            assert len(tokenizer) == len(AutoTokenizer.from_pretrained(checkpoints[repo_id]))
            card = (out / "README.md").read_text()
            assert f"base_model: {repo_id}" in card and "tiny-org/copy-cot" in card
            payload = json.loads((out / "eval_results.json").read_text())
            assert payload["model"] == repo_id and payload["results"]["test"]["num_examples"] == 4


# ---------------------------------------------------------------------------------------------
# Bad input: one line, before any training, nothing written


@pytest.fixture
def no_contract_dataset(tmp_path):
    return write_dataset(tmp_path / "plain", "copy", {"text": ["abc|abc"], "label": [1]})


@pytest.fixture
def foreign_characters_dataset(tmp_path):
    row = {
        "id": ["0"],
        "task": ["copy"],
        "prompt": ["äbc|"],
        "cot": [""],
        "answer": ["äbc"],
        "length": [3],
    }
    return write_dataset(tmp_path / "foreign", "copy", row)


TINY = ["--model_name_or_path", "preset:mamba-tiny", "--max_steps", "2"]
BAD = [
    (
        [
            "--model_name_or_path",
            "preset:mamba-huge",
            "--dataset_config",
            "copy",
            "--max_steps",
            "2",
        ],
        "unknown preset 'mamba-huge'",
    ),
    (TINY, "--dataset_config is required"),
    ([*TINY, "--dataset_config", "sort"], "unknown --dataset_config 'sort'"),
    (
        ["--model_name_or_path", "preset:mamba-tiny", "--dataset_config", "copy"],
        "on-the-fly data needs --max_steps",
    ),
    ([*TINY, "--dataset_config", "copy", "--push_to_hub", "true"], "--hub_model_id"),
    ([*TINY, "--dataset_config", "phonebook", "--dataset_name", "COPY_LIS"], "config 'phonebook'"),
    (
        [*TINY, "--dataset_config", "copy", "--dataset_name", "NO_CONTRACT"],
        "lacks the columns id, task, prompt, cot, answer, length",
    ),
    (
        [*TINY, "--dataset_config", "copy", "--dataset_name", "FOREIGN"],
        "outside the character tokenizer: ['ä']",
    ),
    ([*TINY, "--dataset_config", "copy", "--task_params", "{n: 4}"], "--task_params is not JSON"),
    ([*TINY, "--dataset_config", "copy", "--resume_from_checkpoint", "latest"], "no checkpoint in"),
    (
        [*TINY, "--dataset_config", "copy", "--early_stopping_score", "0.9"],
        "--early_stopping_score needs --eval_steps",
    ),
    (
        [*TINY, "--dataset_config", "copy", "--early_stopping_score", "0.9", "--eval_steps", "2"],
        "--early_stopping_split validation is not evaluated",
    ),
    (
        [
            *TINY,
            "--dataset_config",
            "copy",
            "--dataset_name",
            "COPY_LIS",
            "--gradient_accumulation_steps",
            "2",
        ],
        "fewer than --gradient_accumulation_steps 2",
    ),
    ([*TINY, "--dataset_config", "lis", "--tokenizer", "bpe"], "unknown --tokenizer 'bpe'"),
    (
        ["--model_name_or_path", "gpt2", "--dataset_config", "lis", "--tokenizer", "word"],
        "--tokenizer applies to presets",
    ),
    (
        [*TINY, "--dataset_config", "phonebook", "--tokenizer", "word"],
        "the word tokenizer cannot write",
    ),
]


@pytest.mark.parametrize(("argv", "needle"), BAD)
def test_bad_arguments_stop_before_training(
    argv,
    needle,
    copy_lis_dataset,
    no_contract_dataset,
    foreign_characters_dataset,
    tmp_path,
    capsys,
):
    folders = {
        "COPY_LIS": copy_lis_dataset,
        "NO_CONTRACT": no_contract_dataset,
        "FOREIGN": foreign_characters_dataset,
    }
    argv = [folders.get(a, a) for a in argv]
    out = tmp_path / "out"
    assert run([*argv, "--output_dir", out]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("finetune: error:"), errors
    assert needle in errors[0]
    assert not (out / "model.safetensors").exists()


def test_existing_model_is_not_overwritten_and_push_failure_keeps_the_model(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "--model_name_or_path",
        "preset:pythia-tiny",
        "--dataset_config",
        "copy",
        "--max_length",
        "6",
    ]
    argv += ["--max_steps", "1", "--output_dir", out, *FAST]
    # HF_HUB_OFFLINE=1 (tests/conftest.py): the push fails after the model is saved.
    assert run([*argv, "--push_to_hub", "true", "--hub_model_id", "me/tiny"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "could not push to me/tiny" in errors[0] and str(out) in errors[0]
    assert (out / "model.safetensors").exists() and (out / "eval_results.json").exists()
    before = (out / "model.safetensors").read_bytes()
    assert run(argv) == 2
    assert "already holds a trained model" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before
    assert run([*argv, "--overwrite_output_dir", "true"]) == 0
