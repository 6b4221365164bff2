"""The benchmark suite: one optimizer step, torch.optim vs optax vs functional_optim vs torch_bridge.

    bash scripts/bench.sh                                  # everything (about 10 min on 2 CPU cores)
    bash scripts/bench.sh --workloads 1x16M,2000x1K --algorithms adamw --repeats 20
    bash scripts/bench.sh --quick                          # tiny shapes: a smoke test
    bash scripts/bench.sh --contention --workloads 200x80K # with one core kept busy by another process

In one process, for every workload x algorithm x implementation: build the
optimizer, time the first step (compilation included), run warm-up steps, then
time each of --repeats steps (gradients are pre-generated tensors assigned to
p.grad before each step, as after backward(); that assignment is not timed) and
take the median. Around each measurement a memory-bandwidth probe sets the floor:
the bytes the algorithm must move per step / bandwidth. Before any timing, every
implementation is checked against torch.optim on tiny shapes, so nothing fast and
wrong gets reported. Then: recompile counts (bridge and pure JAX), and peak memory
per implementation and workload, each in a fresh subprocess.

Writes <out>/<name>.json (every raw number and the machine's facts),
<out>/<name>.png (step time / floor) and <out>/latest.md (the tables, for the README).
"""

import argparse
import datetime
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any, Optional

from . import system

DEFAULT_OUT = pathlib.Path(__file__).resolve().parent / "results"


def _choices(text: str, known: Sequence[str], what: str) -> list[str]:
  chosen = [t.strip() for t in text.split(",") if t.strip()]
  unknown = [c for c in chosen if c not in known]
  if unknown or not chosen:
    raise argparse.ArgumentTypeError(f"unknown {what} {unknown or text!r}; choose from {', '.join(known)}")
  return [k for k in known if k in chosen]  # the suite's order, whatever the command line's


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  from .algorithms import ALGORITHMS
  from .implementations import IMPLEMENTATIONS
  from .workloads import WORKLOADS
  epilog = "workloads (fp32):\n" + "\n".join(
      f"  {w.name:<11} {w.num_tensors:>5} tensors, {w.num_params / 1e6:5.1f}M values: {w.description}"
      for w in WORKLOADS.values())
  epilog += "\nalgorithms (bytes per parameter a step must move):\n" + "\n".join(
      f"  {a.name:<13} {a.bytes_per_param} B: {a.traffic_note}" for a in ALGORITHMS.values())
  parser = argparse.ArgumentParser(prog="bench.sh", description=__doc__, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workloads", default=",".join(WORKLOADS),
                      help=f"comma-separated subset of: {', '.join(WORKLOADS)} (default: all)")
  parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                      help=f"comma-separated subset of: {', '.join(ALGORITHMS)} (default: all)")
  parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                      help=f"comma-separated subset of: {', '.join(IMPLEMENTATIONS)} (default: all)")
  parser.add_argument("--repeats", type=int, default=10, help="timed steps per measurement; the median is reported (default 10)")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first one (default 2)")
  parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                      help="cuda needs CUDA builds of torch and jax; skipped with a message when absent")
  parser.add_argument("--contention", nargs="?", const="free", default=None, choices=("free", "pinned"),
                      help="keep one CPU core busy with a busy-loop process during each measurement, as "
                           "DataLoader workers do: 'free' (the default) lets the OS place it, 'pinned' pins it "
                           "to the last CPU; the bandwidth probes run without it")
  parser.add_argument("--probe-mb", type=int, default=None,
                      help="size of each of the bandwidth probe's two buffers (default 256, --quick 8)")
  parser.add_argument("--memory-steps", type=int, default=3, help="steps measured for steady-state memory")
  parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
  parser.add_argument("--no-recompile", action="store_true", help="skip the recompile check")
  parser.add_argument("--no-checkpoint", action="store_true",
                      help="skip timing state_dict() and load_state_dict() (bridge vs torch.optim, 2000 x 1K)")
  parser.add_argument("--quick", action="store_true",
                      help="tiny versions of the workloads, 3 repeats, 1 warm-up step: a smoke test of the suite")
  parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
  parser.add_argument("--name", default=None, help="results file name (default: UTC timestamp)")
  args = parser.parse_args(argv)
  try:
    args.workloads = _choices(args.workloads, list(WORKLOADS), "workload")
    args.algorithms = _choices(args.algorithms, list(ALGORITHMS), "algorithm")
    args.impls = _choices(args.impls, list(IMPLEMENTATIONS), "implementation")
  except argparse.ArgumentTypeError as error:
    parser.error(str(error))
  for name in ("repeats", "memory_steps"):
    if getattr(args, name) < 1:
      parser.error(f"--{name.replace('_', '-')} must be at least 1")
  if args.warmup < 0:
    parser.error("--warmup must be at least 0")
  if args.quick:
    args.repeats = min(args.repeats, 3)
    args.warmup = min(args.warmup, 1)
  if args.probe_mb is None:
    args.probe_mb = 8 if args.quick else 256
  args.name = args.name or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
  return args


def _log(message: str) -> None:
  print(message, file=sys.stderr, flush=True)


def run_timings(args, device, probe) -> list:
  from .algorithms import ALGORITHMS
  from .timing import measure_cell
  from .workloads import QUICK_WORKLOADS, WORKLOADS, random_leaves
  workloads = QUICK_WORKLOADS if args.quick else WORKLOADS
  total = len(args.workloads) * len(args.algorithms) * len(args.impls)
  cells = []
  for workload_name in args.workloads:
    workload = workloads[workload_name]
    params = random_leaves(workload.shapes, seed=10)  # generated once per workload, not timed
    grads = random_leaves(workload.shapes, seed=11)
    for algorithm_name in args.algorithms:
      for impl in args.impls:
        cell = measure_cell(impl, ALGORITHMS[algorithm_name], workload, params, grads, device, probe,
                            warmup=args.warmup, repeats=args.repeats, contention=args.contention)
        cells.append(cell)
        _log(f"[{len(cells)}/{total}] {workload_name} {algorithm_name} {impl}: {cell.median_s * 1e3:.3g} ms "
             f"(slowest {cell.max_over_median:.1f}x median) "
             f"({cell.ratio_floor:.2f}x floor at {cell.bandwidth_gbs:.1f} GB/s), first step {cell.first_step_s:.2f} s")
  return cells


def run_recompile_checks(args, device) -> list[dict[str, Any]]:
  from .algorithms import ALGORITHMS
  from .implementations import JAX_IMPLEMENTATIONS
  from .recompile import count_recompiles
  results = []
  for impl in [i for i in args.impls if i == "bridge" or i in JAX_IMPLEMENTATIONS]:
    for algorithm_name in args.algorithms:
      result = count_recompiles(impl, ALGORITHMS[algorithm_name], device)
      results.append({"impl": impl, "algorithm": algorithm_name, **result})
      _log(f"recompiles {impl} {algorithm_name}: {result['compiles']}")
  return results


def run_checkpoint_timings(args, device) -> list[dict[str, Any]]:
  from .algorithms import ALGORITHMS
  from .checkpoint import WORKLOAD, time_checkpoints
  from .workloads import QUICK_WORKLOADS, WORKLOADS
  if "bridge" not in args.impls:
    return []
  shapes = (QUICK_WORKLOADS if args.quick else WORKLOADS)[WORKLOAD].shapes
  results, timed_classes = [], set()
  for name in args.algorithms:
    if ALGORITHMS[name].torch_class in timed_classes:  # clip_adamw's optimizer is AdamW's
      continue
    timed_classes.add(ALGORITHMS[name].torch_class)
    result = time_checkpoints(ALGORITHMS[name], shapes, device, args.repeats)
    results.append(result)
    _log(f"checkpoint {name}: state_dict {result['state_dict_ratio']:.2f}x torch.optim, "
         f"load_state_dict {result['load_state_dict_ratio']:.2f}x")
  return results


def run_memory(args) -> list[dict[str, Any]]:
  from .memory import measure_in_subprocess
  from .report import FOCUS_ALGORITHM
  algorithm = FOCUS_ALGORITHM if FOCUS_ALGORITHM in args.algorithms else args.algorithms[0]
  results = []
  for workload_name in args.workloads:
    for impl in args.impls:
      result = measure_in_subprocess(impl, workload_name, algorithm, args.device, quick=args.quick,
                                     warmup=args.warmup, steps=args.memory_steps)
      results.append(result)
      shown = result.get("error") or f"{result['peak_ratio']:.2f}x ideal"
      _log(f"memory {workload_name} {impl} {algorithm}: {shown}")
  return results


def main(argv: Optional[Sequence[str]] = None) -> int:
  allocator = system.prime_allocator()  # first, before torch or jax allocate anything
  # With torch and jax sharing one GPU, jax must not grab most of its memory up front.
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  args = parse_args(argv)
  started = time.perf_counter()
  load_at_start = os.getloadavg()  # other work on the machine skews every number: look here first
  device = system.Device(args.device)
  if args.device == "cuda":
    reason = system.cuda_unavailable_reason()
    if reason is not None:
      _log(f"--device cuda skipped: {reason}")
      return 0
  from . import report
  from .algorithms import ALGORITHMS
  from .timing import IncorrectResult, check_correctness
  phase_s = {}

  def timed(phase, fn, *fn_args):
    start = time.perf_counter()
    value = fn(*fn_args)
    phase_s[phase] = time.perf_counter() - start
    return value

  _log(f"checking {', '.join(args.impls)} against torch.optim on tiny shapes")
  try:
    correctness = timed("correctness", check_correctness, args.impls, [ALGORITHMS[a] for a in args.algorithms],
                        device)
  except IncorrectResult as error:
    _log(f"stopped before timing anything: {error}")
    return 1
  probe = system.BandwidthProbe(device, megabytes=args.probe_mb)
  cells = timed("timing", run_timings, args, device, probe)
  del probe  # frees its buffers before the memory subprocesses start
  report.attach_torch_ratios(cells)
  recompiles = [] if args.no_recompile else timed("recompile", run_recompile_checks, args, device)
  checkpoints = [] if args.no_checkpoint else timed("checkpoint", run_checkpoint_timings, args, device)
  memory = [] if args.no_memory else timed("memory", run_memory, args)
  results = {
      "name": args.name,
      "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "argv": list(sys.argv[1:] if argv is None else argv),
      "settings": {k: getattr(args, k) for k in ("workloads", "algorithms", "impls", "repeats", "warmup",
                                                  "device", "probe_mb", "memory_steps", "quick", "contention")},
      "machine": {**system.machine_facts(device), "load_average_at_start": load_at_start},
      "allocator": allocator,
      "correctness_max_relative_error": correctness,
      "cells": [c.to_json() for c in cells],
      "recompiles": recompiles,
      "checkpoints": checkpoints,
      "memory": memory,
      "phase_s": phase_s,
      "wall_s": time.perf_counter() - started,
  }
  args.out.mkdir(parents=True, exist_ok=True)
  json_path, png_path, md_path = args.out / f"{args.name}.json", args.out / f"{args.name}.png", args.out / "latest.md"
  report.write_json(json_path, results)
  report.plot(png_path, cells, results["settings"])
  md_path.write_text(report.markdown_report(results, cells))
  print(report.text_report(results, cells))
  print(f"\nwrote {json_path}, {png_path} and {md_path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
