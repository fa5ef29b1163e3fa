#!/usr/bin/env bash
# Produce the shipped response gate (weights/gate), its scores on fresh particles (weights/gate.eval.json)
# and its ONNX export for O2 (weights/onnx/gate). SYNTHETIC stand-in data: 400000 unfiltered particles
# (ZN and ZP of the same rows, O2's filter off so that particles without a response are in them) for
# training, 50000 fresh unfiltered particles for the scores, which the Monte Carlo re-simulates 32 times
# for its own AUC. About 4 min on 2 CPU cores (training 70 s on one thread).
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
DATA=${DATA:-data}
mkdir -p "$DATA" weights/onnx runs
$FZ simulate -d both -n 400000 --no-filter --seed 2301 -o "$DATA/raw.h5"
$FZ simulate -d both -n 50000 --no-filter --seed 77 -o "$DATA/fresh_raw.h5"
rm -rf runs/gate
$FZ gate train --data "$DATA/raw.h5" -o runs/gate --epochs 20 --threads 1
rm -rf weights/gate && cp -r runs/gate weights/gate
$FZ gate evaluate --gate weights/gate --data "$DATA/fresh_raw.h5" --redraws 32 --seed 5 --json > weights/gate.eval.json
$FZ gate export --gate weights/gate -o weights/onnx/gate
