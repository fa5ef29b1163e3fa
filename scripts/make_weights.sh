#!/usr/bin/env bash
# Produce the shipped flow-matching weights and their test-split scores (synthetic stand-in data).
# About 2 x 65 min on 2 CPU cores (ZN and ZP train side by side, one thread each).
# The shipped ZN weights came from this CPU recipe; the shipped ZP weights (FiLM 8-32-64) from the same
# config trained on an H200 with --set batch_size=512 --set epochs=20 (scripts/device_fm.sh,
# RUNS="zn:film zp:film zp:film-wide"), which this CPU recipe approximates with 6 epochs.
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=.venv/bin/fastzdc
mkdir -p data runs weights
$FZ simulate --detector both -n 200000 --seed 1 --out data/standin.h5          # SYNTHETIC stand-in
for d in zn zp; do
    $FZ train fm --config configs/fm-$d.toml --data data/standin_$d.h5 --out runs/fm-$d --set threads=1 \
        > runs/train-$d.log 2>&1 &
done
wait
for d in zn zp; do
    rm -rf weights/fm-$d && cp -r runs/fm-$d/best weights/fm-$d
    $FZ split data/standin_$d.h5 --out-dir data/split_$d                          # the held-out test split
    $FZ evaluate --data data/split_$d/test.h5 --model weights/fm-$d --max-rows 10000 --json > weights/fm-$d.eval.json
done
