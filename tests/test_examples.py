"""The demo runs and learns (a short run)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_demo_learns(optimizer):
  pytest.importorskip("sklearn")
  result = subprocess.run(
      [sys.executable, str(ROOT / "examples" / "demo.py"), "--epochs", "3", "--optimizer", optimizer],
      capture_output=True, text=True, timeout=300, check=True,
  )
  accuracy = float(result.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1])
  assert accuracy > 0.6, result.stdout
