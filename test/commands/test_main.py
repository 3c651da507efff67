"""The one error convention of every ``swiftnet-ros`` command (commands/main.py)."""

import sys
import types

import pytest

from swiftnet_ros.commands import main as cli


def _fake_command(monkeypatch, error):
    module = types.ModuleType("fake_command")
    module.add_arguments = lambda parser: None

    def run(args):
        raise error

    module.run = run
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("fake_command", "a command that fails"))


@pytest.mark.parametrize("error, code", [
    (cli.UsageError("--size 0x0: expected WIDTHxHEIGHT"), 2),
    (ValueError("bad value"), 2),
    (FileNotFoundError("weights 'x.pt' not found"), 2),
    (cli.RunError("the backend failed"), 1),
    (RuntimeError("CUDA out of memory"), 1),
    (PermissionError("cannot write out/"), 1),
    (KeyboardInterrupt(), 130),
])
def test_one_line_and_exit_code(monkeypatch, capsys, error, code):
    monkeypatch.delenv("SWIFTNET_ROS_DEBUG", raising=False)
    _fake_command(monkeypatch, error)
    assert cli.main(["fake"]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("swiftnet-ros fake: interrupted" if code == 130 else "swiftnet-ros fake: error: ")


def test_a_bug_is_one_line_that_names_the_debug_switch(monkeypatch, capsys):
    monkeypatch.delenv("SWIFTNET_ROS_DEBUG", raising=False)
    _fake_command(monkeypatch, TypeError("unsupported operand"))
    assert cli.main(["fake"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("swiftnet-ros fake: error: TypeError: unsupported operand "
                   "(SWIFTNET_ROS_DEBUG=1 shows the traceback)")


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("SWIFTNET_ROS_DEBUG", "1")
    _fake_command(monkeypatch, ValueError("multi\n  line"))
    assert cli.main(["fake"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == "swiftnet-ros fake: error: multi line"


def test_argparse_usage_errors_share_the_prefix_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["profile", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "swiftnet-ros profile: error:" in capsys.readouterr().err
