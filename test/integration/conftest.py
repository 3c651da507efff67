"""Multi-process tests: every test in this folder starts other OS processes (marked ``processes``)."""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/integration/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.processes)


@pytest.fixture(scope="session")
def install_tree():
    """The package as a ROS 2 install tree (scripts/install_tree.py, as `make install-tree`), one per
    test run, shared by every test that needs it (the launch_testing test finds the same one)."""
    from ros2_helpers import shared_install_tree

    try:
        return shared_install_tree()
    except RuntimeError as exc:
        if "cmake is not installed" in str(exc):
            pytest.skip(str(exc))
        raise


@pytest.fixture(scope="session")
def ros2_tools(request):
    """The install tree, where the ROS 2 tools (ros2 launch / topic / param) can run; else a skip."""
    from ros2_helpers import tools_missing

    reason = tools_missing()
    if reason:
        pytest.skip(reason)
    return request.getfixturevalue("install_tree")
