#!/usr/bin/env bash
# Export the shipped flow-matching weights, their few-step students and the latent FMs to ONNX for ALICE
# O2 / ONNX Runtime (explicit-noise and graph-noise variants, O2 scaler, model card) into
# weights/onnx/{fm,fmd,lfm}-{zn,zp}; float16 variants for the FM models (a float16 latent FM fails the
# self-check: its noise dither needs float32); the O2 drop-in graph model.o2.onnx for the students and
# the latent FMs (docs/o2.md). Re-run after the weights change: tests/test_export.py and
# tests/test_export_latent.py fail on a stale export. About 20 s per model on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
FZ=${FZ:-.venv/bin/fastzdc}
mkdir -p weights/onnx
for d in zn zp; do
    $FZ export onnx --model weights/fm-$d --out weights/onnx/fm-$d --fp16                  # the flow-matching teacher
    $FZ export onnx --model weights/fmd-$d --out weights/onnx/fmd-$d --fp16 --o2-dropin    # its few-step student
    $FZ export onnx --model weights/lfm-$d --out weights/onnx/lfm-$d --o2-dropin           # the latent FM (decoder in the graph)
    if [ "${WITH_VQ:-0}" = 1 ]; then   # the VQ-GAN: about 2 min of CPU and 17 MB per detector, not shipped
        $FZ export onnx --model weights/vq-$d --out weights/onnx/vq-$d
    fi
done
