from hf_copycot import cli, tasks


def test_data_tour_builds_and_shows_every_config(capsys):
    assert cli.main(["datasets", "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "Built the small copy-cot dataset repo" in out
    for config in tasks.TASK_NAMES:
        assert f"== {config}:" in out
    assert out.count("    answer:") == len(tasks.TASK_NAMES)


def test_data_tour_keeps_the_build_when_asked(tmp_path, capsys):
    assert cli.main(["datasets", "--rows", "0", "--output_dir", str(tmp_path / "cc")]) == 0
    assert (tmp_path / "cc" / "README.md").exists()
    capsys.readouterr()
