#!/usr/bin/env bash
# Runs the demo in .venv (created and installed on first use). Extra arguments go to
# the demo; try --help.
source "$(dirname "$0")/_env.sh"
ensure_env demo
exec .venv/bin/python examples/demo.py "$@"
