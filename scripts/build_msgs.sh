#!/usr/bin/env bash
# Build msg/ with CMake against the ROS 2 wheels in .venv and install only the generated messages
# into .venv itself: libraries in .venv/lib (the ROS wheels put that on LD_LIBRARY_PATH), the
# ament index in .venv/share, Python in .venv/msg-python, joined to the editable sources.
#   bash scripts/build_msgs.sh [VENV [PREFIX]]   another environment (e.g. CPython 3.12 for the GPU machine,
#                                                 scripts/gpu_wheels.sh) and install prefix (default: VENV)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$(cd "${1:-$root/.venv}" && pwd)
prefix=$(mkdir -p "${2:-$venv}" && cd "${2:-$venv}" && pwd)
py="$venv/bin/python"
build="$venv/msg-build"
pymsg="$prefix/msg-python"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

export AMENT_PREFIX_PATH="$venv"      # else: "No 'rosidl_typesupport_c' found"
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
src="$venv/msg-src"
# Configure a copy of the package: the venv (NumPy headers) lives inside the repository, and CMake
# refuses exported include directories inside the source tree.
rm -rf "$build" "$pymsg" "$src"
mkdir -p "$src"
cp -r "$root/package.xml" "$root/CMakeLists.txt" "$root/msg" "$src/"
cmake -S "$src" -B "$build" -Wno-dev \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DPYTHON_INSTALL_DIR=msg-python \
  -DPython3_EXECUTABLE="$py" \
  -DSWIFTNET_MESSAGES_ONLY=ON \
  -DBUILD_TESTING=OFF > "$venv/msg-build.log"
cmake --build "$build" -j 2 >> "$venv/msg-build.log"
cmake --install "$build" >> "$venv/msg-build.log"
# ament_python_install_package left an egg-info there: pip would take it for an installed
# `swiftnet_ros` and delete the generated files when installing the editable sources.
rm -rf "$pymsg/"swiftnet_ros-*.egg-info
# The generated half (swiftnet_ros/msg, type support modules) is found through this path entry;
# swiftnet_ros/__init__.py extends its __path__ over it, as one package in a ROS 2 install.
echo "$pymsg" > "$site/swiftnet_ros_msgs.pth"
echo "messages built into $prefix"
