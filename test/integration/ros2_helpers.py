"""Helpers for the tests that run the ROS 2 user's own tools: ``ros2 launch/topic/param``, ``launch_test``.

They need the tools (``make setup`` installs them from ../shared/ros2-tools/wheels; a ROS 2 install has
them) and the package as a ROS 2 install tree, which ``scripts/install_tree.py`` (``make install-tree``)
builds once per test run. Its printed export lines are the environment of every process started here,
on top of this test process's own DDS domain and localhost discovery (test/conftest.py).
"""

import atexit
import importlib.util
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = "swiftnet_ros"
# The tree of this test run, for later callers in this process and for the processes it starts
TREE_VARIABLE = "SWIFTNET_ROS_INSTALL_TREE"
TOOL_MODULES = ("launch", "launch_ros", "launch_testing", "ros2cli", "ros2topic", "ros2param")


def tools_missing() -> Optional[str]:
    """Why the ROS 2 tools cannot run here, or None."""
    missing = [name for name in TOOL_MODULES if importlib.util.find_spec(name) is None]
    if missing or shutil.which("ros2", path=bin_path()) is None:
        return ("the ROS 2 tools are not installed ({}): make setup installs them from "
                "../shared/ros2-tools/wheels, or source a ROS 2 install".format(", ".join(missing) or "ros2"))
    return None


def bin_path() -> str:
    """PATH with this Python's bin folder first (the venv's ``ros2``, ``launch_test``)."""
    return os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def parse_exports(text: str) -> Dict[str, str]:
    """The ``export NAME=value`` lines that scripts/install_tree.py prints."""
    exports = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            exports[name] = value
    return exports


class InstallTree:
    """A built install tree: its prefix and the environment (ours plus its exports) that finds it."""

    def __init__(self, prefix: str, exports: Dict[str, str]) -> None:
        self.prefix = prefix
        self.exports = exports
        self.share = os.path.join(prefix, "share", PACKAGE)
        self.launch_file = os.path.join(self.share, "launch", "segment.launch.py")

    def env(self) -> Dict[str, str]:
        return dict(os.environ, **self.exports)


def build_install_tree(prefix: str) -> InstallTree:
    """``scripts/install_tree.py PREFIX`` as ``make install-tree`` runs it; fails with its error."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "install_tree.py"), prefix,
                           "--work", prefix + "-work"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("scripts/install_tree.py failed ({}):\n{}".format(done.returncode, done.stderr))
    return InstallTree(prefix, parse_exports(done.stdout))


def shared_install_tree() -> InstallTree:
    """This test run's install tree: built on first use, found again through TREE_VARIABLE, removed
    when the process that built it exits. Raises RuntimeError if cmake is missing or fails."""
    prefix = os.environ.get(TREE_VARIABLE)
    if prefix and os.path.isfile(os.path.join(prefix, "setup.sh")):
        with open(os.path.join(prefix, "setup.sh")) as f:
            return InstallTree(prefix, parse_exports(f.read()))
    if shutil.which("cmake") is None:
        raise RuntimeError("cmake is not installed: the install tree cannot be built")
    base = tempfile.mkdtemp(prefix="swiftnet_install_tree_")
    atexit.register(shutil.rmtree, base, True)
    tree = build_install_tree(os.path.join(base, "install"))
    os.environ[TREE_VARIABLE] = tree.prefix
    return tree


def ros2(args: List[str], env: Dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """A ``ros2`` command that ends by itself; stdout and stderr together."""
    return subprocess.run(["ros2"] + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Background:
    """A long-running command (``ros2 launch``, ``ros2 topic hz``) as its own process group, as a
    terminal starts it: a non-interactive shell would start it with SIGINT ignored. Output goes to a
    log file, read with ``output()``."""

    def __init__(self, command: List[str], env: Dict[str, str], cwd: Optional[str] = None) -> None:
        self.command = command
        self._log = tempfile.NamedTemporaryFile(prefix="ros2_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        with open(self._log.name, errors="replace") as f:
            return f.read()

    def wait_for(self, text: str, timeout: float) -> bool:
        """Until ``text`` is in the output (True), the process exits or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return text in self.output()
            time.sleep(0.05)
        return True

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to the whole process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def group_alive(self) -> bool:
        """Some process of the group is still running (the launch or a node it started)."""
        self.proc.poll()  # reaps the leader once it has exited
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop what is left of the group: SIGINT, then SIGTERM, SIGKILL last (a killed ROS process
        leaves Fast DDS state behind)."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.group_alive():
                break
            os.killpg(self.proc.pid, sig)
            deadline = time.monotonic() + wait
            while self.group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._log.close()
        if os.path.exists(self._log.name):
            os.unlink(self._log.name)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
