#!/usr/bin/env bash
# Export the shipped flow-matching weights and their few-step students to ONNX for ALICE O2 / ONNX Runtime
# (float32 + float16, explicit-noise and graph-noise variants, O2 scaler, model card) into
# weights/onnx/{fm,fmd}-{zn,zp}. Re-run after the weights in weights/fm-* or weights/fmd-* change:
# tests/test_export.py fails on a stale export. About 20 s per model on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
mkdir -p weights/onnx
for d in zn zp; do
    for name in fm fmd; do   # the flow-matching weights and their few-step students
        $FZ export onnx --model weights/$name-$d --out weights/onnx/$name-$d --fp16
    done
done
