"""The package as a ROS 2 install builds it: CMake installs sources + messages, launch, config, node.

Built once per test run (the session fixture ``install_tree``: scripts/install_tree.py, as
``make install-tree``) against the PyPI ROS 2 wheels in the venv, from a copy of the package (the
venv's NumPy headers may not sit inside CMake's source tree).
"""

import os
import pathlib
import subprocess
import sys

import pytest
from ros2_helpers import parse_exports

VENV = os.path.dirname(os.path.dirname(sys.executable))


@pytest.fixture(scope="module")
def install(install_tree):
    return pathlib.Path(install_tree.prefix)


def test_install_tree_has_everything_ros2_run_and_launch_need(install):
    site = install / "lib" / "python{}.{}".format(*sys.version_info[:2]) / "site-packages" / "swiftnet_ros"
    share = install / "share" / "swiftnet_ros"
    for executable in ("segmentation_node", "segmentation_lifecycle_node"):
        assert (install / "lib" / "swiftnet_ros" / executable).is_file(), executable
        assert os.access(str(install / "lib" / "swiftnet_ros" / executable), os.X_OK), executable
    for path in (share / "launch" / "segment.launch.py", share / "config" / "segment.yaml",
                 share / "config" / "models" / "rn18.yaml", share / "demo" / "swiftnet_demo.pt",
                 share / "package.xml", site / "ros" / "node.py", site / "msg" / "__init__.py",
                 install / "share" / "ament_index" / "resource_index" / "packages" / "swiftnet_ros"):
        assert path.exists(), path


def test_printed_exports_find_the_tree_first_and_are_its_setup_file(install_tree):
    exports = install_tree.exports
    prefix = install_tree.prefix
    site = os.path.join(prefix, "lib", "python{}.{}".format(*sys.version_info[:2]), "site-packages")
    assert exports["AMENT_PREFIX_PATH"].split(os.pathsep)[:2] == [prefix, VENV]
    assert exports["PYTHONPATH"].split(os.pathsep)[0] == site
    assert exports["LD_LIBRARY_PATH"].split(os.pathsep)[0] == os.path.join(prefix, "lib")
    assert exports["PATH"].split(os.pathsep)[0] == os.path.join(VENV, "bin")
    with open(os.path.join(prefix, "setup.sh")) as f:
        assert parse_exports(f.read()) == exports


def test_installed_package_imports_and_the_node_starts(install_tree):
    install = pathlib.Path(install_tree.prefix)
    site = install / "lib" / "python{}.{}".format(*sys.version_info[:2]) / "site-packages"
    env = install_tree.env()  # as after `source install/setup.sh`
    probe = ("import swiftnet_ros, sys; from swiftnet_ros.msg import SegmentationInfo; "
             "from swiftnet_ros.infer import Segmenter; print(swiftnet_ros.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=str(install), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().startswith(str(site)), done.stdout
    node = subprocess.run([sys.executable, str(install / "lib" / "swiftnet_ros" / "segmentation_node"),
                           "--ros-args", "-p", "weights:=/no/such/weights.pt"], env=env, cwd=str(install),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert node.returncode != 0
    assert "weights file '/no/such/weights.pt' does not exist" in node.stdout
    assert "Traceback" not in node.stdout


def test_install_tree_script_refuses_a_prefix_over_the_sources():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, os.path.join(root, "scripts", "install_tree.py"), root],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    expected = "install_tree: prefix {} would replace the sources: expected a new folder such as install"
    assert done.stderr.strip().splitlines() == [expected.format(root)]
