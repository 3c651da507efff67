"""How the ROS 2 tools get here: ``make setup`` installs them from ../shared/ros2-tools/wheels or says in
one line that it skipped them; tests that need them skip with the reason; package.xml declares them."""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import ros2_helpers

ROOT = ros2_helpers.ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_setup_without_the_tools_folder_says_so_in_one_line():
    stamp = os.path.join(ROOT, ".venv", ".stamp-ros2-tools")
    before = os.path.getmtime(stamp) if os.path.exists(stamp) else None
    # -W: as if the venv had just been made, so the tools' step runs (and finds no folder)
    done = subprocess.run(["make", "-s", "-W", ".venv/.stamp-python", ".venv/.stamp-ros2-tools",
                           "ROS2_TOOLS_WHEELS=/no/such/wheels"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ROS 2 tools skipped: no /no/such/wheels (ros2 launch/topic/param and launch_testing tests skip)"]
    assert (os.path.getmtime(stamp) if os.path.exists(stamp) else None) == before


def test_a_missing_tool_is_a_skip_reason_that_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(ros2_helpers, "TOOL_MODULES", ros2_helpers.TOOL_MODULES + ("no_such_ros2_tool",))
    reason = ros2_helpers.tools_missing()
    assert reason == ("the ROS 2 tools are not installed (no_such_ros2_tool): make setup installs them from "
                      "../shared/ros2-tools/wheels, or source a ROS 2 install")


def test_package_xml_declares_the_tools_users_and_tests_run():
    root = ET.parse(os.path.join(ROOT, "package.xml")).getroot()
    exec_depends = {e.text for e in root.iter("exec_depend")}
    test_depends = {e.text for e in root.iter("test_depend")}
    assert {"launch", "launch_ros", "ros2launch"} <= exec_depends
    assert {"launch_testing", "launch_testing_ros", "ros2topic", "ros2param"} <= test_depends
