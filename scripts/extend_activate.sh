#!/usr/bin/env bash
# Append the project's environment to .venv/bin/activate (once): after `source .venv/bin/activate`
# the ROS 2 message packages in the venv are found like in a sourced ROS 2 install.
set -euo pipefail
venv=$(cd "${1:-.venv}" && pwd)
activate="$venv/bin/activate"
marker="# >>> swiftnet_ros >>>"
grep -qF "$marker" "$activate" && exit 0
cat >> "$activate" <<'ACT'
# >>> swiftnet_ros >>>
# ROS 2 packages installed from PyPI wheels (and our generated messages) live in the venv.
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export LD_LIBRARY_PATH="$VIRTUAL_ENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# <<< swiftnet_ros <<<
ACT
echo "extended $activate"
