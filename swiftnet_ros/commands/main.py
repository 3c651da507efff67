"""The ``swiftnet-ros`` command: one sub-command per task, each implemented in its own module.

Every command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their command runs (``--help`` of one command imports only that module).

Errors, one convention for every command: ``run`` raises and ``main`` prints one line
``swiftnet-ros COMMAND: error: MESSAGE`` (no traceback; SWIFTNET_ROS_DEBUG=1 adds it) and returns
2 for a bad argument, file, folder, config or bag (``UsageError``, and any ``ValueError`` /
``FileNotFoundError`` from the libraries, which is what they raise for bad input, as argparse
does for its own usage errors) or 1 for a failure at run time (``RunError``, ``RuntimeError``,
other ``OSError``). Ctrl-C: ``interrupted``, 130.
"""

import argparse
import importlib
import os
import sys
from typing import List, Optional, Tuple


class UsageError(ValueError):
    """A bad argument, file, folder, config or bag; the message names the value and what was expected.
    Exit status 2."""


class RunError(RuntimeError):
    """A failure while the command runs (a write, a backend, a child process). Exit status 1."""


USAGE_EXIT, RUN_EXIT, INTERRUPTED_EXIT = 2, 1, 130


def exit_code(exc: BaseException) -> int:
    """2 for usage / configuration errors, 130 for Ctrl-C, 1 for everything else."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED_EXIT
    if isinstance(exc, RunError):
        return RUN_EXIT
    if isinstance(exc, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
                        FileExistsError)):
        return USAGE_EXIT
    return RUN_EXIT


def error_line(command: str, message: object) -> str:
    """``swiftnet-ros COMMAND: error: MESSAGE`` on one line (whitespace runs and newlines folded)."""
    text = " ".join(str(message).split())
    return "swiftnet-ros {}: error: {}".format(command, text)


def report_error(command: str, exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr (its traceback with SWIFTNET_ROS_DEBUG=1); its exit code."""
    if isinstance(exc, KeyboardInterrupt):
        print("swiftnet-ros {}: interrupted".format(command), file=sys.stderr)
        return INTERRUPTED_EXIT
    known = (ValueError, OSError, RuntimeError)
    text = str(exc) if isinstance(exc, known) and str(exc) else "{}: {}".format(type(exc).__name__, exc)
    if os.environ.get("SWIFTNET_ROS_DEBUG"):
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    elif not isinstance(exc, known):  # a bug, not a bad input: say how to see where
        text += " (SWIFTNET_ROS_DEBUG=1 shows the traceback)"
    print(error_line(command, text), file=sys.stderr)
    return exit_code(exc)


# name -> (module, one-line help)
COMMANDS = {
    "profile": ("swiftnet_ros.commands.profile", "count parameters and multiply-accumulates of a model"),
    "train": ("swiftnet_ros.commands.train", "train SwiftNet (Cityscapes, CamVid, folder, synthetic)"),
    "evaluate": ("swiftnet_ros.commands.evaluate", "evaluate weights: mIoU, per-class IoU, pixel accuracy"),
    "export": ("swiftnet_ros.commands.export", "export weights to ONNX"),
    "build-engine": ("swiftnet_ros.commands.build_engine", "build a TensorRT engine from an ONNX file"),
    "quantize": ("swiftnet_ros.commands.quantize", "quantize a model to int8 ONNX (ONNX Runtime)"),
    "bench": ("swiftnet_ros.commands.bench", "benchmark backends against the eager fp32 baseline"),
    "segment": ("swiftnet_ros.commands.segment", "segment image files, folders and videos"),
    "make-bag": ("swiftnet_ros.commands.make_bag", "write a rosbag2 of synthetic road scenes"),
    "play-bag": ("swiftnet_ros.commands.play_bag", "publish a rosbag2 through rclpy with its header stamps"),
    "demo": ("swiftnet_ros.commands.demo", "run the node on the bundled checkpoint and a synthetic bag"),
}


def _split_command(argv: List[str]) -> Tuple[Optional[str], List[str]]:
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return arg, argv[:i] + argv[i + 1:]
    return None, argv


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name, rest = _split_command(argv)
    if name is None or name not in COMMANDS:
        parser = argparse.ArgumentParser(prog="swiftnet-ros", description=__doc__.splitlines()[0])
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for cmd, (_, help_text) in COMMANDS.items():
            sub.add_parser(cmd, help=help_text)
        if name is not None:
            parser.error("unknown command {!r}; expected one of: {}".format(name, ", ".join(COMMANDS)))
        parser.print_help()
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog="swiftnet-ros " + name, description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        return report_error(name, exc)


if __name__ == "__main__":
    sys.exit(main())
