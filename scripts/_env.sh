# Sourced by scripts/*.sh: creates .venv on first use and installs the project with
# the requested extras. Torch is installed first, pinned to the tested version, so that the
# extras' `torch` requirement is already met. Which build pip picks is the platform's default
# (on Linux: CUDA, several GB); TORCH_INDEX_URL chooses another, e.g. the CPU-only build:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/test.sh
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
    .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION}" \
      ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
    .venv/bin/python -m pip install --quiet -e ".[${extras}]"
    touch "$stamp"
  fi
}
