"""Batched generation equals unbatched `generate`; `copycot evaluate` writes eval_results.json."""

import json

import pytest
import torch
from accelerate import Accelerator

from hf_copycot import cli
from hf_copycot.evaluation import (
    decode_until_eos,
    eval_dataloader,
    evaluate_split,
    generate_batch,
    load_metric,
)
from hf_copycot.models import load_model_and_tokenizer
from hf_copycot.tasks import generate

PROMPTS = generate("copy", 24, seed=5, min_length=3, max_length=20, split="test")["prompt"]


@pytest.fixture(scope="module", params=["pythia-tiny", "mamba-tiny"])
def random_model(request):
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(
        f"preset:{request.param}", config_overrides="initializer_range=0.5"
    )  # a wide init makes confident (tie-free) predictions, so any padding error shows
    return model.eval(), tokenizer


def unbatched(model, tokenizer, prompt, budget):
    inputs = tokenizer([prompt], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=budget, do_sample=False)
    return decode_until_eos(tokenizer, out[0, inputs.input_ids.shape[1] :].tolist())


def test_batched_generation_equals_unbatched_generate(random_model):
    model, tokenizer = random_model
    budgets = [len(p) + 1 for p in PROMPTS]
    batched = generate_batch(model, tokenizer, PROMPTS, max_new_tokens=budgets, batch_size=8)
    one_by_one = [unbatched(model, tokenizer, p, b) for p, b in zip(PROMPTS, budgets, strict=True)]
    assert batched == one_by_one
    assert any(text for text in batched)  # not trivially empty
    assert all(
        len(tokenizer(t, add_special_tokens=False).input_ids) <= b
        for t, b in zip(batched, budgets, strict=True)
    )
    assert (
        generate_batch(model, tokenizer, PROMPTS, max_new_tokens=budgets, batch_size=5) == batched
    )


def test_decode_stops_at_eos_and_keeps_other_specials_visible():
    _, tokenizer = load_model_and_tokenizer("preset:pythia-tiny")
    ids = tokenizer("ab", add_special_tokens=False).input_ids
    eos, bos = tokenizer.eos_token_id, tokenizer.bos_token_id
    assert decode_until_eos(tokenizer, [*ids, eos, *ids]) == "ab"
    assert decode_until_eos(tokenizer, [*ids, bos]) == "ab<s>"


def test_evaluate_split_scores_what_it_generates(random_model):
    model, tokenizer = random_model
    rows = generate("copy", 10, seed=1, min_length=3, max_length=8, split="test")
    accelerator = Accelerator(cpu=True)
    loader = accelerator.prepare(eval_dataloader(rows, tokenizer, batch_size=4))
    scores, predictions = evaluate_split(
        accelerator, model, tokenizer, loader, rows, task="copy", use_cot=True
    )
    budgets = [len(a) + 1 for a in rows["answer"]]
    assert predictions == generate_batch(model, tokenizer, rows["prompt"], max_new_tokens=budgets)
    expected = load_metric("copy_accuracy").compute(
        predictions=predictions, references=rows["answer"], lengths=rows["length"]
    )
    assert scores == {"num_examples": 10, **expected}
    assert set(scores["by_length"]) == {str(n) for n in rows["length"]}


def test_copycot_evaluate_writes_eval_results(tmp_path, capsys):
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer("preset:pythia-tiny")
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    out = tmp_path / "eval_results.json"
    argv = ["evaluate", "--model_name_or_path", str(tmp_path / "model"), "--dataset_config", "lis"]
    argv += [
        "--max_eval_examples",
        "6",
        "--output_dir",
        str(tmp_path),
        "--predictions_file",
        str(tmp_path / "p.jsonl"),
    ]
    assert cli.main(argv) == 0
    payload = json.loads(out.read_text())
    assert payload["dataset_config"] == "lis" and payload["metric"] == "dp_cot_accuracy"
    assert set(payload["results"]) == {"test", "test_long"}
    for split in ("test", "test_long"):
        assert payload["results"][split]["num_examples"] == 6
        assert "answer_accuracy" in payload["results"][split]
        assert payload["results"][split]["by_length"]
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["split"] == "test"
    assert "test: answer_accuracy" in capsys.readouterr().out


COPY = ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "copy"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["--model_name_or_path", "preset:pythia-tiny", "--dataset_config", "sorting"],
            "unknown --dataset_config 'sorting'",
        ),
        (
            ["--model_name_or_path", "preset:nope", "--dataset_config", "copy"],
            "unknown preset 'nope'",
        ),
        (
            [*COPY, "--dataset_name", "/no/such/dir"],
            "cannot load",
        ),
    ],
)
def test_copycot_evaluate_bad_arguments(argv, needle, capsys):
    assert cli.main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
