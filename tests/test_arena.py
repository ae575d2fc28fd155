import json
import random
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_models import save_tiny_model

from hf_copycot import arena, tasks
from hf_copycot.inference_cost import expected_cache_memory

REPO = Path(__file__).resolve().parents[1]


# --- prompts in the dataset's formats -------------------------------------------------------


def test_copy_prompt_follows_the_format():
    example = arena.build_example("copy", "hello")
    assert (example.prompt, example.expected, example.length) == ("hello|", "hello", 5)


@pytest.mark.parametrize("task", ["prefix_ngram", "suffix_ngram"])
@pytest.mark.parametrize("seed", range(5))
def test_ngram_prompt_queries_a_unique_ngram(task, seed):
    text = "abcabdxyzabq"
    example = arena.build_example(task, text, seed=seed)
    ngram = example.note.split("'")[1]
    assert text.count(ngram) == 1
    start = text.index(ngram)
    assert example.expected == text[start + 3 :] and example.expected
    want = f"{ngram}|{text}|" if task == "prefix_ngram" else f"{text}|{ngram}"
    assert example.prompt == want


def test_ngram_without_a_unique_ngram_is_a_clear_error():
    with pytest.raises(arena.ArenaError, match="no 3-gram occurs exactly once"):
        arena.build_example("prefix_ngram", "abababab")


@pytest.mark.parametrize("task", ["phonebook", "lis", "ed", "local_dp"])
def test_generated_tasks_match_the_dataset_generator(task):
    size = 7 if task == "phonebook" else 6
    example = arena.build_example(task, seed=11, length=size, num_entries=size)
    row = tasks.generate(task, 1, seed=11, min_length=size, max_length=size)
    assert example.prompt == row["prompt"][0]
    assert example.expected == row["cot"][0] + row["answer"][0]
    assert example.length == size
    if task == "phonebook":
        name = row["query_name"][0]
        assert (
            example.prompt.endswith(f"{name}:") and f"{name}:{example.expected}" in example.prompt
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the string is empty"),
        ("ab|c", "contains '|'"),
        ("ab.c", "contains '.'"),
        ("ab\nc", "contains '\\\\n'"),
        ("café", "contains 'é'"),
    ],
)
def test_bad_strings_are_refused_with_the_reason(text, message):
    with pytest.raises(arena.ArenaError, match=message):
        arena.build_example("copy", text)


def test_prompt_over_the_cap_names_the_cap_and_the_fix():
    with pytest.raises(arena.ArenaError) as caught:
        arena.build_example("phonebook", num_entries=50, max_input_chars=100)
    message = str(caught.value)
    assert "over this arena's cap of 100" in message and "--max_input_chars" in message
    assert "\n" not in message
    with pytest.raises(arena.ArenaError, match="unknown task"):
        arena.build_example("sort", "abc")


@pytest.mark.parametrize("task", arena.typed_tasks())
def test_random_strings_are_seeded_and_fit_the_task(task):
    first = arena.random_string(task, 15, "abcdef", seed=3)
    assert first == arena.random_string(task, 15, "abcdef", seed=3)
    assert len(first) == 15 and set(first) <= set("abcdef")
    arena.build_example(task, first, seed=3)  # n-gram tasks: a unique n-gram exists


# --- scoring and highlighting -------------------------------------------------------------


def test_highlight_marks_first_wrong_character_and_everything_after():
    assert arena.highlight("abXde", "abcde", finished=True) == [("ab", None), ("Xde", "wrong")]
    assert arena.highlight("abcdefg", "abcde", finished=True) == [
        ("abcde", None),
        ("fg", "wrong"),
    ]
    assert arena.highlight("ab", "abcde", finished=True) == [("ab", None), ("cde", "not generated")]
    assert arena.highlight("ab", "abcde", finished=False) == [("ab", None)]
    assert arena.highlight("", "ab", finished=True) == [("ab", "not generated")]
    assert arena.highlight("abcde", "abcde", finished=True) == [("abcde", None)]


def test_scores():
    assert arena.score("abcde", "abcde") == arena.Score(True, 1.0, 5)
    assert arena.score("abXde", "abcde") == arena.Score(False, 0.8, 2)
    assert arena.score("abc", "abcde") == arena.Score(False, 0.6, 3)
    assert arena.score("", "") == arena.Score(True, 1.0, 0)
    assert arena.cut_generation("abc.def\nx") == "abc"


@pytest.fixture(scope="module")
def copy_accuracy():
    folder = REPO / "eval" / "copy_accuracy"
    if not folder.is_dir():
        pytest.skip("eval/copy_accuracy is not in this checkout yet (metrics part)")
    import evaluate

    return evaluate.load(str(folder), keep_in_memory=True)


@settings(max_examples=60, deadline=None)
@given(
    generated=st.text(alphabet="abc.\n", max_size=12), expected=st.text(alphabet="abc", max_size=10)
)
def test_scores_agree_with_the_copy_accuracy_metric(copy_accuracy, generated, expected):
    ours = arena.score(arena.cut_generation(generated), expected)
    theirs = copy_accuracy.compute(predictions=[generated], references=[expected])
    assert theirs["exact_match"] == float(ours.exact_match)
    assert theirs["char_accuracy"] == pytest.approx(ours.char_accuracy)
    assert theirs["prefix_length"] == ours.prefix_length


# --- models on offer --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "mamba": save_tiny_model("mamba", root / "copy" / "mamba-tiny"),
        "gpt_neox": save_tiny_model("gpt_neox", root / "copy" / "pythia-tiny", constant="a"),
        "root": root,
    }


def test_discovery_finds_trained_models_and_ranks_them_per_column(tiny_models):
    root = tiny_models["root"]
    (root / "copy" / "mamba-tiny" / "checkpoint-5").mkdir()
    (root / "copy" / "mamba-tiny" / "checkpoint-5" / "config.json").write_text("{}")
    (root / "no-weights").mkdir()
    (root / "no-weights" / "config.json").write_text(json.dumps({"model_type": "mamba"}))
    found = arena.discover_models(root)
    assert [(c.label, c.architecture) for c in found] == [
        ("copy/mamba-tiny (mamba)", "mamba"),
        ("copy/pythia-tiny (gpt_neox)", "gpt_neox"),
    ]
    choices_a, default_a = arena.column_choices(found, [], arena.MAMBA_TYPES)
    assert [c.architecture for c in choices_a] == ["mamba", "gpt_neox"]
    choices_b, default_b = arena.column_choices(found, ["EleutherAI/pythia-160m"], ("gpt_neox",))
    assert default_a == str(tiny_models["mamba"].resolve())
    assert default_b == "EleutherAI/pythia-160m"
    assert [c.label for c in choices_b] == [
        "EleutherAI/pythia-160m (Hub)",
        "copy/pythia-tiny (gpt_neox)",
        "copy/mamba-tiny (mamba)",
    ]
    assert arena.discover_models(root / "missing") == []


def test_nothing_found_offers_untrained_presets():
    choices, default = arena.column_choices([], [], arena.TRANSFORMER_TYPES)
    assert default == "preset:pythia-tiny" and len(choices) == 2


def test_a_model_that_fails_to_load_is_reported_in_its_column(tiny_models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    registry = arena.ModelRegistry()
    example = arena.build_example("copy", "abcd")
    results = list(arena.race(example, [str(broken), str(tiny_models["gpt_neox"])], registry, 16))
    last_a, last_b = results[-1]
    assert last_a.status == "error" and last_a.error.startswith("cannot load")
    assert str(broken) in last_a.error
    assert "\n" not in last_a.error
    assert last_b.status == "done" and last_b.text.startswith("a")
    assert "**Error:**" in arena.stats_markdown(last_a, example.expected)
    assert not registry.is_loaded(str(broken)) and registry.is_loaded(str(tiny_models["gpt_neox"]))


@pytest.mark.compat
def test_race_streams_both_models_token_by_token(tiny_models):
    registry = arena.ModelRegistry()
    names = [str(tiny_models["mamba"]), str(tiny_models["gpt_neox"])]
    example = arena.build_example("copy", "aaaabcd")
    results = list(arena.race(example, names, registry, max_new_tokens=64))
    assert results[0][0].status == "loading"
    b_texts = [b.text for _, b in results if b is not None and b.status == "running"]
    assert b_texts[:3] == ["a", "aa", "aaa"]  # one token per update
    final_a, final_b = results[-1]
    assert final_a.status == final_b.status == "done"
    # The constant model writes "a" until it runs RUN_ON_CHARS past the expected 7 characters.
    assert final_b.text == "a" * (7 + arena.RUN_ON_CHARS)
    assert final_b.score(example.expected) == arena.Score(False, 4 / 15, 4)
    assert arena.highlight(final_b.text, example.expected, finished=True) == [
        ("aaaa", None),
        ("a" * 11, "wrong"),
    ]
    model_b, _ = registry.get(names[1])
    assert final_b.memory == expected_cache_memory(
        model_b.config, final_b.prompt_tokens + final_b.new_tokens - 1
    )
    model_a, _ = registry.get(names[0])
    assert final_a.memory == expected_cache_memory(model_a.config, 1)
    stats = arena.stats_markdown(final_b, example.expected)
    assert "| correct prefix | 4 / 7 characters |" in stats and "KV cache" in stats
    assert "recurrent state" in arena.stats_markdown(final_a, example.expected)


def test_a_prompt_longer_than_the_context_is_refused(tiny_models):
    registry = arena.ModelRegistry()
    example = arena.build_example("copy", "ab" * 600)
    result = arena.final_result(str(tiny_models["gpt_neox"]), example, registry, 64)
    assert result.status == "error" and "1024-token context" in result.error


def test_sweep_reports_accuracy_per_model_and_length(tiny_models):
    registry = arena.ModelRegistry()
    names = [str(tiny_models["mamba"]), str(tiny_models["gpt_neox"])]
    progress = list(
        arena.sweep("copy", [4, 8], names, registry, examples_per_length=2, alphabet="a")
    )
    assert len(progress) == 2
    rows, errors = progress[-1]
    assert errors == []
    by_key = {(row["model"], row["length"]): row for row in rows}
    assert set(by_key) == {
        ("A: mamba-tiny", 4),
        ("B: pythia-tiny", 4),
        ("A: mamba-tiny", 8),
        ("B: pythia-tiny", 8),
    }
    # Over the alphabet "a" the constant model's copy is right but runs on past the end.
    assert by_key[("B: pythia-tiny", 4)]["char_accuracy"] == pytest.approx(4 / 12)
    assert by_key[("B: pythia-tiny", 8)]["exact_match"] == 0.0


def test_parse_lengths():
    assert arena.parse_lengths("20, 5 10,5", cap=50) == [5, 10, 20]
    for bad, message in (("5, x", "not whole numbers"), ("", "at least one"), ("60", "cap of 50")):
        with pytest.raises(arena.ArenaError, match=message):
            arena.parse_lengths(bad, cap=50)


def test_random_strings_cover_the_alphabets():
    rng = random.Random(0)
    for name, alphabet in arena.ALPHABETS.items():
        assert set(alphabet) <= set(string.printable) and not set(alphabet) & set("|.\n"), name
        arena.build_example("copy", arena.random_string("copy", 8, alphabet, rng.randrange(99)))
