#!/bin/bash
# The whole GPU lease in one command (issue 6), run from the repository root on the GPU machine:
#   1. RN-18 weights trained for about a minute on synthetic road scenes (no datasets or downloads
#      there), so that fp16 label agreement is measured on a trained model as well as on the demo
#      MobileNet V2 checkpoint;
#   2. bench/gpu_bench.py: every configuration, correctness and timing, JSON and a table.
# Writes into $OUT: gpu_bench.json, gpu_session.log (everything printed), train_rn18.log, nvidia_smi.txt.
#     OUT=/some/folder bash bench/gpu_session.sh
set -u
OUT=${OUT:?set OUT to the folder for the results}
TRAIN_S=${TRAIN_S:-75}
BENCH_BUDGET_S=${BENCH_BUDGET_S:-300}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT" runs/gpu
exec > >(tee "$OUT/gpu_session.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit \
    --format=csv | tee "$OUT/nvidia_smi.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'cudnn', torch.backends.cudnn.version(), 'triton', triton.__version__)"
start=$(date +%s)
timeout "$TRAIN_S" python3 -m swiftnet_ros.commands.main train --model rn18 --dataset synthetic --size 256 512 \
    --train-num 400 --val-seed 1000000 --val-num 8 --epochs 25 --batch-size 16 --eval-every 1 \
    --workers 8 --device cuda --amp --lr 1e-3 --encoder-lr 1e-3 --loss boundary --crop-size 0 \
    --scale-min 1 --scale-max 1 --no-save-fp16 --out-dir runs/gpu/rn18 --no-progress \
    > "$OUT/train_rn18.log" 2>&1
echo "training: exit $? after $(( $(date +%s) - start )) s"; tail -n 4 "$OUT/train_rn18.log"
python3 bench/gpu_bench.py --out "$OUT" --profile --weights-dir runs/gpu --budget-s "$BENCH_BUDGET_S" "$@"
echo "gpu_bench: exit $? after $(( $(date +%s) - start )) s"
