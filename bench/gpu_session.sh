#!/bin/bash
# The whole GPU lease in one command (issues 6 and 16), from the repository root:
#   OUT=/folder bash bench/gpu_session.sh          the GPU machine: its python3 (PyTorch, CUDA) and the ROS 2
#                                                  wheels and messages carried in .whl/ (scripts/gpu_wheels.sh)
#   OUT=/folder bash bench/gpu_session.sh --smoke  every stage here on the CPU in seconds: .venv, device cpu,
#                                                  fp32, tiny sizes (test/bench/test_gpu_session.py runs it)
#   bash bench/gpu_session.sh --check-carried PYTHON3.12
#                                                  only the first stage, for that interpreter (gpu_wheels.sh)
# Stages, in this order, each with its own time limit, each leaving its files in $OUT as soon as it ends
# (a stage cut short or failing does not stop the next); STAGES="env node" runs only those:
#   env    install .whl/ into $ROS_ENV for python3 and check it: imports, a message through Fast DDS (s)
#   train  RN-18 trained ~1 minute on synthetic road scenes (no datasets there), for label agreement on
#          trained weights: train_rn18.log, runs/gpu/rn18/best.pt
#   node   bench/gpu_node_bench.py: segmentation_node (cuda, fp16, CUDA defaults) fed by play-bag over real
#          DDS at 2048x1024 and 1024x512: gpu_node.json, gpu_node_logs.txt
#   bench  bench/gpu_bench.py --profile: the model table: gpu_bench.json
# A stage's time limit ends its whole process group (the node and players too: coreutils timeout signals
# the group), SIGKILL 10 s after SIGTERM. Everything printed also goes to $OUT/gpu_session.log (with nvidia-smi's view of the card). Five files in
# all: the `run` tool brings back at most 8.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
mode=gpu
case "${1:-}" in
  --smoke) mode=smoke; shift ;;
  --check-carried) mode=check; CHECK_PY=${2:?--check-carried needs a python3.12}; shift 2 ;;
esac
[ $mode = gpu ] && ROS_ENV=${ROS_ENV:-/tmp/swiftnet_ros_env} || ROS_ENV=${ROS_ENV:-$ROOT/build/gpu312/ros_env}
export PYTHONUNBUFFERED=1 FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA

# ------------------------------------------------------------------ env: the carried wheels and messages
use_carried() {  # PYTHON: install .whl/wheels (those it lacks) and .whl/msgs312 into $ROS_ENV; export the paths
  local py=$1 site lib missing
  if [ ! -d .whl/wheels ] || [ ! -d .whl/msgs312/msg-python ]; then
    echo "env: no .whl/wheels or .whl/msgs312: run scripts/gpu_wheels.sh and carry .whl"; return 2
  fi
  rm -rf "$ROS_ENV" && mkdir -p "$ROS_ENV"
  # the machine's own copy of a distribution (numpy, PyYAML, ...) stays: one version of each
  missing=$("$py" - .whl/wheels <<'PY'
import importlib.metadata as md, os, sys
for name in sorted(os.listdir(sys.argv[1])):
    try:
        md.version(name.split("-")[0])
    except md.PackageNotFoundError:
        print(os.path.join(sys.argv[1], name))
PY
) || return 1
  # (a prefix of our own: the interpreter's environment is not changed, whatever marks it externally managed)
  PIP_BREAK_SYSTEM_PACKAGES=1 "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --disable-pip-version-check --prefix "$ROS_ENV" $missing || return 1
  site=$(find "$ROS_ENV" -maxdepth 6 -type d -name rclpy -path '*-packages/rclpy' | head -n 1)
  lib=$(find "$ROS_ENV" -maxdepth 4 -name librcl.so | head -n 1)
  if [ -z "$site" ] || [ -z "$lib" ]; then echo "env: rclpy or librcl.so not found under $ROS_ENV"; return 1; fi
  site=${site%/rclpy} lib=${lib%/librcl.so}
  cp -r .whl/msgs312/lib/. "$lib/" && mkdir -p "$lib/../share" && cp -r .whl/msgs312/share/. "$lib/../share/"
  export PYTHONPATH=$ROOT:$site:$ROOT/.whl/msgs312/msg-python${PYTHONPATH:+:$PYTHONPATH}
  export LD_LIBRARY_PATH=$lib$(for d in "$site"/ros_*.libs; do [ -d "$d" ] && printf ':%s' "$d"; done)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export AMENT_PREFIX_PATH=$(cd "$lib/.." && pwd)
  ros_check "$py"
}

ros_check() {  # PYTHON: the imports the node and the player need, and one message each way through Fast DDS
  "$1" - <<'PY'
import sys, time
import numpy as np, rclpy, rosbags.rosbag2, tqdm, yaml
from swiftnet_ros.tools import processes
processes.isolate()  # a free DDS domain, discovery on this host only (no network there), LARGE_DATA
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from swiftnet_ros.msg import SegmentationInfo
rclpy.init()
node = rclpy.create_node("carried_check")
got = {}
for cls, topic in ((Image, "check/image"), (SegmentationInfo, "check/info")):
    node.create_subscription(cls, topic, lambda m, t=topic: got.setdefault(t, m), 10)
image = Image(height=1024, width=2048, encoding="rgb8", step=3 * 2048)
image.data = np.full(1024 * 2048 * 3, 7, np.uint8).tobytes()
pubs = [(node.create_publisher(Image, "check/image", 10), image),
        (node.create_publisher(SegmentationInfo, "check/info", 10), SegmentationInfo(model="check"))]
deadline = time.monotonic() + 20
while len(got) < 2 and time.monotonic() < deadline:
    for pub, msg in pubs:
        pub.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.1)
ok = len(got) == 2 and bytes(got["check/image"].data[:3]) == b"\x07\x07\x07" and got["check/info"].model == "check"
print("env: python {}, rclpy from {}, {}".format(sys.version.split()[0], rclpy.__file__,
      "a 2048x1024 rgb8 Image and a SegmentationInfo went through Fast DDS" if ok else "messages NOT received"))
rclpy.shutdown()
sys.exit(0 if ok else 1)
PY
}

if [ $mode = check ]; then
  use_carried "$CHECK_PY"; exit $?
fi

OUT=${OUT:?set OUT to the folder for the results}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_session.log") 2>&1
if [ $mode = smoke ]; then
  PY=${PY:-$ROOT/.venv/bin/python}
  STAGES=${STAGES:-env train node bench}
  RUNS=runs/gpu_smoke
  TRAIN_S=${TRAIN_S:-60} NODE_S=${NODE_S:-150} BENCH_S=${BENCH_S:-120}
else
  PY=${PY:-python3}
  STAGES=${STAGES:-env train node bench}
  RUNS=runs/gpu
  TRAIN_S=${TRAIN_S:-60} NODE_S=${NODE_S:-230} BENCH_S=${BENCH_S:-170}  # 8 minutes in all, with the env stage
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv
  echo "cores $(nproc); $(df -h /dev/shm | tail -n 1)"  # Fast DDS's shared-memory transport lives there
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
start=$(date +%s)
stage_end() { echo "== $1: exit $2 after $(( $(date +%s) - start )) s"; }
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', \
torch.cuda.is_available(), 'cudnn', torch.backends.cudnn.version())"

if has env; then
  if [ $mode = gpu ]; then
    use_carried "$PY"; code=$?  # seconds: local wheels, and the check gives up after 20 s
    [ $code = 0 ] || echo "env: the ROS 2 environment failed: the node stage will fail too"
  elif [ -x build/gpu312/bare/bin/python ] && [ -d .whl/wheels ]; then
    # here: the carried set with a bare CPython 3.12 (numpy only) in a subshell; the stages use .venv
    (use_carried build/gpu312/bare/bin/python); code=$?
  else
    echo "env: skipped (no .whl or build/gpu312/bare: scripts/gpu_wheels.sh makes them)"; code=0
  fi
  stage_end env $code
fi

if has train; then
  if [ $mode = smoke ]; then
    train_args="--size 64 128 --train-num 4 --val-num 2 --epochs 1 --batch-size 2 --workers 0 --device cpu"
  else
    train_args="--size 256 512 --train-num 400 --val-num 8 --epochs 25 --batch-size 16 --workers 8 \
      --device cuda --amp"
  fi
  rm -rf "$RUNS/rn18"
  timeout -k 10 $TRAIN_S "$PY" -m swiftnet_ros.commands.main train --model rn18 --dataset synthetic $train_args \
      --val-seed 1000000 --eval-every 1 --lr 1e-3 --encoder-lr 1e-3 --loss boundary --crop-size 0 \
      --scale-min 1 --scale-max 1 --no-save-fp16 --out-dir "$RUNS/rn18" --no-progress \
      > "$OUT/train_rn18.log" 2>&1
  code=$?  # 124: stopped by its time limit, as planned; best.pt is the best epoch so far
  tail -n 3 "$OUT/train_rn18.log"
  stage_end train $code
fi
weights=$RUNS/rn18/best.pt
[ -f "$weights" ] || { echo "no trained $weights: seeded random RN-18 weights instead"; weights=rn18; }

if has node; then
  if [ $mode = smoke ]; then node_args="--smoke"; else node_args=""; fi
  timeout -k 10 $NODE_S "$PY" bench/gpu_node_bench.py --out "$OUT" --weights "$weights" \
      --budget-s $(( NODE_S - 25 )) $node_args
  stage_end node $?
fi

if has bench; then
  if [ $mode = smoke ]; then bench_args="--smoke --models rn18"; else bench_args="--profile"; fi
  timeout -k 10 $BENCH_S "$PY" bench/gpu_bench.py --out "$OUT" --weights-dir "$RUNS" \
      --budget-s $(( BENCH_S - 50 )) $bench_args "$@"
  stage_end bench $?
fi
ls -l "$OUT"
if [ -f "$OUT/gpu_node.json" ]; then  # the node's table once more, last: the reply carries only the end
  "$PY" -c "import json, sys; sys.path.insert(0, 'bench'); import gpu_node_bench as b; \
print(b.table(json.load(open(sys.argv[1]))))" "$OUT/gpu_node.json"
fi
echo "gpu_session: done after $(( $(date +%s) - start )) s"
