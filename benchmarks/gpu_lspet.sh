#!/usr/bin/env bash
# The prepared GPU run (benchmarks/gpu_lspet.py, docs/gpu.md) on a machine where python3 holds PyTorch: FLPN-50,
# SimpleBaseline-R50 and LPN-50 on LSPet within 9 minutes, one JSON line per model under $OUT (default
# ./output/gpu_lspet). Needs .cache/gpu_lspet (built here with `benchmarks/gpu_lspet.py --prepare`) or LSPet itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec "$PY" benchmarks/gpu_lspet.py "$@"
