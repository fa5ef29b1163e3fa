#!/usr/bin/env bash
# Produce the shipped few-step FM students (trajectory distillation of weights/fm-{zn,zp}) and their
# test-split scores. SYNTHETIC stand-in data (data/standin_{zn,zp}.h5 and data/split_*, made by
# scripts/make_weights.sh). ZN and ZP train side by side, one thread each: about 55 min on 2 CPU cores
# (teacher samples of 20000 rows ~10 min, 4 epochs ~45 min; see docs/models.md, "Few-step students").
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
DATA=${DATA:-data}
TRAIN_ARGS=${TRAIN_ARGS:-}   # extra train options, e.g. for a smoke test: "--epochs 1 --set max_train_rows=512"
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736   # glibc: no page-fault storms at large batches
mkdir -p runs weights
for d in zn zp; do
    $FZ train fm-distill --config configs/fm-distill-$d.toml --data $DATA/standin_$d.h5 --out runs/fmd-$d \
        --set threads=1 $TRAIN_ARGS > runs/train-fmd-$d.log 2>&1 &
done
wait
for d in zn zp; do
    rm -rf weights/fmd-$d && cp -r runs/fmd-$d/best weights/fmd-$d
    $FZ evaluate --data $DATA/split_$d/test.h5 --model weights/fmd-$d --max-rows 5000 --json > weights/fmd-$d.eval.json
done
