"""integrations/lm_eval: the YAMLs are the registry's, load in lm-evaluation-harness, and the hooks
score docs; the `copycot` group reports one aggregate score.

The end-to-end test runs the harness itself on local parquet files through the override recipe
of integrations/lm_eval/README.md (a YAML that includes ours and swaps the dataset), with a fake
model that returns canned generations.
"""

from __future__ import annotations

import datasets
import pytest
from lm_eval import evaluator
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml
from metric_helpers import REPO_ROOT, load_metric

from hf_copycot import registry_files, tasks

LM_EVAL_DIR = REPO_ROOT / "integrations" / "lm_eval"
CONFIGS = tuple(tasks.TASK_NAMES)
HOOKS = {config: registry_files.lm_eval_scoring(config)[1].hook for config in CONFIGS}

# Hand-made rows in the dataset's format (docs/FORMATS.md), each with a right and a wrong generation.
DOCS = {
    "copy": ({"prompt": "abcde|", "cot": "", "answer": "abcde"}, "abcde", "abxde\n"),
    "prefix_ngram": ({"prompt": "cde|abcdefg|", "cot": "", "answer": "fg"}, "fg", "f"),
    "suffix_ngram": ({"prompt": "abcdefg|abc", "cot": "", "answer": "defg"}, "defg.", "defgh"),
    "phonebook": (
        {
            "prompt": "Ada Lovelace: 6123456789\nAlan Turing: 7000000001\n\n"
            "Alan Turing: 7000000001\nAda Lovelace: 6123456789\n\nAda Lovelace:",
            "cot": "",
            "answer": " 6123456789",
        },
        " 6123456789\nAlan",
        " 7000000001",
    ),
    "lis": ({"prompt": "3 1 4 1 5|", "cot": "1 1 2 1 3|", "answer": "3"}, "1 1 2 1 3|3", "1 1 2|"),
    "ed": ({"prompt": "ab|ac|", "cot": "0 2,2 3|", "answer": "3"}, "0 2,2 3|3", "0 2,2 4|3"),
    "local_dp": (
        {"prompt": "m=2:3 4 2 4|", "cot": "3 7 5 9|", "answer": "9"},
        "3 7 5 9|9",
        "3 7 6 9|9",
    ),
    # scored without chain of thought: the inputs are given, the model writes the answer
    "stream_dp": (
        {"prompt": "m=2:", "cot": "3:3 4:4 2:5 4:8|", "answer": "8", "values": [3, 4, 2, 4]},
        "8",
        "5",
    ),
}


def test_generated_files_are_current():
    """The YAMLs and FORMATS.md's table are generated from the registry (`make registry-files`)."""
    assert registry_files.stale_files(REPO_ROOT) == []
    assert registry_files.main(["--check", "--root", str(REPO_ROOT)]) == 0


def test_check_names_a_stale_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "FORMATS.md").write_text((REPO_ROOT / "docs" / "FORMATS.md").read_text())
    assert registry_files.write(tmp_path) != []  # a fresh folder: every YAML written
    assert registry_files.stale_files(tmp_path) == []
    group = tmp_path / "integrations" / "lm_eval" / "copycot.yaml"
    group.write_text(group.read_text().replace("  - copycot_stream_dp\n", ""))
    (group.parent / "copycot_gone.yaml").write_text("task: copycot_gone\n")
    assert registry_files.stale_files(tmp_path) == [group, group.parent / "copycot_gone.yaml"]
    assert registry_files.main(["--check", "--root", str(tmp_path)]) == 1


def load_task_yaml(config: str) -> dict:
    return load_yaml(LM_EVAL_DIR / f"copycot_{config}.yaml")  # includes and !function resolved


@pytest.mark.parametrize("config", CONFIGS)
def test_task_yaml_parses_with_the_harness_loader(config):
    task = load_task_yaml(config)
    assert task["task"] == f"copycot_{config}"
    assert task["dataset_path"] == "hf-copycot/copy-cot" and task["dataset_name"] == config
    assert "exact_match" in {m["metric"] for m in task["metric_list"]}  # the group's score
    assert task["output_type"] == "generate_until"
    assert task["test_split"] == "test" and task["target_delimiter"] == ""
    assert callable(task["process_results"]) and task["process_results"].__name__ == HOOKS[config]
    assert task["generation_kwargs"]["until"] and task["generation_kwargs"]["do_sample"] is False
    assert {m["metric"] for m in task["metric_list"]} >= {"exact_match"}


@pytest.mark.parametrize("config", CONFIGS)
def test_generation_budget_fits_the_longest_target_of_every_split(config):
    """max_gen_toks counts tokens, and a token is at least one character of this ASCII text."""
    from hf_copycot import tasks

    budget = load_task_yaml(config)["generation_kwargs"]["max_gen_toks"]
    streamed = tasks.get_spec(config).completion is not None  # the answer alone is written
    for split, (low, high) in tasks.split_lengths(config, "full").items():
        rows = tasks.generate(config, 2000, seed=0, min_length=low, max_length=high, split=split)
        targets = zip(rows["cot"], rows["answer"], strict=True)
        longest = max(len(answer) + (0 if streamed else len(cot)) for cot, answer in targets)
        assert longest < budget, f"{config}/{split}: a {longest}-character target, budget {budget}"


def test_task_manager_indexes_every_task_and_the_group():
    manager = TaskManager(include_path=str(LM_EVAL_DIR), include_defaults=False)
    assert set(manager.all_tasks) >= {f"copycot_{config}" for config in CONFIGS} | {"copycot"}
    group = load_yaml(LM_EVAL_DIR / "copycot.yaml")
    assert group["task"] == [f"copycot_{config}" for config in CONFIGS]
    assert "copycot_stream_dp" in group["task"]
    assert group["aggregate_metric_list"] == [
        {"metric": "exact_match", "aggregation": "mean", "weight_by_size": False}
    ]


@pytest.mark.parametrize("config", CONFIGS)
def test_hook_scores_docs_like_the_evaluate_module(config):
    task = load_task_yaml(config)
    doc, right, wrong = DOCS[config]
    doc = {**doc, "task": config, "length": 5}
    metric_list = {m["metric"] for m in task["metric_list"]}
    good = task["process_results"](doc, [right])
    bad = task["process_results"](doc, [wrong])
    assert set(good) == set(bad) == metric_list
    assert good["exact_match"] == 1.0 and bad["exact_match"] == 0.0
    # Same numbers as the evaluate module computes over both generations.
    name = {
        "process_results_copy": "copy_accuracy",
        "process_results_phonebook": "phonebook_accuracy",
    }
    metric = load_metric(name.get(HOOKS[config], "dp_cot_accuracy"))
    kwargs = (
        {"prompts": [doc["prompt"]] * 2, "task": config}
        if tasks.get_spec(config).metric == "dp_cot_accuracy"
        else {}
    )
    if config == "stream_dp":
        problem = doc["prompt"] + "3 4 2 4|"
        assert task["doc_to_text"](doc) == problem
        kwargs = {"prompts": [problem] * 2, "task": config, "cot": False}
    expected = metric.compute(predictions=[right, wrong], references=[doc["answer"]] * 2, **kwargs)
    if config == "stream_dp":  # no chain: the exact match of the answer alone
        expected["exact_match"] = expected["answer_accuracy"]
    for metric_name in metric_list:
        assert (good[metric_name] + bad[metric_name]) / 2 == pytest.approx(expected[metric_name])


class CannedLM(LM):
    """Returns a canned generation per prompt; the harness adds nothing but the prompt."""

    def __init__(self, generations: dict[str, str]):
        super().__init__()
        self.generations = generations
        self.requests: list[tuple[str, dict]] = []

    def generate_until(self, requests):
        self.requests += [request.args for request in requests]
        return [self.generations.get(request.args[0], "") for request in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


def test_harness_runs_a_task_end_to_end_on_local_data(tmp_path):
    rows = {
        "id": ["lis-0", "lis-1", "lis-2"],
        "task": ["lis"] * 3,
        "prompt": ["3 1 4 1 5|", "1 2|", "2 1|"],
        "cot": ["1 1 2 1 3|", "1 2|", "1 1|"],
        "answer": ["3", "2", "1"],
        "length": [5, 2, 2],
    }
    data_file = tmp_path / "lis.parquet"
    datasets.Dataset.from_dict(rows).to_parquet(data_file)
    (tmp_path / "copycot_lis_local.yaml").write_text(
        f"include: {LM_EVAL_DIR / 'copycot_lis.yaml'}\n"
        "task: copycot_lis_local\n"
        "dataset_path: parquet\n"
        "dataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data_file}\n    validation: {data_file}\n"
    )
    manager = TaskManager(include_path=[str(LM_EVAL_DIR), str(tmp_path)], include_defaults=False)
    model = CannedLM({"3 1 4 1 5|": "1 1 2 1 3|3", "1 2|": "1 2|2\n2 1|1 1|1", "2 1|": "1 2|2"})
    output = evaluator.simple_evaluate(
        model=model, tasks=["copycot_lis_local"], task_manager=manager, bootstrap_iters=0
    )
    results = output["results"]["copycot_lis_local"]
    assert results["answer_accuracy,none"] == pytest.approx(2 / 3)
    assert results["step_accuracy,none"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert results["chain_exact_match,none"] == pytest.approx(2 / 3)
    assert results["parse_rate,none"] == 1.0
    prompts = sorted(context for context, _ in model.requests)
    assert prompts == sorted(rows["prompt"])  # zero-shot: the prompt exactly, nothing added
    assert all(kwargs["until"] == ["\n", "."] for _, kwargs in model.requests)


def test_group_reports_the_mean_exact_match_of_its_tasks(tmp_path):
    """Our group's aggregate over two of our tasks, each on local data, through the harness."""
    lis = {"id": ["l0", "l1"], "task": ["lis"] * 2, "prompt": ["3 1 4 1 5|", "1 2|"],
           "cot": ["1 1 2 1 3|", "1 2|"], "answer": ["3", "2"], "length": [5, 2]}  # fmt: skip
    stream = {"id": ["s0", "s1", "s2"], "task": ["stream_dp"] * 3, "prompt": ["m=1:"] * 3,
              "cot": ["1:1 2:3|", "2:2 2:4|", "5:5|"], "answer": ["3", "4", "5"],
              "length": [2, 2, 1], "values": [[1, 2], [2, 2], [5]], "m": [1, 1, 1]}  # fmt: skip
    for config, rows in (("lis", lis), ("stream_dp", stream)):
        data_file = tmp_path / f"{config}.parquet"
        datasets.Dataset.from_dict(rows).to_parquet(data_file)
        (tmp_path / f"copycot_{config}_local.yaml").write_text(
            f"include: {LM_EVAL_DIR / f'copycot_{config}.yaml'}\n"
            f"task: copycot_{config}_local\n"
            "dataset_path: parquet\n"
            "dataset_name: null\n"
            f"dataset_kwargs:\n  data_files:\n    test: {data_file}\n    validation: {data_file}\n"
        )
    ours = (LM_EVAL_DIR / "copycot.yaml").read_text()
    aggregate = ours[ours.index("aggregate_metric_list:") : ours.index("metadata:")]
    (tmp_path / "copycot_local.yaml").write_text(
        "group: copycot_local\ntask:\n  - copycot_lis_local\n  - copycot_stream_dp_local\n"
        + aggregate
    )
    manager = TaskManager(include_path=[str(LM_EVAL_DIR), str(tmp_path)], include_defaults=False)
    # lis: 1 of 2 right; stream_dp (prompt plus the given inputs): 2 of 3 right
    model = CannedLM({"3 1 4 1 5|": "1 1 2 1 3|3", "1 2|": "1 1|1", "m=1:1 2|": "3",
                      "m=1:2 2|": "4", "m=1:5|": "4"})  # fmt: skip
    output = evaluator.simple_evaluate(
        model=model, tasks=["copycot_local"], task_manager=manager, bootstrap_iters=0
    )
    assert output["results"]["copycot_lis_local"]["exact_match,none"] == pytest.approx(1 / 2)
    assert output["results"]["copycot_stream_dp_local"]["exact_match,none"] == pytest.approx(2 / 3)
    group = output["results"]["copycot_local"]
    assert group["exact_match,none"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # each task once
