"""The copy-cot dataset repo: layout, card, determinism, atomic writes, bad arguments, loading
by path and by hub id (through the olah-backed local Hub), and the push path (stubbed HfApi)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from hf_copycot import dataset_repo, tasks
from hf_copycot.overlap import generate_excluding
from tests.local_hub import LocalHub
from tests.reference_solvers import check_row

SCRIPT = Path(__file__).resolve().parents[1] / "dataset_scripts" / "build_copy_cot.py"


def quiet(*args):
    pass


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def card_metadata(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    return dataset_repo.build_repo(tmp_path_factory.mktemp("build") / "copy-cot", seed=0, log=quiet)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        yield server


def test_layout_is_hub_native(small_build):
    manifest = json.loads((small_build / dataset_repo.MARKER).read_text())
    expected = {"README.md", dataset_repo.MARKER}
    for config in tasks.TASK_NAMES:
        for split in tasks.SPLITS:
            files = manifest["configs"][config]["splits"][split]["files"]
            assert files == [f"data/{config}/{split}-00000-of-00001.parquet"]
            expected.update(files)
    assert set(tree_bytes(small_build)) == expected
    assert not list(small_build.parent.glob(".copy-cot.*")), "staging folders left behind"


def test_card_metadata_and_sections(small_build):
    meta = card_metadata(small_build)
    assert meta["pretty_name"] == "copy-cot" and meta["license"] == "apache-2.0"
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["10K<n<100K"]  # 7 configs x 2,600 rows
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert list(configs) == list(tasks.TASK_NAMES)
    assert [name for name, c in configs.items() if c.get("default")] == ["copy"]
    for name, config in configs.items():
        assert config["data_files"] == [
            {"split": split, "path": f"data/{name}/{split}-*.parquet"} for split in tasks.SPLITS
        ]
    card = (small_build / "README.md").read_text()
    manifest = json.loads((small_build / dataset_repo.MARKER).read_text())
    assert f"generator version `{tasks.GENERATOR_VERSION}`" in card
    for name in tasks.TASK_NAMES:
        assert f"## `{name}`" in card and f"Format: {tasks.SPECS[name].text_format}." in card
        for split, info in manifest["configs"][name]["splits"].items():
            row = f"| {split} | {info['rows']:,} | {info['min_length']}-{info['max_length']} | `{info['content_sha256']}` |"
            assert row in card
        for key, value in tasks.default_params(name).items():
            assert f"`{key}={json.dumps(value)}`" in card
    for arxiv in ("2410.03810", "2402.01032", "2305.15408"):
        assert arxiv in card


def test_card_examples_are_real_rows(small_build):
    card = (small_build / "README.md").read_text()
    blocks = [b.split("```")[0] for b in card.split("```json\n")[1:]]
    assert len(blocks) == len(tasks.TASK_NAMES)
    for block in blocks:
        check_row(json.loads(block))


def test_loads_by_path_and_matches_generator_and_solvers(small_build):
    import datasets

    manifest = json.loads((small_build / dataset_repo.MARKER).read_text())
    for config in tasks.TASK_NAMES:
        loaded = datasets.load_dataset(str(small_build), config)
        assert list(loaded) == list(tasks.SPLITS)
        splits = manifest["configs"][config]["splits"]
        evaluated = set()  # the evaluation splits' problems: train leaves them out
        for split in [name for name in splits if name != "train"] + ["train"]:
            info = splits[split]
            columns = loaded[split].to_dict()
            assert dataset_repo.content_hash(columns) == info["content_sha256"]
            draw = {
                "seed": 0,
                "min_length": info["min_length"],
                "max_length": info["max_length"],
                "split": split,
            }
            if split == "train":
                expected, replaced = generate_excluding(
                    config, info["rows"], exclude=evaluated, **draw
                )
                assert replaced == info["replaced_eval_problems"]
                assert not evaluated & set(tasks.problem_keys(config, columns))
            else:
                expected = tasks.generate(config, info["rows"], **draw)
                evaluated |= set(tasks.problem_keys(config, expected))
            assert columns == expected
        for row in loaded["test_long"].select(range(50)):
            check_row(row)
    default = datasets.load_dataset(str(small_build), split="train")
    assert default[0]["task"] == "copy"


def test_rerun_is_byte_identical_and_replaces_previous_build(small_build, tmp_path):
    again = dataset_repo.build_repo(tmp_path / "again", seed=0, log=quiet)
    assert tree_bytes(again) == tree_bytes(small_build)
    # Rebuilding over a previous build (here with other arguments) replaces it atomically.
    dataset_repo.build_repo(again, ["lis"], seed=1, train_rows=10, eval_rows=5, log=quiet)
    assert {p.name for p in (again / "data").iterdir()} == {"lis"}
    other = tree_bytes(again)
    assert (
        other["data/lis/train-00000-of-00001.parquet"]
        != tree_bytes(small_build)["data/lis/train-00000-of-00001.parquet"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


def test_shards_split_large_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_repo, "SHARD_ROWS", 40)
    out = dataset_repo.build_repo(
        tmp_path / "out", ["copy"], train_rows=100, eval_rows=3, log=quiet
    )
    names = sorted(p.name for p in (out / "data" / "copy").glob("train-*"))
    assert names == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    import datasets

    assert datasets.load_dataset(str(out), "copy", split="train")["id"] == [
        f"copy-train-0-{i}" for i in range(100)
    ]


def test_interrupted_build_leaves_previous_build_untouched(tmp_path, monkeypatch):
    out = dataset_repo.build_repo(
        tmp_path / "out", ["copy", "lis"], train_rows=20, eval_rows=5, log=quiet
    )
    before = tree_bytes(out)
    real_write = dataset_repo.write_split
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(args[1:3])
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        return real_write(*args, **kwargs)

    monkeypatch.setattr(dataset_repo, "write_split", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        dataset_repo.build_repo(out, ["copy", "lis"], seed=9, train_rows=20, eval_rows=5, log=quiet)
    assert tree_bytes(out) == before
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        dataset_repo.build_repo(tmp_path / "fresh", ["copy"], train_rows=20, eval_rows=5, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_stale_staging_of_a_killed_build_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.partial-{dead.pid}-x1"
    (stale / "data").mkdir(parents=True)
    live = tmp_path / f".out.partial-{__import__('os').getpid()}-x2"
    live.mkdir()
    dataset_repo.build_repo(tmp_path / "out", ["copy"], train_rows=5, eval_rows=5, log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--configs", "copy", "nope"], "unknown config 'nope'"),
        (["--train_rows", "-5"], "--train_rows must be a positive integer"),
        (["--eval_rows", "0"], "--eval_rows must be a positive integer"),
        (["--lengths", "9:3"], "--lengths 9:3 needs 1 <= MIN <= MAX"),
        (["--lengths", "5:30"], "test_long lengths start at 21, not above the train maximum 30"),
        (
            ["--configs", "prefix_ngram", "--lengths", "2:3", "--long_lengths", "4:5"],
            "too short for 3-grams",
        ),
        (["--dataset_size", "huge"], "unknown size 'huge'"),
        (["--seed", "-1"], "--seed must be a non-negative integer"),
        (["--lengths", "abc"], "expected MIN:MAX"),
        (["--push_to_hub"], "--push_to_hub needs --hub_dataset_id"),
        (["--push_to_hub", "--hub_dataset_id", "no-org"], "not of the form ORG/NAME"),
    ],
)
def test_bad_arguments_stop_with_one_line_and_touch_nothing(tmp_path, capsys, args, message):
    code = dataset_repo.main(["--output_dir", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_output_dir_that_is_not_a_build_is_refused(tmp_path, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    assert dataset_repo.main(["--output_dir", str(precious)]) == 2
    assert "exists and is not a previous copy-cot build" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert dataset_repo.main(["--output_dir", str(a_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "notes"]


def test_script_runs_from_a_checkout(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--output_dir",
            str(tmp_path / "o"),
            "--configs",
            "ed",
            "--train_rows",
            "7",
            "--eval_rows",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert dataset_repo.is_previous_build(tmp_path / "o")
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--output_dir", str(tmp_path / "p"), "--configs", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (
        bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown config 'x'" in bad.stderr
    )


# --- publishing ----------------------------------------------------------------------------------
class RecordingApi:
    calls: ClassVar[list] = []

    def __init__(self, token=None):
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://hub.example/datasets/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))


@pytest.fixture
def online_hub_client(monkeypatch):
    import huggingface_hub

    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_token_for_tests")
    return huggingface_hub


def test_push_creates_repo_and_uploads_the_build(tmp_path, capsys, online_hub_client):
    out = tmp_path / "out"
    args = ["--output_dir", str(out), "--configs", "copy", "--train_rows", "5", "--eval_rows", "2"]
    assert (
        dataset_repo.main(
            [*args, "--push_to_hub", "--hub_dataset_id", "ORG/copy-cot", "--hub_private_repo"]
        )
        == 0
    )
    assert "pushed" in capsys.readouterr().out
    names = [name for name, _ in RecordingApi.calls]
    assert names == ["init", "create_repo", "upload_folder"]
    assert RecordingApi.calls[0][1] == {"token": "hf_token_for_tests"}
    assert RecordingApi.calls[1][1] == {
        "repo_id": "ORG/copy-cot",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    upload = RecordingApi.calls[2][1]
    assert upload["repo_id"] == "ORG/copy-cot" and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == out and upload["delete_patterns"] == ["data/**"]
    assert 'load_dataset("ORG/copy-cot", "copy")' in (out / "README.md").read_text()


def test_push_failures_are_one_line_and_keep_the_build(
    tmp_path, capsys, online_hub_client, monkeypatch
):
    out = dataset_repo.build_repo(tmp_path / "out", ["copy"], train_rows=5, eval_rows=2, log=quiet)
    before = tree_bytes(out)

    def refuse(self, repo_id, **kwargs):
        raise ConnectionError("Failed to resolve 'huggingface.co'\nmore detail")

    monkeypatch.setattr(RecordingApi, "create_repo", refuse)
    with pytest.raises(
        dataset_repo.PublishError,
        match=r"could not push to ORG/x: ConnectionError: Failed to resolve",
    ) as error:
        dataset_repo.push_to_hub(out, "ORG/x")
    assert "\n" not in str(error.value) and "intact" in str(error.value)

    monkeypatch.setattr(online_hub_client, "get_token", lambda: None)
    code = dataset_repo.main(
        [
            "--output_dir",
            str(out),
            "--configs",
            "copy",
            "--train_rows",
            "5",
            "--eval_rows",
            "2",
            "--push_to_hub",
            "--hub_dataset_id",
            "ORG/x",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "no Hugging Face token" in err and err.count("\n") == 1
    assert dataset_repo.is_previous_build(out) and set(tree_bytes(out)) == set(before)


def test_push_offline_is_refused_in_one_line(tmp_path):
    out = dataset_repo.build_repo(tmp_path / "out", ["copy"], train_rows=5, eval_rows=2, log=quiet)
    with pytest.raises(dataset_repo.PublishError, match="HF_HUB_OFFLINE is set") as error:
        dataset_repo.push_to_hub(out, "ORG/x")  # tests run with HF_HUB_OFFLINE=1
    assert "\n" not in str(error.value)


# --- loading by hub id through the local Hub -----------------------------------------------------
def test_loads_by_hub_id_through_local_hub(small_build, hub):
    hub.add_repo("dataset", "ORG/copy-cot", small_build)
    manifest = json.loads((small_build / dataset_repo.MARKER).read_text())
    code = textwrap.dedent(
        """
        import json
        from datasets import load_dataset
        from hf_copycot.dataset_repo import content_hash
        out = {}
        for config in ("copy", "phonebook", "ed", "local_dp"):
            ds = load_dataset("ORG/copy-cot", config)
            out[config] = {split: content_hash(ds[split].to_dict()) for split in ds}
        out["default"] = load_dataset("ORG/copy-cot", split="test")[0]["task"]
        print(json.dumps(out))
        """
    )
    proc = hub.run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result.pop("default") == "copy"
    for config, hashes in result.items():
        expected = {
            s: i["content_sha256"] for s, i in manifest["configs"][config]["splits"].items()
        }
        assert hashes == expected


def test_local_hub_answers_unknown_repos_with_not_found(hub):
    proc = hub.run_python(
        "from datasets import load_dataset\n"
        "try:\n    load_dataset('ORG/missing', 'copy')\nexcept Exception as e:\n    print(type(e).__name__)\n"
    )
    assert proc.returncode == 0 and "NotFound" in proc.stdout, proc.stdout + proc.stderr[-2000:]


@pytest.mark.slow
def test_local_hub_serves_model_repos_to_from_pretrained(hub, tmp_path):
    save = textwrap.dedent(
        f"""
        from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
        config = GPTNeoXConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
        GPTNeoXForCausalLM(config).save_pretrained({str(tmp_path / "tiny")!r})
        """
    )
    proc = subprocess.run([sys.executable, "-c", save], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sha = hub.add_repo("model", "ORG/tiny-neox", tmp_path / "tiny")
    load = textwrap.dedent(
        f"""
        import torch
        from huggingface_hub import HfApi
        from transformers import AutoModelForCausalLM
        info = HfApi().model_info("ORG/tiny-neox")
        hub = AutoModelForCausalLM.from_pretrained("ORG/tiny-neox")
        local = AutoModelForCausalLM.from_pretrained({str(tmp_path / "tiny")!r})
        same = all(torch.equal(a, b) for a, b in zip(hub.state_dict().values(), local.state_dict().values()))
        print(info.sha, sorted(s.rfilename for s in info.siblings), same)
        """
    )
    proc = hub.run_python(load)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[0] == sha and proc.stdout.strip().endswith("True")
    assert "model.safetensors" in proc.stdout


def test_card_rebuild_command_reproduces_the_folder(tmp_path):
    first = dataset_repo.build_repo(
        tmp_path / "first", ["lis", "ed"], seed=4, train_rows=9, eval_rows=3,
        lengths=(4, 6), long_lengths=(7, 9), repo_id="ORG/variant", log=quiet,
    )  # fmt: skip
    card = (first / "README.md").read_text()
    command = card.split("rebuild byte for byte: `")[1].split("`")[0].split()
    assert command[:4] == [
        "python",
        "dataset_scripts/build_copy_cot.py",
        "--output_dir",
        "copy-cot",
    ]
    assert dataset_repo.main([*command[2:], "--output_dir", str(tmp_path / "second")]) == 0
    assert tree_bytes(tmp_path / "second") == tree_bytes(first)


def test_card_dataset_info_is_datasets_own_and_parses(small_build):
    """The card's dataset_info (features, splits, sizes) reads back through huggingface_hub's
    DatasetCard and datasets' DatasetInfosDict, and agrees with what load_dataset loads."""
    import datasets
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard

    from hf_copycot import CODE_URL

    card = DatasetCard.load(small_build / "README.md")
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    assert CODE_URL in card.text
    manifest = json.loads((small_build / dataset_repo.MARKER).read_text())
    assert set(infos) == set(manifest["configs"])
    for config in ("copy", "lis"):
        loaded = datasets.load_dataset(str(small_build), config)
        info = infos[config]
        assert info.features == loaded["train"].features == dataset_repo.features(config)
        for split, ds in loaded.items():
            assert info.splits[split].num_examples == ds.num_rows
            assert info.splits[split].num_bytes == ds.data.nbytes > 0
        assert info.dataset_size == sum(s.num_bytes for s in info.splits.values())
        parquet = sum(p.stat().st_size for p in (small_build / "data" / config).glob("*.parquet"))
        assert info.download_size == parquet


def test_written_files_get_the_mode_open_gives_not_the_temporary_files(tmp_path):
    """publishing.write_text/write_json stage in a private (0600) temporary file; the result is
    readable as any file the umask allows (0644 under 022), and a stricter umask still holds."""
    import os
    import stat

    from hf_copycot import publishing

    saved = os.umask(0o022)
    try:
        publishing.write_json(tmp_path / "eval_results.json", {"a": 1})
        publishing.write_text(tmp_path / "README.md", "card\n")
        os.umask(0o077)
        publishing.write_text(tmp_path / "private.txt", "x\n")
    finally:
        os.umask(saved)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert mode == {"eval_results.json": 0o644, "README.md": 0o644, "private.txt": 0o600}
