"""Reliability suite: each test records its figures, printed together at the end of the run."""

import os
import sys
from typing import Dict, List, Tuple

import pytest

# the node tests here share test/node_helpers.py
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

_FIGURES: List[Tuple[str, Dict[str, object]]] = []


@pytest.fixture
def figures(request):
    """A dict the test fills with what it tried and survived; printed in the terminal summary."""
    values: Dict[str, object] = {}
    _FIGURES.append((request.node.name, values))
    return values


def pytest_terminal_summary(terminalreporter):
    shown = [(name, values) for name, values in _FIGURES if values]
    if not shown:
        return
    terminalreporter.section("reliability figures")
    for name, values in shown:
        text = ", ".join("{}: {}".format(key, value) for key, value in values.items())
        terminalreporter.write_line("{}: {}".format(name, text))
