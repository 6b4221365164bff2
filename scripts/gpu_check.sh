#!/usr/bin/env bash
# The GPU checks in one short call (under 8 minutes on one H100): the bridge's GPU tests
# (tests/test_bridge_cuda.py, pytest -m gpu), one 1B-parameter AdamW step against torch's
# fused AdamW (benchmarks/big_step.py), and the suite's AdamW rows with --device cuda.
# Needs a CUDA torch and a CUDA jax in one environment (pip install 'functional-optim[cuda12]'
# after torch's CUDA wheel). Results go to $OUT if set, else benchmarks/results/gpu-<UTC time>/.
# Python: $PYTHON if set, else .venv/bin/python, else python3. Exits non-zero if any part fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3
fi
OUT_DIR="${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT_DIR"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # torch and jax share the GPU

echo "== versions"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "nvidia-smi: not found") \
  | tee "$OUT_DIR/versions.txt"
"$PY" - <<'PYEOF' 2>&1 | tee -a "$OUT_DIR/versions.txt"
import sys, torch, jax, jaxlib
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda,
      "| jax", jax.__version__, "jaxlib", jaxlib.__version__)
print("torch.cuda.is_available():", torch.cuda.is_available())
print("jax devices:", jax.devices())
PYEOF

reason=$("$PY" -c "from benchmarks.system import cuda_unavailable_reason as r; print(r() or '')")
if [ -n "$reason" ]; then
  echo "gpu_check: no usable GPU: $reason" >&2
  exit 1
fi

status=0
echo "== GPU tests"
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_bridge_cuda.py \
  --junitxml "$OUT_DIR/gpu-tests.xml" 2>&1 | tee "$OUT_DIR/gpu-tests.txt" || status=1

echo "== 1B-parameter AdamW step"
timeout 150 "$PY" -m benchmarks.big_step --device cuda --out "$OUT_DIR/big_step.json" 2>&1 \
  | tee "$OUT_DIR/big_step.txt" || status=1

echo "== suite, AdamW, --device cuda"
timeout 150 "$PY" -m benchmarks --device cuda --workloads 1x16M,200x80K,2000x1K,resnet18 --algorithms adamw \
  --impls torch-fused,functional_optim,bridge --repeats 10 --no-memory --out "$OUT_DIR" --name suite-cuda 2>&1 \
  | tee "$OUT_DIR/suite-cuda.txt" || status=1

echo "gpu_check: results in $OUT_DIR (status $status)"
exit "$status"
