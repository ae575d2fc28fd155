import importlib.util

import pytest

from hf_copycot import arena, cli


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("copy_arena_app", arena.APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_models_come_from_flags_and_env_and_the_hub_on_a_space(app, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("COPYCOT_MODEL_A", "m1,m2")
    monkeypatch.delenv("COPYCOT_MODEL_B", raising=False)
    args = app.parse_args(["--model-a", "m0"])
    assert args.model_a == ["m0", "m1", "m2"] and args.model_b == []
    assert args.host == "127.0.0.1" and args.concurrency == 1
    monkeypatch.setenv("SPACE_ID", "hf-copycot/copy-arena")
    args = app.parse_args([])
    assert args.model_a[-1] == "state-spaces/mamba-130m-hf"
    assert args.model_b == ["EleutherAI/pythia-160m"]


def test_bad_limits_are_refused(app, capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--concurrency", "0"])
    assert "--concurrency must be at least 1" in capsys.readouterr().err


def test_app_builds_without_models_and_without_network(app, tmp_path, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("COPYCOT_MODEL_A", raising=False)
    monkeypatch.delenv("COPYCOT_MODEL_B", raising=False)
    args = app.parse_args(["--models-dir", str(tmp_path)])
    demo = app.build_demo(args)
    dropdowns = {
        block.elem_id: block.value
        for block in demo.blocks.values()
        if getattr(block, "elem_id", None) in ("model-a", "model-b")
    }
    # Nothing trained yet: the untrained presets keep the arena usable.
    assert dropdowns == {"model-a": "preset:mamba-tiny", "model-b": "preset:pythia-tiny"}
    assert demo.analytics_enabled is False


def test_copycot_space_help(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["space", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--model-a" in out and "--max-input-chars" in out


def test_copycot_space_outside_a_clone_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(arena, "APP_FILE", tmp_path / "app.py")
    assert cli.main(["space"]) == 2
    assert "run it from a clone" in capsys.readouterr().err
