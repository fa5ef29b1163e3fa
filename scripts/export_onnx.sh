#!/usr/bin/env bash
# Export the shipped flow-matching weights to ONNX for ALICE O2 / ONNX Runtime (float32 + float16,
# explicit-noise and graph-noise variants, O2 scaler, model card) into weights/onnx/fm-{zn,zp}.
# Re-run after the weights in weights/fm-* change: tests/test_export.py fails on a stale export.
# About 1 minute per detector on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
mkdir -p weights/onnx
for d in zn zp; do
    $FZ export onnx --model weights/fm-$d --out weights/onnx/fm-$d --fp16
done
