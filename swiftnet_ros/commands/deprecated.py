"""Flags whose old form still works, with one deprecation line on stderr.

``train`` and ``evaluate`` took ``--size HEIGHT WIDTH`` and ``evaluate`` a space-separated
``--scales``; every command now writes sizes as ``WIDTHxHEIGHT`` and scales comma-separated, as
``segment``, ``export`` and ``bench`` do. Help and usage show only the new form.
"""

import argparse
import sys
from typing import Any, List, Optional, Sequence

from swiftnet_ros.sizes import parse_size


class _NewOrOldForm(argparse.Action):
    """One value in the new form, or several tokens in the old one (nargs "+", shown as one value)."""

    METAVAR = "VALUE"

    def __init__(self, option_strings: List[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("metavar", self.METAVAR)
        super().__init__(option_strings, dest, nargs="+", **kwargs)


class HelpFormatter(argparse.HelpFormatter):
    """Shows a flag that still takes its old several-token form as its one documented value."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action, _NewOrOldForm):
            return str(action.metavar)
        return super()._format_args(action, default_metavar)


def warn(parser: argparse.ArgumentParser, message: str) -> None:
    print("{}: warning: {}".format(parser.prog, message), file=sys.stderr)


class SizeAction(_NewOrOldForm):
    """``--size WIDTHxHEIGHT`` stored as [height, width]; the old ``--size HEIGHT WIDTH`` too."""

    METAVAR = "WIDTHxHEIGHT"

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        tokens = list(values)
        if len(tokens) == 2 and all(t.strip().isdigit() and int(t) > 0 for t in tokens):
            height, width = int(tokens[0]), int(tokens[1])
            warn(parser, "{0} HEIGHT WIDTH is deprecated; write {0} {1}x{2} (WIDTHxHEIGHT)".format(
                option_string, width, height))
        elif len(tokens) == 1:
            try:
                height, width = parse_size(tokens[0])
            except ValueError as exc:
                parser.error("argument {}: {}".format(option_string, exc))
        else:
            parser.error("argument {}: bad size {!r}: expected WIDTHxHEIGHT such as 512x256".format(
                option_string, " ".join(tokens)))
        setattr(namespace, self.dest, [height, width])


class ScalesAction(_NewOrOldForm):
    """``--scales 0.5,1,1.5`` stored as a tuple of floats; the old ``--scales 0.5 1 1.5`` too."""

    METAVAR = "S1,S2,..."

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: Optional[str] = None) -> None:
        tokens = list(values)
        if len(tokens) > 1:
            warn(parser, "space-separated {0} is deprecated; write {0} {1}".format(
                option_string, ",".join(tokens)))
        setattr(namespace, self.dest, parse_scales(",".join(tokens), parser, option_string))


def parse_scales(text: str, parser: argparse.ArgumentParser, flag: Optional[str]) -> Sequence[float]:
    try:
        scales = tuple(float(s) for s in text.split(","))
    except ValueError:
        scales = ()
    if not scales or min(scales) <= 0:
        parser.error("argument {}: bad scales {!r}: expected comma-separated positive numbers such as "
                     "0.5,0.75,1,1.25,1.5".format(flag, text))
    return scales
