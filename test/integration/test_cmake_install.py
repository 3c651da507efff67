"""The package as a ROS 2 install builds it: CMake installs sources + messages, launch, config, node.

Built here against the PyPI ROS 2 wheels in the venv, from a copy of the package outside the
repository (the venv's NumPy headers may not sit inside CMake's source tree).
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.dirname(os.path.dirname(sys.executable))


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    base = tmp_path_factory.mktemp("cmake")
    src, build, prefix = base / "src", base / "build", base / "install"
    src.mkdir()
    package = ("CMakeLists.txt", "package.xml", "msg", "swiftnet_ros", "launch", "config", "demo", "scripts")
    for name in package:
        path = os.path.join(ROOT, name)
        copy = shutil.copytree if os.path.isdir(path) else shutil.copy
        copy(path, str(src / name))
    env = dict(os.environ, AMENT_PREFIX_PATH=VENV,
               PATH=os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"])
    for command in (["cmake", "-S", str(src), "-B", str(build), "-Wno-dev", "-DBUILD_TESTING=OFF",
                     "-DCMAKE_INSTALL_PREFIX=" + str(prefix), "-DPython3_EXECUTABLE=" + sys.executable],
                    ["cmake", "--build", str(build), "-j", "2"], ["cmake", "--install", str(build)]):
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert done.returncode == 0, done.stdout[-3000:]
    return prefix


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


def test_installed_package_imports_and_the_node_starts(install):
    site = install / "lib" / "python{}.{}".format(*sys.version_info[:2]) / "site-packages"
    # as after sourcing the install's setup file: its lib/ and prefix come first
    libs = [str(install / "lib")] + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=str(site), LD_LIBRARY_PATH=os.pathsep.join(libs),
               AMENT_PREFIX_PATH=str(install) + os.pathsep + VENV)
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
