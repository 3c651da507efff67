"""The ``swiftnet-ros`` command: one sub-command per task, each implemented in its own module.

Every command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their command runs (``--help`` of one command imports only that module).
"""

import argparse
import importlib
import sys
from typing import List, Optional, Tuple

# name -> (module, one-line help)
COMMANDS = {
    "profile": ("swiftnet_ros.commands.profile", "count parameters and multiply-accumulates of a model"),
    "train": ("swiftnet_ros.commands.train", "train SwiftNet (Cityscapes, CamVid, folder, synthetic)"),
    "evaluate": ("swiftnet_ros.commands.evaluate", "evaluate weights: mIoU, per-class IoU, pixel accuracy"),
    "export": ("swiftnet_ros.commands.export", "export weights to ONNX"),
    "build-engine": ("swiftnet_ros.commands.build_engine", "build a TensorRT engine from an ONNX file"),
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
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
