#!/usr/bin/env bash
# Builds the API reference and guides (docs/) into docs/_build/html, in .venv (created and
# installed on first use). Warnings are errors, as in CI (tests/test_docs.py).
source "$(dirname "$0")/_env.sh"
ensure_env docs
.venv/bin/python -m sphinx -W --keep-going -b html -q docs docs/_build/html "$@"
echo "docs/_build/html/index.html"
