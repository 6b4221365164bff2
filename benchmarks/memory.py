"""Peak memory of one implementation over the ideal (parameters + gradients + optimizer state).

Each (implementation, workload) runs in a fresh subprocess, so nothing another
implementation allocated (or the allocator kept) is counted. In the subprocess:
import and initialize the libraries, generate the host arrays the parameters and
gradients are copied from (these stay alive, so they are part of the baseline and
their memory is never reused), then reset the kernel's peak-RSS mark
(/proc/self/clear_refs) and measure the peak increase over the baseline:

* `peak`: from building the optimizer through its first step (compilation
  included) and the warm-up steps;
* `steady`: over later steps only, the mark reset once more: what training holds.

On CUDA the same two numbers come from torch's and jax's allocator statistics
(device memory; jax's peak cannot be reset, so `steady` there is torch's alone).

Run by the suite as `python -m benchmarks.memory IMPL WORKLOAD ALGORITHM`.
"""

import argparse
import gc
import json
import os
import pathlib
import subprocess
import sys
from typing import Any, Optional

RESULT_PREFIX = "MEMORY-RESULT "
_PACKAGE_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _status_kib(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1])
  raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> bool:
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    return True
  except OSError:
    return False


class _HostMeter:
  """Process RSS: the baseline now, and the peak since the last reset, in bytes."""

  def __init__(self):
    self.baseline = _status_kib("VmRSS") * 1024
    self.resettable = _reset_peak_rss()

  def peak(self) -> int:
    return _status_kib("VmHWM") * 1024 - self.baseline

  def reset(self) -> bool:
    return _reset_peak_rss()


class _CudaMeter:
  """Device memory in use per torch's and jax's allocators, over the baseline."""

  def __init__(self, device):
    import torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    self._torch_base = torch.cuda.memory_allocated()
    self._jax_device = device.jax
    self._jax_base = self._jax_stats().get("bytes_in_use", 0)
    self.resettable = True

  def _jax_stats(self) -> dict:
    return self._jax_device.memory_stats() or {}

  def peak(self) -> int:
    import torch
    torch.cuda.synchronize()
    jax_peak = self._jax_stats().get("peak_bytes_in_use", self._jax_base) - self._jax_base
    return torch.cuda.max_memory_allocated() - self._torch_base + max(jax_peak, 0)

  def reset(self) -> bool:
    import torch
    torch.cuda.reset_peak_memory_stats()
    return False  # jax's peak stays: `steady` would mix in the first step


def _initialize(impl: str, algorithm, device) -> None:
  """Loads and wakes up everything `impl` uses, on two tiny parameters, so that library
  start-up (lazily imported modules, jax's compiler) is not counted as the optimizer's."""
  from .timing import build
  from .workloads import random_leaves
  shapes = ((3, 2), (4,))
  runner = build(impl, algorithm, random_leaves(shapes, seed=0), device)
  runner.load_grads(random_leaves(shapes, seed=1))
  for _ in range(2):
    runner.prepare()
    runner.step()
  del runner
  gc.collect()


def measure_here(impl: str, workload_name: str, algorithm_name: str, device_kind: str, *, quick: bool,
                 warmup: int, steps: int) -> dict[str, Any]:
  """The measurement itself, in this (fresh) process."""
  from .algorithms import ALGORITHMS
  from .system import Device
  from .timing import build
  from .workloads import QUICK_WORKLOADS, WORKLOADS, random_leaves
  device = Device(device_kind)
  workload = (QUICK_WORKLOADS if quick else WORKLOADS)[workload_name]
  algorithm = ALGORITHMS[algorithm_name]
  _initialize(impl, algorithm, device)
  host_params = random_leaves(workload.shapes, seed=10)
  host_grads = random_leaves(workload.shapes, seed=11)
  gc.collect()
  meter = _CudaMeter(device) if device.kind == "cuda" else _HostMeter()
  runner = build(impl, algorithm, host_params, device)
  runner.load_grads(host_grads)
  for _ in range(1 + warmup):
    runner.prepare()
    runner.step()
  peak = meter.peak()
  steady: Optional[int] = None
  if meter.reset():
    for _ in range(steps):
      runner.prepare()
      runner.step()
    steady = meter.peak()
  ideal = 4 * workload.num_params * (2 + algorithm.state_per_param)
  return {
      "impl": impl, "workload": workload_name, "algorithm": algorithm_name, "device": device_kind,
      "ideal_bytes": ideal, "baseline_bytes": getattr(meter, "baseline", None),
      "peak_bytes": peak, "steady_bytes": steady,
      "peak_ratio": peak / ideal, "steady_ratio": None if steady is None else steady / ideal,
  }


def measure_in_subprocess(impl: str, workload_name: str, algorithm_name: str, device_kind: str, *,
                          quick: bool, warmup: int, steps: int, timeout_s: float = 600) -> dict[str, Any]:
  """Runs `measure_here` in a fresh interpreter and returns its result (or the error it hit)."""
  command = [sys.executable, "-m", "benchmarks.memory", impl, workload_name, algorithm_name,
             "--device", device_kind, "--warmup", str(warmup), "--steps", str(steps)]
  if quick:
    command.append("--quick")
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(_PACKAGE_ROOT), env.get("PYTHONPATH"))))
  try:
    done = subprocess.run(command, cwd=_PACKAGE_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
  except subprocess.TimeoutExpired:
    return {"impl": impl, "workload": workload_name, "algorithm": algorithm_name,
            "error": f"timed out after {timeout_s:.0f} s"}
  for line in reversed(done.stdout.splitlines()):
    if line.startswith(RESULT_PREFIX):
      return json.loads(line[len(RESULT_PREFIX):])
  tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
  return {"impl": impl, "workload": workload_name, "algorithm": algorithm_name,
          "error": f"exit {done.returncode}: " + " | ".join(tail)}


def main(argv: Optional[list[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("impl")
  parser.add_argument("workload")
  parser.add_argument("algorithm")
  parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--steps", type=int, default=3)
  args = parser.parse_args(argv)
  result = measure_here(args.impl, args.workload, args.algorithm, args.device, quick=args.quick,
                        warmup=args.warmup, steps=args.steps)
  print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
  main()
