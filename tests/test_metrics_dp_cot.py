"""dp_cot_accuracy: the DP recomputed from prompts, hand-made generations, properties, bad input."""

from __future__ import annotations

import json
import math

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metric_helpers import load_metric, scoring_module

dp_cot_accuracy = load_metric("dp_cot_accuracy")


# Brute-force DPs, written straight from the definitions in docs/FORMATS.md.
def lis_cot(values: list[int]) -> tuple[str, str]:
    steps = []
    for i, value in enumerate(values):
        steps.append(1 + max([steps[j] for j in range(i) if values[j] < value], default=0))
    return " ".join(map(str, steps)) + "|", str(max(steps))


def ed_cot(a: str, b: str) -> tuple[str, str]:
    dp = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            if i == 0 or j == 0:
                dp[i][j] = i + j  # Feng et al.'s boundary: one per character
            else:
                same = a[i - 1] == b[j - 1]
                dp[i][j] = min(
                    dp[i - 1][j] + 2, dp[i][j - 1] + 2, dp[i - 1][j - 1] + (0 if same else 3)
                )
    rows = [" ".join(map(str, dp[i][1:])) for i in range(1, len(a) + 1)]
    return ",".join(rows) + "|", str(dp[len(a)][len(b)])


def local_dp_cot(values: list[int], m: int) -> tuple[str, str]:
    dp = []
    for i, value in enumerate(values):
        dp.append(value if i == 0 else value + min(dp[max(0, i - m) : i]))
    return " ".join(map(str, dp)) + "|", str(dp[-1])


def score(predictions, prompts, references, task, **kwargs):
    return dp_cot_accuracy.compute(
        predictions=predictions, references=references, prompts=prompts, task=task, **kwargs
    )


LIS_PROMPT, LIS_ANSWER = "3 1 4 1 5|", "3"  # cot "1 1 2 1 3|"
# (generation, answer_accuracy, step_accuracy, chain_exact_match, parse_rate)
LIS_CASES = [
    ("1 1 2 1 3|3", 1, 1, 1, 1),
    ("1 1 2 1 3|3\n1 1 2", 1, 1, 1, 1),  # run-on after the end is cut
    ("1 1 2 1 3|3</s>", 1, 1, 1, 1),
    ("1  1 2 1 3 | 3", 1, 1, 1, 1),  # spacing is not the model's task
    ("1 1 2 2 3|3", 1, 0.8, 0, 1),  # right answer, a wrong step
    ("1 1 2 1 3|4", 0, 1, 1, 1),  # right steps, wrong answer
    ("1 1 2 1 3|", 0, 1, 1, 0),  # truncated before the answer
    ("1 1 2|", 0, 0.6, 0, 0),  # truncated steps
    ("1 1 2 1 3 4|3", 1, 5 / 6, 0, 1),  # run-on steps
    ("1 2 1 3|3", 1, 0.2, 0, 1),  # off by one: first step missing
    ("01 1 2 1 3|3", 1, 0.8, 0, 1),  # "01" is not how 1 is written
    ("1 1 2 1 3|3|", 0, 1, 1, 0),
    ("1 1 x 1 3|3", 1, 0.8, 0, 0),  # a step that is not a number
    ("1 1 2 1 3", 0, 1, 1, 0),  # no "|" at all
    ("", 0, 0, 0, 0),
    ("|3", 1, 0, 0, 0),
    ("٣|3", 1, 0, 0, 0),  # other-script digit
]


@pytest.mark.parametrize(("generation", "answer", "steps", "chain", "parsed"), LIS_CASES)
def test_lis_hand_made_cases(generation, answer, steps, chain, parsed):
    results = score([generation], [LIS_PROMPT], [LIS_ANSWER], "lis")
    assert results["answer_accuracy"] == answer
    assert results["step_accuracy"] == pytest.approx(steps)
    assert results["chain_exact_match"] == chain
    assert results["exact_match"] == float(answer and chain)
    assert results["parse_rate"] == parsed


ED_PROMPT, ED_ANSWER = "ab|ac|", "3"  # cot "0 2,2 3|"


@pytest.mark.parametrize(
    ("generation", "steps", "chain"),
    [
        ("0 2,2 3|3", 1, 1),
        ("0 2|3", 0.5, 0),  # a row missing
        ("0 2 2 3|3", 2 / 6, 0),  # rows run together
        ("0 2,2 3,4 5|3", 4 / 6, 0),  # an extra row
        ("0 2,2 4|3", 0.75, 0),
    ],
)
def test_ed_steps_align_by_row(generation, steps, chain):
    results = score([generation], [ED_PROMPT], [ED_ANSWER], "ed")
    assert results["step_accuracy"] == pytest.approx(steps)
    assert results["chain_exact_match"] == chain


def test_local_dp_and_negative_values():
    cot, answer = local_dp_cot([3, -4, 2, 4], 2)
    assert (cot, answer) == ("3 -1 1 3|", "3")
    results = score([cot + answer], ["m=2:3 -4 2 4|"], [answer], "local_dp")
    assert results["exact_match"] == 1.0


def test_answer_only_without_cot():
    results = score(
        ["3", " 3 ", "4", "1 1 2 1 3|3", ""], [LIS_PROMPT] * 5, ["3"] * 5, "lis", cot=False
    )
    assert results["answer_accuracy"] == 0.4 and results["parse_rate"] == 0.6
    assert (
        results["step_accuracy"] is results["chain_exact_match"] is results["exact_match"] is None
    )
    assert results["by_length"]["5"] == {"count": 5, "answer_accuracy": 0.4, "parse_rate": 0.6}


def test_without_prompts_only_the_answer_is_scored():
    results = dp_cot_accuracy.compute(predictions=["1 1 2 1 3|3", "9 9|4"], references=["3", "3"])
    assert results["answer_accuracy"] == 0.5 and results["parse_rate"] == 1.0
    assert results["step_accuracy"] is None and results["by_length"] is None
    with_lengths = dp_cot_accuracy.compute(
        predictions=["1|3", "1|4"], references=["3", "3"], lengths=[4, 9]
    )
    assert list(with_lengths["by_length"]) == ["4", "9"]


def test_by_length_reads_sizes_off_prompts_and_json_round_trips():
    prompts = ["3 1 4 1 5|", "2 7|", "1 8|"]
    predictions = ["1 1 2 1 3|3", "1 2|2", "1 1|2"]
    results = score(predictions, prompts, ["3", "2", "2"], "lis", length_buckets=[0, 3, 10])
    assert results["by_length"]["0-2"]["count"] == 2
    assert results["by_length"]["0-2"]["step_accuracy"] == pytest.approx(0.75)
    assert results["by_length"]["3-9"]["exact_match"] == 1.0
    assert json.loads(json.dumps(results)) == results


def test_takes_dataset_columns():
    rows = datasets.Dataset.from_dict(
        {"prompt": ["3 1 4 1 5|", "2 7|"], "answer": ["3", "2"], "length": [5, 2]}
    )
    results = dp_cot_accuracy.compute(
        predictions=["1 1 2 1 3|3", "1 1|2"],
        references=rows["answer"],
        prompts=rows["prompt"],
        lengths=rows["length"],
    )
    assert results["answer_accuracy"] == 1.0 and results["chain_exact_match"] == 0.5


def test_long_generation_is_scored_not_raised():
    results = score(["1 " * 500_000 + "|3"], [LIS_PROMPT], [LIS_ANSWER], "lis")
    assert results["answer_accuracy"] == 1.0 and results["chain_exact_match"] == 0.0
    assert results["step_accuracy"] == pytest.approx(3 / 500_000)  # steps 1, 2 and 4 are 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "sorting"}, "task='sorting' is not a DP-CoT task"),
        ({"cot": "yes"}, "cot='yes'"),
        ({"prompts": ["3 1 4 1 5"]}, r"prompts\[0\]='3 1 4 1 5' does not parse as a lis prompt"),
        ({"prompts": ["3 1 x|"]}, r"prompts\[0\]"),
        ({"prompts": ["ab|"], "task": "ed"}, "does not parse as a ed prompt"),
        ({"prompts": ["m=0:1 2|"], "task": "local_dp"}, "local_dp prompt"),
        ({"prompts": ["1 2|"]}, r"references\[0\]='3' but the lis DP of prompts\[0\] gives '2'"),
        ({"prompts": [LIS_PROMPT, LIS_PROMPT]}, "prompts has 2 items"),
        ({"prompts": [3]}, r"prompts\[0\] is int"),
        ({"lengths": [1, 2]}, "lengths has 2 items"),
        ({"predictions": [1]}, r"predictions\[0\] is int"),
        ({"predictions": [], "references": [], "prompts": []}, "predictions is empty"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, message):
    arguments = {"predictions": ["1 1 2 1 3|3"], "references": ["3"], "prompts": [LIS_PROMPT]}
    with pytest.raises(ValueError, match=message):
        dp_cot_accuracy.compute(**{**arguments, **kwargs})


# ---- properties: the metric's DP agrees with the brute force; perfect = 1; permuted < 1


lis_values = st.lists(st.integers(-20, 20), min_size=1, max_size=25)
ed_strings = st.text(alphabet="abc", min_size=1, max_size=8)


@settings(max_examples=40, deadline=None)
@given(lis_values, ed_strings, ed_strings, st.integers(1, 6))
def test_recomputed_dp_matches_brute_force(values, a, b, m):
    module = scoring_module("dp_cot_accuracy")
    prompt = " ".join(map(str, values)) + "|"
    cases = [
        ("lis", prompt, lis_cot(values)),
        ("ed", f"{a}|{b}|", ed_cot(a, b)),
        ("local_dp", f"m={m}:{prompt}", local_dp_cot(values, m)),
    ]
    for task, task_prompt, (cot, answer) in cases:
        rows, expected_answer, _ = module.solve_prompt(task, task_prompt)
        assert ",".join(" ".join(map(str, row)) for row in rows) + "|" == cot
        assert expected_answer == answer
        perfect = score([cot + answer], [task_prompt], [answer], task)
        assert perfect["exact_match"] == perfect["step_accuracy"] == perfect["parse_rate"] == 1.0


@settings(max_examples=40, deadline=None)
@given(lis_values, st.randoms(use_true_random=False))
def test_permuted_steps_score_less(values, rng):
    cot, answer = lis_cot(values)
    steps = cot[:-1].split()
    if len(set(steps)) < 2:
        return  # every permutation of a constant chain is the chain itself
    shuffled = steps
    while shuffled == steps:
        shuffled = rng.sample(steps, len(steps))
    prompt = " ".join(map(str, values)) + "|"
    results = score([" ".join(shuffled) + "|" + answer], [prompt], [answer], "lis")
    assert results["step_accuracy"] < 1.0 and results["chain_exact_match"] == 0.0
    assert results["answer_accuracy"] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6), st.sampled_from(["lis", "ed"]))
def test_any_generation_scores_in_range_never_nan(generations, task):
    prompt, answer = (LIS_PROMPT, LIS_ANSWER) if task == "lis" else (ED_PROMPT, ED_ANSWER)
    n = len(generations)
    results = score(generations, [prompt] * n, [answer] * n, task)
    for name in (
        "answer_accuracy",
        "step_accuracy",
        "chain_exact_match",
        "exact_match",
        "parse_rate",
    ):
        assert not math.isnan(results[name]) and 0.0 <= results[name] <= 1.0
