"""copycot peers: the peers' formats (hand-written fixtures in tests/fixtures/peers) in and out."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from metric_helpers import load_metric

from hf_copycot import cli, peers, tasks
from hf_copycot.data import load_rows

FIXTURES = Path(__file__).parent / "fixtures" / "peers"
CASES = [  # (format, fixture, direct file)
    ("feng-lis", "feng_lis_chain.txt", False),
    ("feng-lis", "feng_lis_direct.txt", True),
    ("feng-ed", "feng_ed_chain.txt", False),
    ("feng-ed", "feng_ed_direct.txt", True),
    ("jelassi-copy", "jelassi_copy.txt", False),
    ("jelassi-phonebook", "jelassi_phonebook.jsonl", False),
]


@pytest.mark.parametrize(("fmt", "fixture", "direct"), CASES)
def test_their_files_read_into_rows_and_write_back_byte_for_byte(fmt, fixture, direct):
    text = (FIXTURES / fixture).read_text()
    rows = peers.read_rows(fmt, text, split="test")
    config = peers.CONFIG_OF_FORMAT[fmt]
    assert list(rows) == list(tasks.columns(config))
    assert rows["id"][0] == f"{fmt}-test-0" and set(rows["task"]) == {config}
    assert peers.write_lines(fmt, rows, direct=direct) == text


def test_feng_rows_are_ours():
    lis = peers.read_rows("feng-lis", (FIXTURES / "feng_lis_chain.txt").read_text())
    assert lis["prompt"][0] == "9 7 12 10|" and lis["cot"][0] == "1 1 2 2|"
    assert (
        lis["answer"][0] == "2" and lis["length"] == [4, 5, 3] and lis["sequence"][2] == [11, 5, 4]
    )
    ed = peers.read_rows("feng-ed", (FIXTURES / "feng_ed_chain.txt").read_text(), length=2)
    assert ed["prompt"] == ["ab|ac|", "a|bc|", "ba|aba|"] and ed["cot"][2] == "3 1 3,1 3 1|"
    assert ed["string_b"][1] == "bc" and ed["length"] == [2, 2, 2]
    direct = peers.read_rows("feng-ed", (FIXTURES / "feng_ed_direct.txt").read_text())
    assert direct["cot"] == ed["cot"][:2] and direct["length"] == [2, 1]  # default: len(a)
    book = peers.read_rows("jelassi-phonebook", (FIXTURES / "jelassi_phonebook.jsonl").read_text())
    assert book["answer"] == [" 6123456789", " 8111111111"] and book["length"] == [3, 4]
    assert book["query_name"] == ["Ada Lovelace", "Grace Hopper"]


def test_imported_folder_trains_and_scores_with_our_metrics(tmp_path):
    out = tmp_path / "feng-ed"
    files = [f"train={FIXTURES / 'feng_ed_chain.txt'}", f"test={FIXTURES / 'feng_ed_direct.txt'}"]
    assert (
        cli.main(["peers", "import", "--format", "feng-ed", "--output_dir", str(out), *files]) == 0
    )
    data = datasets.load_dataset(str(out), "ed")
    assert data["train"].num_rows == 3 and data["test"].num_rows == 2
    test = load_rows(str(out), "ed", "test").to_dict()  # what finetune / evaluate read
    scores = load_metric("dp_cot_accuracy").compute(
        predictions=[c + a for c, a in zip(test["cot"], test["answer"], strict=True)],
        references=test["answer"],
        prompts=test["prompt"],
        task="ed",
    )
    assert scores["exact_match"] == 1.0
    card = (out / "README.md").read_text()
    assert "feng_ed_direct.txt" in card and "| test | 2 |" in card
    assert card.rstrip().endswith("| 2 |")  # both test prompts are train prompts: counted
    assert (
        cli.main(["peers", "import", "--format", "feng-ed", "--output_dir", str(out), *files]) == 2
    )


def test_jelassi_rows_score_with_our_metrics():
    book = peers.read_rows("jelassi-phonebook", (FIXTURES / "jelassi_phonebook.jsonl").read_text())
    scores = load_metric("phonebook_accuracy").compute(
        predictions=[" 6123456789\nAda", "\n 8111111111"], references=book["answer"]
    )
    assert scores["exact_match"] == 0.5  # the first line, as Jelassi et al.
    copies = peers.read_rows("jelassi-copy", (FIXTURES / "jelassi_copy.txt").read_text())
    scores = load_metric("copy_accuracy").compute(
        predictions=copies["answer"], references=copies["answer"]
    )
    assert scores["exact_match"] == 1.0


@pytest.mark.parametrize("fmt", peers.FORMATS)
def test_our_rows_export_and_import_unchanged(fmt, tmp_path):
    config = peers.CONFIG_OF_FORMAT[fmt]
    low, high = tasks.split_lengths(config)["test"]
    rows = tasks.generate(config, 20, seed=3, min_length=low, max_length=high, split="test")
    out = tmp_path / "theirs.txt"
    argv = [
        "peers",
        "export",
        "--format",
        fmt,
        "--output_file",
        str(out),
        "--max_eval_examples",
        "20",
    ]
    assert cli.main([*argv, "--seed", "3"]) == 0
    assert out.read_text() == peers.write_lines(fmt, rows)
    back = peers.read_rows(fmt, out.read_text(), split="test")
    keep = [name for name in rows if name not in ("id", "length")]
    assert {name: back[name] for name in keep} == {name: rows[name] for name in keep}


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("feng-ed", (FIXTURES / "feng_ed_other_boundary.txt").read_text(), "line 2: the chain"),
        ("feng-lis", "3 1 2 <sep> 1 1 2 <sep> 3 \n", "line 1: the answer 3 is not the LIS DP's 2"),
        ("feng-lis", "3 1 2 | 2\n", "found 0 <sep> tokens"),
        ("feng-ed", "A b | a <sep> 3\n", "one lowercase letter a token"),
        ("feng-ed", "| a b <sep> 2\n", "an empty string"),
        ("jelassi-copy", "$abc|abd.\n", "expected a copy example"),
        ("jelassi-phonebook", '{"input": "x"}\n', "expected a JSON object"),
        ("feng-lis", "\n\n", "has no rows"),
        ("sorting", "1", "unknown format 'sorting'"),
    ],
)
def test_files_in_another_format_fail_with_the_line(fmt, text, message):
    with pytest.raises(peers.PeerFormatError, match=message) as error:
        peers.read_rows(fmt, text, source="f.txt")
    assert "\n" not in str(error.value)


def test_command_line_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text((FIXTURES / "feng_ed_other_boundary.txt").read_text())
    argv = ["peers", "import", "--format", "feng-ed", "--output_dir", str(tmp_path / "o")]
    assert cli.main([*argv, f"test={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("copycot peers: error:") and "line 2" in err and "\n" not in err
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.partial-*"))
    rows = tasks.generate("lis", 2, seed=0, min_length=5, max_length=5)
    with pytest.raises(peers.PeerFormatError, match="holds ed rows, got lis rows"):
        peers.write_lines("feng-ed", rows)
