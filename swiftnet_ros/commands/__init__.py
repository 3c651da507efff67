"""Command-line entry points: ``swiftnet-ros`` and its sub-commands (``main``), the node executables.

Each module is a thin argparse layer over a library function of the package; ``python -m
swiftnet_ros.commands.main ...`` is ``swiftnet-ros ...``.
"""
