#!/usr/bin/env bash
# Produce the shipped flow-matching weights and their test-split scores (synthetic stand-in data).
# About 2 x 65 min on 2 CPU cores (ZN and ZP train side by side, one thread each).
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
