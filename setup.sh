#!/usr/bin/env bash
# Set up fastzdc in ./.venv (created with access to system packages, so an existing system-wide or
# user-installed torch, e.g. a GPU build, is used as it is). The CPU build torch==2.13.0 is installed
# only when no torch can be imported: pip finds it on this machine kind and never pulls CUDA wheels.
# Idempotent: a second run only re-checks.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install -q "torch==2.13.0"
fi
.venv/bin/pip install -q -e ".[test]"
.venv/bin/python -c "import torch, fastzdc; print(f'fastzdc {fastzdc.__version__} ready (torch {torch.__version__})')"
