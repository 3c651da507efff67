#!/usr/bin/env python3
"""Install the package as a ROS 2 install tree, as colcon does, and print the environment that finds it.

    make install-tree                 # = .venv/bin/python scripts/install_tree.py install
    source install/setup.sh           # the lines it printed, also written there
    ros2 launch swiftnet_ros segment.launch.py weights:=demo/swiftnet_demo.pt

``ros2 launch PACKAGE FILE`` and ``ros2 run`` find a package through the ament index on
AMENT_PREFIX_PATH and take its share/ folder from there. The editable set-up (``make setup``) has only
the generated messages in the venv, so CMake installs the whole package (sources, messages, launch,
config, demo checkpoint, node executable) into PREFIX. The environment comes from the hooks ament
wrote into share/swiftnet_ros/environment/*.dsv, plus the venv that holds the pip-installed ROS 2
core and tools. The tests build one such tree per run with this script (test/integration/ros2_helpers.py).

Exit codes: 0 built, 1 CMake failed (the last lines of its log are printed), 2 bad arguments.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, Mapping, Optional

PACKAGE = "swiftnet_ros"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What CMakeLists.txt installs from (a copy: CMake refuses the venv's NumPy headers inside its source tree)
SOURCES = ("CMakeLists.txt", "package.xml", "msg", PACKAGE, "launch", "config", "demo", "scripts")
VARIABLES = ("AMENT_PREFIX_PATH", "PATH", "PYTHONPATH", "LD_LIBRARY_PATH")


def venv() -> Optional[str]:
    """The virtual environment this Python runs in (it holds the ROS 2 wheels), or None."""
    return sys.prefix if sys.prefix != sys.base_prefix else None


def _prepend(entries: List[str], current: str) -> str:
    """``entries`` before ``current`` (a path list), each once."""
    joined = []  # type: List[str]
    for entry in entries + current.split(os.pathsep):
        if entry and entry not in joined:
            joined.append(entry)
    return os.pathsep.join(joined)


def build_env(base: Mapping[str, str]) -> Dict[str, str]:
    """``base`` with the venv's ROS 2 core on AMENT_PREFIX_PATH and PATH, which CMake's find_package needs."""
    env = dict(base)
    if venv():
        env["AMENT_PREFIX_PATH"] = _prepend([venv()], env.get("AMENT_PREFIX_PATH", ""))
        env["PATH"] = _prepend([os.path.join(venv(), "bin")], env.get("PATH", ""))
    return env


def build(prefix: str, work: str, log_path: str) -> None:
    """Copy the sources to ``work``/src, configure, build and install into ``prefix`` (replaced)."""
    src, build_dir = os.path.join(work, "src"), os.path.join(work, "build")
    shutil.rmtree(src, ignore_errors=True)
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):  # copy2 keeps the times, so a second build only redoes what changed
            shutil.copytree(path, os.path.join(src, name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            os.makedirs(src, exist_ok=True)
            shutil.copy2(path, os.path.join(src, name))
    shutil.rmtree(prefix, ignore_errors=True)  # no files left over from an earlier install
    env = build_env(os.environ)
    commands = (["cmake", "-S", src, "-B", build_dir, "-Wno-dev", "-DBUILD_TESTING=OFF",
                 "-DCMAKE_INSTALL_PREFIX=" + prefix, "-DPython3_EXECUTABLE=" + sys.executable],
                ["cmake", "--build", build_dir, "-j", "2"], ["cmake", "--install", build_dir])
    with open(log_path, "w") as log:
        for command in commands:
            log.write("$ {}\n".format(" ".join(shlex.quote(c) for c in command)))
            log.flush()
            if subprocess.call(command, env=env, stdout=log, stderr=subprocess.STDOUT) != 0:
                raise RuntimeError("{} failed".format(" ".join(command[:2])))


def environment(prefix: str, base: Mapping[str, str]) -> Dict[str, str]:
    """The variables a sourced install tree sets: the hooks ament installed (``prepend-non-duplicate;NAME;
    relative path``), after them the venv's ROS 2 core (its Python finds the wheels' libraries itself)."""
    env = build_env(base)
    hooks = os.path.join(prefix, "share", PACKAGE, "environment")
    for name in sorted(os.listdir(hooks)):
        if not name.endswith(".dsv"):
            continue
        with open(os.path.join(hooks, name)) as f:
            for line in f:
                kind, _, rest = line.strip().partition(";")
                variable, _, relative = rest.partition(";")
                path = os.path.join(prefix, relative) if relative else prefix
                if kind == "prepend-non-duplicate-if-exists" and not os.path.exists(path):
                    continue
                if kind.startswith("prepend-non-duplicate"):
                    env[variable] = _prepend([path], env.get(variable, ""))
    return {name: env[name] for name in VARIABLES if env.get(name)}


def export_lines(variables: Mapping[str, str]) -> List[str]:
    return ["export {}={}".format(name, shlex.quote(value)) for name, value in variables.items()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", help="install prefix (replaced), e.g. install")
    parser.add_argument("--work", default=os.path.join(ROOT, "build", PACKAGE),
                        help="folder for the source copy and CMake's build (kept: later builds are faster)")
    args = parser.parse_args(argv)
    if shutil.which("cmake") is None:
        print("install_tree: cmake is not installed (apt-get install cmake)", file=sys.stderr)
        return 2
    prefix, work = os.path.abspath(args.prefix), os.path.abspath(args.work)
    if prefix == ROOT or ROOT.startswith(prefix + os.sep):
        print("install_tree: prefix {} would replace the sources: expected a new folder such as install"
              .format(args.prefix), file=sys.stderr)
        return 2
    os.makedirs(work, exist_ok=True)
    log_path = os.path.join(work, "install_tree.log")
    try:
        build(prefix, work, log_path)
    except (OSError, RuntimeError) as exc:
        with open(log_path, errors="replace") as f:
            tail = "".join(f.readlines()[-20:])
        print("install_tree: {} (log: {}):\n{}".format(exc, log_path, tail), file=sys.stderr)
        return 1
    lines = export_lines(environment(prefix, os.environ))
    with open(os.path.join(prefix, "setup.sh"), "w") as f:
        f.write("# generated by scripts/install_tree.py: the environment of this install tree\n")
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
