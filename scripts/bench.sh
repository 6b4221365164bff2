#!/usr/bin/env bash
# Runs the benchmark suite in .venv (created and installed on first use). Extra
# arguments go to the suite; try --help. Results land in benchmarks/results/.
source "$(dirname "$0")/_env.sh"
ensure_env bench
exec .venv/bin/python -m benchmarks "$@"
