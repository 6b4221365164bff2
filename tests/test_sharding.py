"""functional_optim under JAX sharding: runs tests/sharded_cases.py on 8 host devices.

Those cases need jax to start with `XLA_FLAGS=--xla_force_host_platform_device_count=8`,
which must be set before jax initializes its backend; this process (an xdist worker,
perhaps) has one device already. So they run in a fresh pytest process, and this test fails
with that process's output when any of them fails.
"""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = pathlib.Path(__file__).resolve().parent / "sharded_cases.py"


def test_sharded_cases_pass_on_eight_host_devices():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
  env.pop("PYTEST_XDIST_WORKER", None)
  result = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
       "--no-header", "-o", "addopts=", str(CASES)],
      capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
  )
  output = result.stdout + result.stderr
  assert result.returncode == 0, f"sharded cases failed:\n{output}"
  passed = re.search(r"(\d+) passed", output)
  assert passed and int(passed.group(1)) >= 10 and "skipped" not in output, output
