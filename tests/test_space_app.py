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


@pytest.mark.slow
def test_a_fresh_clone_trains_the_copy_pair_before_serving(app, tmp_path, monkeypatch):
    """No trained models: the Space trains the pair `make demo` trains (here at the smoke scale)
    instead of racing untrained presets; once they exist it does not train again."""
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("COPYCOT_MODEL_A", raising=False)
    monkeypatch.delenv("COPYCOT_MODEL_B", raising=False)
    monkeypatch.chdir(tmp_path)  # the run cache goes to ./outputs/reproduce
    args = app.parse_args(["--models_dir", str(tmp_path / "models")])
    assert app.needs_copy_pair(args)
    assert not app.needs_copy_pair(app.parse_args([*_dir(tmp_path), "--skip_training"]))
    assert not app.needs_copy_pair(app.parse_args([*_dir(tmp_path), "--model_a", "x"]))
    app.ensure_copy_pair(args, scale="smoke")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "mamba-tiny-copy",
        "pythia-tiny-copy",
    ]
    assert not app.needs_copy_pair(args)
    dropdowns = {
        block.elem_id: block.value
        for block in app.build_demo(args).blocks.values()
        if getattr(block, "elem_id", None) in ("model-a", "model-b")
    }
    assert dropdowns == {
        "model-a": str((tmp_path / "models" / "mamba-tiny-copy").resolve()),
        "model-b": str((tmp_path / "models" / "pythia-tiny-copy").resolve()),
    }


def _dir(tmp_path):
    return ["--models_dir", str(tmp_path / "models")]
