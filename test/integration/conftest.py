"""Multi-process tests: every test in this folder starts other OS processes (marked ``processes``)."""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/integration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.processes)
