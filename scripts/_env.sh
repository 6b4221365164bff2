# Sourced by scripts/*.sh: creates .venv on first use and installs the project with
# the requested extras. Torch is installed first, pinned to a CPU build, because an
# unpinned torch requirement pulls several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TORCH_VERSION="2.13.0"
PYTHON="${PYTHON:-python3}"

ensure_env() {
  local extras="$1"
  local stamp=".venv/.installed-${extras}"
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  # Reinstall only when pyproject.toml changed since the last install of these extras.
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}"
    .venv/bin/python -m pip install --quiet -e ".[${extras}]"
    touch "$stamp"
  fi
}
