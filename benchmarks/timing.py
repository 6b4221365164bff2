"""Timing one (workload, algorithm, implementation) cell, and the correctness gate before it."""

import dataclasses
import gc
import statistics
import time
from collections.abc import Sequence
from typing import Optional

import numpy as np

from .algorithms import Algorithm
from .implementations import IMPLEMENTATIONS, Runner
from .system import BandwidthProbe, BusyCore, CompileCounter, Device
from .workloads import Workload, random_leaves


@dataclasses.dataclass
class Cell:
  """One measurement. Times in seconds, bandwidths in GB/s (each probe's passes, best first)."""

  workload: str
  algorithm: str
  impl: str
  num_params: int
  num_tensors: int
  bytes_per_param: int
  setup_s: float  # building the optimizer and copying in parameters and gradients
  first_step_s: float  # the first step: tracing and compiling included
  step_s: list[float]  # each timed step after warm-up
  later_compiles: int  # XLA compilations after the first step (warm-up and timed steps): should be 0
  bandwidth_before: list[float]
  bandwidth_after: list[float]
  contention: Optional[str] = None  # None, or how a busy-loop process competed during the steps
  ratio_torch: Optional[float] = None  # filled in once the reference cell is known
  reference_impl: Optional[str] = None

  @property
  def median_s(self) -> float:
    return statistics.median(self.step_s)

  @property
  def max_over_median(self) -> float:
    """The slowest timed step / the median: a steady step is near 1; a stalled one is far above."""
    return max(self.step_s) / self.median_s

  @property
  def bandwidth_gbs(self) -> float:
    """The mean of the best pass before and the best pass after: the conditions around the steps."""
    return (self.bandwidth_before[0] + self.bandwidth_after[0]) / 2

  @property
  def floor_s(self) -> float:
    return self.bytes_per_param * self.num_params / (self.bandwidth_gbs * 1e9)

  @property
  def ratio_floor(self) -> float:
    return self.median_s / self.floor_s

  def to_json(self) -> dict:
    out = dataclasses.asdict(self)
    out.update(median_s=self.median_s, min_s=min(self.step_s), max_over_median=self.max_over_median,
               bandwidth_gbs=self.bandwidth_gbs,
               floor_s=self.floor_s, ratio_floor=self.ratio_floor)
    return out


def build(impl: str, algorithm: Algorithm, params: Sequence[np.ndarray], device: Device) -> Runner:
  return IMPLEMENTATIONS[impl][1](algorithm, params, device)


def measure_cell(impl: str, algorithm: Algorithm, workload: Workload, params: Sequence[np.ndarray],
                 grads: Sequence[np.ndarray], device: Device, probe: BandwidthProbe, *,
                 warmup: int, repeats: int, contention: Optional[str] = None) -> Cell:
  """Times `repeats` steps after a first step and `warmup` more, probing bandwidth around them.

  With `contention` ("free" or "pinned", see `system.BusyCore`), a busy-loop process
  competes for a core from the optimizer's construction to the last timed step;
  the bandwidth probes run without it.
  """
  bandwidth_before = probe.measure()
  with BusyCore(contention):
    runner, setup_s, first_step_s, step_s, later_compiles = _timed_steps(
        impl, algorithm, params, grads, device, warmup=warmup, repeats=repeats)
  del runner
  gc.collect()
  bandwidth_after = probe.measure()
  return Cell(workload.name, algorithm.name, impl, workload.num_params, workload.num_tensors,
              algorithm.bytes_per_param, setup_s, first_step_s, step_s, later_compiles, bandwidth_before,
              bandwidth_after, contention)


def _timed_steps(impl, algorithm, params, grads, device, *, warmup: int, repeats: int):
  start = time.perf_counter()
  runner = build(impl, algorithm, params, device)
  runner.load_grads(grads)
  setup_s = time.perf_counter() - start
  runner.prepare()
  start = time.perf_counter()
  runner.step()
  first_step_s = time.perf_counter() - start
  compiles = CompileCounter.get()
  compiles_before = compiles.count
  for _ in range(warmup):
    runner.prepare()
    runner.step()
  step_s = []
  for _ in range(repeats):
    runner.prepare()  # gradients assigned as after backward(); not part of the step
    start = time.perf_counter()
    runner.step()
    step_s.append(time.perf_counter() - start)
  later_compiles = compiles.count - compiles_before
  return runner, setup_s, first_step_s, step_s, later_compiles


class IncorrectResult(RuntimeError):
  """An implementation's parameters disagree with torch.optim's: its timings would mean nothing."""


# Mixed ranks (4-D like a conv) and a scalar-like leaf; small enough to check in a second.
CHECK_SHAPES = ((4, 3), (5,), (2, 3, 2, 2), (1,))
CHECK_STEPS = 3
# float32 rounding of p ~ 1 is ~1e-7 per step; one step of weight decay (lr * wd * p ~ 1e-5)
# is ~1% of a step, so a dropped or doubled term fails this while rounding passes.
CHECK_RTOL = 1e-3


def check_correctness(impls: Sequence[str], algorithms: Sequence[Algorithm], device: Device) -> dict:
  """Steps every implementation a few times on tiny shapes and compares with torch.optim's for-loop.

  The comparison is on the change of the parameters, relative to its largest
  value, so it sees every term of the update rather than the parameters' size.

  Returns:
    `{algorithm: {impl: max |difference| / max |reference change|}}`.

  Raises:
    IncorrectResult: when any implementation is off by more than CHECK_RTOL.
  """
  start_params = random_leaves(CHECK_SHAPES, seed=1)
  grads_per_step = [random_leaves(CHECK_SHAPES, seed=2 + i) for i in range(CHECK_STEPS)]
  report = {}
  for algorithm in algorithms:
    changes = {}
    for impl in dict.fromkeys(("torch-forloop", *impls)):
      runner = build(impl, algorithm, start_params, device)
      for grads in grads_per_step:
        runner.load_grads(grads)  # fresh tensors: torch's clip scales them in place
        runner.prepare()
        runner.step()
      changes[impl] = np.concatenate([(p - p0).ravel() for p, p0 in zip(runner.params(), start_params)])
    reference = changes.pop("torch-forloop")
    scale = float(np.max(np.abs(reference)))
    report[algorithm.name] = {}
    for impl, change in changes.items():
      error = float(np.max(np.abs(change - reference))) / scale
      report[algorithm.name][impl] = error
      if not error <= CHECK_RTOL:
        raise IncorrectResult(
            f"{impl} {algorithm.name}: parameter change differs from torch.optim's by {error:.2e} "
            f"of its size after {CHECK_STEPS} steps (allowed {CHECK_RTOL:.0e})")
  return report
