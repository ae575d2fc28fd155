from pathlib import Path

import pytest

from hf_copycot import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app():
    from hf_copycot.spaces.copy_arena import app

    return app


def test_models_come_from_flags_and_env_and_the_hub_on_a_space(app, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("COPYCOT_MODEL_A", "m1,m2")
    monkeypatch.delenv("COPYCOT_MODEL_B", raising=False)
    args = app.parse_args(["--model_a", "m0"])
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
    args = app.parse_args(["--models_dir", str(tmp_path)])
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
    assert "--model_a" in out and "--max_input_chars" in out


def test_copycot_space_serves_the_spaces_own_app(app):
    """`copycot space` runs the Space's app.py, installed with the package (tests/test_wheel.py runs
    it from a wheel, outside the clone); in a clone that is spaces/copy_arena/app.py itself."""
    assert cli.SUBCOMMANDS["space"][0] == "hf_copycot.spaces.copy_arena.app:main"
    assert Path(app.__file__).resolve() == REPO / "spaces" / "copy_arena" / "app.py"
