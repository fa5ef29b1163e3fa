#!/usr/bin/env bash
# Produce the VQ-GAN weights, their test-split scores and the sampling/speed benchmark.
# SYNTHETIC stand-in data (data/standin_{zn,zp}.h5 and data/split_*, made by scripts/make_weights.sh).
# Per detector, one thread each, ZN and ZP side by side (docs/models.md, "VQ-GAN"):
#   1. the VQ autoencoder (3 epochs, ~25 min per detector on a shared core);
#   2. the transformer prior on its tokens (6 epochs, ~80 min);
#   3. the decoder retrained with token noise, encoder and codebook frozen (1 epoch, ~5 min);
#   4. the prior takes the new decoder: the tokens are unchanged, so a 10-step fine-tune from the
#      step-2 prior (--init, learning rate 1e-6) only swaps the decoder in and re-validates.
# About 2 h on 2 free cores. FZ/PY may point elsewhere, e.g. FZ="env PYTHONPATH=$PWD/src python -m fastzdc.cli".
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data}
TRAIN_ARGS=${TRAIN_ARGS:-}   # extra train options, e.g. for a smoke test: "--epochs 1 --set max_train_rows=512"
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736   # glibc: no page-fault storms at large batches
mkdir -p runs weights
train_detector() {
    local d=$1
    $FZ train vq --config configs/vq-$d.toml --data $DATA/standin_$d.h5 --out runs/vq-$d --set threads=1 $TRAIN_ARGS
    $FZ train vq-prior --config configs/vq-prior-$d.toml --data $DATA/standin_$d.h5 --out runs/vq-prior-$d \
        --set threads=1 --set model.vq=runs/vq-$d/best $TRAIN_ARGS
    $FZ train vq --config configs/vq-dec-$d.toml --data $DATA/standin_$d.h5 --out runs/vq-dec-$d \
        --set threads=1 --set model.tune_decoder=runs/vq-$d/best $TRAIN_ARGS
    $FZ train vq-prior --config configs/vq-prior-$d.toml --data $DATA/standin_$d.h5 --out runs/vq-final-$d \
        --set threads=1 --set model.vq=runs/vq-dec-$d/best --init runs/vq-prior-$d/best \
        --epochs 1 --lr 1e-6 --set max_train_rows=2560
}
for d in zn zp; do
    train_detector $d > runs/train-vq-$d.log 2>&1 &
done
wait
for d in zn zp; do
    rm -rf weights/vq-$d && cp -r runs/vq-final-$d/best weights/vq-$d     # self-contained: GPT + VQ decoder
    $FZ evaluate --data $DATA/split_$d/test.h5 --model weights/vq-$d --max-rows 5000 --json > weights/vq-$d.eval.json
done
for d in zn zp; do   # temperature / top-k sweep on the validation split, speed, VQ reconstruction W
    $PY benchmarks/bench_vq.py --prior weights/vq-$d --vq runs/vq-dec-$d/best --data $DATA/split_$d/val.h5 --append \
        > runs/bench-vq-$d.log 2>&1
done
