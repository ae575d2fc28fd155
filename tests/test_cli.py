import subprocess
import sys

from hf_copycot import cli


def test_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_unknown_subcommand_is_one_line_error(capsys):
    assert cli.main(["nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown command 'nope'" in err and "\n" not in err


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "hf_copycot.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "usage: copycot" in proc.stdout
