"""No train/test overlap: training streams and dataset builds never repeat an evaluation problem."""

from __future__ import annotations

import json

import pytest

from hf_copycot import dataset_repo, tasks
from hf_copycot.data import DataError, GeneratedTaskDataset
from hf_copycot.overlap import eval_prompts_in_train, generate_excluding

SMALL = {"min_length": 3, "max_length": 4, "params": {"max_value": 8}}  # a few hundred problems


def test_excluded_prompts_are_replaced_deterministically():
    test = tasks.generate("lis", 200, seed=0, split="test", min_length=3, max_length=4, max_value=8)
    exclude = set(test["prompt"])
    plain = tasks.generate(
        "lis", 500, seed=1, split="train", min_length=3, max_length=4, max_value=8
    )
    assert sum(p in exclude for p in plain["prompt"]) > 100  # the problem this module solves
    rows, replaced = generate_excluding("lis", 500, exclude=exclude, seed=1, split="train", **SMALL)
    assert replaced == sum(p in exclude for p in plain["prompt"])
    assert len(rows["prompt"]) == 500 and not exclude & set(rows["prompt"])
    assert len(set(rows["id"])) == 500 and list(rows) == list(plain)
    again = generate_excluding("lis", 500, exclude=exclude, seed=1, split="train", **SMALL)
    assert again == (rows, replaced)
    assert generate_excluding("lis", 5, exclude=set(), seed=1, split="train", **SMALL)[1] == 0


def test_an_exhausted_problem_space_is_a_one_line_error():
    every = {"a|", "b|"}
    with pytest.raises(ValueError, match="leave too few problems outside the evaluation rows"):
        generate_excluding(
            "copy", 4, exclude=every, seed=0, split="train", min_length=1, max_length=1,
            params={"alphabet": "ab"},
        )  # fmt: skip


def test_generated_stream_reports_no_overlap():
    test = tasks.generate("lis", 200, seed=0, split="test", min_length=3, max_length=4, max_value=8)
    stream = GeneratedTaskDataset(
        "lis", 300, seed=0, min_length=3, max_length=4, params={"max_value": 8},
        featurize=lambda rows: [{"input_ids": [1] * len(p)} for p in rows["prompt"]],
        batch_size=4, batches_per_chunk=16, exclude={"test": test["prompt"]},
    )  # fmt: skip
    report = stream.overlap_report()
    assert report["eval_prompts_in_train"] == {"test": 0}
    assert report["train_rows_replaced"] > 20 and "5 chunks" in report["train"]
    seen = {stream[i]["input_ids"].__len__() for i in range(len(stream))}
    assert seen  # items are served after filtering
    bad = GeneratedTaskDataset(
        "copy", 8, seed=0, min_length=1, max_length=1, params={"alphabet": "ab"},
        featurize=list, batch_size=4, exclude={"test": ["a|", "b|"]},
    )  # fmt: skip
    with pytest.raises(DataError, match="cannot generate 'copy' rows"):
        bad[0]


def test_eval_prompts_in_train_counts_rows():
    assert eval_prompts_in_train(["a|", "b|"], {"test": ["a|", "a|", "c|"]}) == {"test": 2}


def test_a_streamed_task_counts_problems_not_prompts():
    """stream_dp's prompt holds only m: many problems share it, and none may be excluded for it."""
    from hf_copycot import tasks
    from hf_copycot.overlap import generate_excluding

    test = tasks.generate("stream_dp", 50, seed=0, min_length=3, max_length=4, split="test")
    keys = tasks.problem_keys("stream_dp", test)
    assert len(set(test["prompt"])) <= 4 < len(set(keys))
    train, replaced = generate_excluding(
        "stream_dp", 3000, exclude=set(keys), seed=0, split="train", min_length=3, max_length=4
    )
    assert replaced > 0 and len(train["prompt"]) == 3000
    assert not set(keys) & set(tasks.problem_keys("stream_dp", train))
    assert set(train["prompt"]) == set(test["prompt"])  # the prompts themselves stay


def test_dataset_build_dedupes_train_against_every_eval_split(tmp_path):
    folder = dataset_repo.build_repo(
        tmp_path / "ds", ["copy"], seed=0, train_rows=400, eval_rows=100,
        lengths=(1, 2), long_lengths=(3, 3), log=lambda *_: None,
    )  # fmt: skip
    manifest = json.loads((folder / dataset_repo.MARKER).read_text())
    splits = manifest["configs"]["copy"]["splits"]
    assert splits["train"]["replaced_eval_problems"] > 0
    assert {s: splits[s]["prompts_in_train"] for s in ("validation", "test", "test_long")} == {
        "validation": 0,
        "test": 0,
        "test_long": 0,
    }
    import datasets

    data = datasets.load_dataset(str(folder), "copy")
    train = set(data["train"]["prompt"])
    assert all(not train & set(data[s]["prompt"]) for s in ("validation", "test", "test_long"))
    assert (
        "Train/test overlap: 0 validation, 0 test, 0 test_long prompts"
        in (folder / "README.md").read_text()
    )
