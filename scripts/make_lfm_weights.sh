#!/usr/bin/env bash
# Produce the shipped latent-FM weights (conditional VAE, then a flow on its 64-number latents) and their
# test-split scores. SYNTHETIC stand-in data (data/standin_{zn,zp}.h5, made by scripts/make_weights.sh).
# ZN and ZP train side by side, one thread each: about 60 min on 2 CPU cores (VAE 5 epochs ~30–45 min,
# flow 50 epochs ~10–15 min; see docs/models.md, "Latent flow matching").
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
DATA=${DATA:-data}
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736   # glibc: no page-fault storms at large batches
mkdir -p runs weights
train_detector() {
    local d=$1
    $FZ train vae --config configs/cvae-$d.toml --data $DATA/standin_$d.h5 --out runs/cvae-$d --set threads=1
    $FZ train latent-fm --config configs/lfm-cvae-$d.toml --data $DATA/standin_$d.h5 --out runs/lfm-cvae-$d \
        --set threads=1 --set model.vae=runs/cvae-$d/best
}
for d in zn zp; do
    train_detector $d > runs/train-lfm-$d.log 2>&1 &
done
wait
for d in zn zp; do
    rm -rf weights/lfm-$d && cp -r runs/lfm-cvae-$d/best weights/lfm-$d
    $FZ evaluate --data $DATA/split_$d/test.h5 --model weights/lfm-$d --max-rows 5000 --json > weights/lfm-$d.eval.json
done
