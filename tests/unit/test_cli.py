import subprocess
import sys

from freeze import __version__
from freeze.cli import main
from freeze.errors import EXIT_USAGE


def test_version_flag_prints_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_a_one_line_usage_error():
    proc = subprocess.run([sys.executable, "-m", "freeze", "no-such-command"],
                          capture_output=True, text=True)
    assert proc.returncode == EXIT_USAGE
    assert "Traceback" not in proc.stderr
    assert "invalid choice" in proc.stderr


def test_no_command_prints_help_and_fails():
    proc = subprocess.run([sys.executable, "-m", "freeze"], capture_output=True, text=True)
    assert proc.returncode == EXIT_USAGE
    assert "usage: freeze" in proc.stderr
