"""Checks of the commands' output paths, done before any work starts (a bad ``--json`` must not fail
after minutes of benchmarking); each raises ``UsageError`` naming the flag, the path and what was
expected."""

import os

from swiftnet_ros.commands.main import UsageError


def _check_creatable(path: str, flag: str) -> None:
    """The nearest existing folder above ``path`` is a writable folder, so ``path`` can be created."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError("{} {!r}: {!r} is a file, so the folder cannot be created".format(
            flag, path, parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError("{} {!r} cannot be created: {!r} is not writable".format(flag, path, parent))


def check_output_file(path: str, flag: str) -> None:
    """``path`` can be written as a file: not a folder, and its folder exists or can be created."""
    if os.path.isdir(path):
        raise UsageError("{} {!r} is a folder: expected a file name".format(flag, path))
    if not os.path.exists(path):
        _check_creatable(path, flag)
    elif not os.access(path, os.W_OK):
        raise UsageError("{} {!r} is not writable".format(flag, path))


def check_output_folder(path: str, flag: str) -> None:
    """``path`` is a writable folder, or one that can be created."""
    if not os.path.exists(path):
        _check_creatable(path, flag)
    elif not os.path.isdir(path):
        raise UsageError("{} {!r} is a file: expected a folder (created if missing)".format(flag, path))
    elif not os.access(path, os.W_OK | os.X_OK):
        raise UsageError("{} folder {!r} is not writable".format(flag, path))


def resolve_weights(weights: str) -> str:
    """``demo`` -> the bundled checkpoint, found as the node finds it; any other value as given (the
    libraries name what is wrong with a missing or foreign file, and list the presets)."""
    from swiftnet_ros.ros.params import DEMO_WEIGHTS
    from swiftnet_ros.ros.params import resolve_weights as resolve_node_weights

    return resolve_node_weights(weights) if weights == DEMO_WEIGHTS else weights
