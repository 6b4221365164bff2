#!/usr/bin/env bash
# Runs the whole test suite in .venv (created and installed on first use).
# HYPOTHESIS_PROFILE=ci (default: bounded, derandomized), dev (more examples) or long.
source "$(dirname "$0")/_env.sh"
ensure_env test
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile -q "$@"
