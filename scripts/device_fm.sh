#!/usr/bin/env bash
# Flow-matching job for one GPU machine (everything it reports is written under $OUT):
# GPU sampling benchmarks, then the FM designs trained side by side within a budget (scripts/train_designs.py).
# Usage: OUT=/tmp/out bash scripts/device_fm.sh [TRAIN_BUDGET_S] [BENCH_BUDGET_S]
set -uo pipefail
PY=${PY:-python3}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
TRAIN_BUDGET=${1:-200}
BENCH_BUDGET=${2:-50}
T0=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee $OUT/gpu.txt
$PY -c "import torch, numpy, h5py, safetensors; print('torch', torch.__version__, 'numpy', numpy.__version__)" | tee -a $OUT/gpu.txt
RUNS=${RUNS:-zn:film zn:film-small zn:token zp:film zp:film-wide zp:deq}
BENCH_ARGS=${BENCH_ARGS:---batches 256 4096 65536 --designs film film-small film-wide token}
timeout $((BENCH_BUDGET + 40)) $PY benchmarks/bench_gpu.py --budget-s $BENCH_BUDGET $BENCH_ARGS \
    --models weights/fm-zn weights/fm-zp --json $OUT/bench_gpu.json > $OUT/bench_gpu.md 2>&1
echo "bench done at $((SECONDS - T0)) s"
$PY scripts/train_designs.py --runs $RUNS \
    --data-dir data --out runs/designs --budget-s $TRAIN_BUDGET --set batch_size=512 2>&1 | tee $OUT/train.log
echo "training done at $((SECONDS - T0)) s"
tar czf $OUT/runs.tgz runs/designs/*/best runs/designs/*/last/weights.safetensors runs/designs/*/last/config.json \
    runs/designs/*.log runs/designs/summary.json 2>&1
echo "all done at $((SECONDS - T0)) s"
