"""The benchmark suite, run end to end in --quick mode (tiny shapes) on a few cells."""

import itertools
import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKLOADS = ("1x16M",)  # --quick: one tensor of 16K values
ALGORITHMS = ("sgd_momentum", "clip_adamw")  # without and with the torch-side gradient clip
IMPLS = ("torch-fused", "optax", "bridge")  # one of each kind: torch.optim, pure JAX, the bridge


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench")
  command = [sys.executable, "-m", "benchmarks", "--quick", "--name", "smoke", "--out", str(out),
             "--workloads", ",".join(WORKLOADS), "--algorithms", ",".join(ALGORITHMS),
             "--impls", ",".join(IMPLS), "--memory-steps", "1"]
  done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  return out, json.loads((out / "smoke.json").read_text()), done.stdout


def _finite_positive(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_every_cell_is_timed_with_sane_numbers(suite_run):
  _, results, _ = suite_run
  cells = {(c["workload"], c["algorithm"], c["impl"]): c for c in results["cells"]}
  assert set(cells) == set(itertools.product(WORKLOADS, ALGORITHMS, IMPLS))
  for key, cell in cells.items():
    assert len(cell["step_s"]) == results["settings"]["repeats"] == 3, key
    for name in ("median_s", "min_s", "first_step_s", "floor_s", "ratio_floor", "bandwidth_gbs", "ratio_torch"):
      assert _finite_positive(cell[name]), (key, name, cell[name])
    assert cell["min_s"] <= cell["median_s"], key
    assert all(_finite_positive(b) for b in cell["bandwidth_before"] + cell["bandwidth_after"]), key
    assert cell["reference_impl"] == "torch-fused", key
    assert cell["later_compiles"] >= 0, key
  for workload, algorithm in itertools.product(WORKLOADS, ALGORITHMS):
    assert cells[(workload, algorithm, "torch-fused")]["ratio_torch"] == 1.0


def test_correctness_recompiles_and_memory_are_reported(suite_run):
  _, results, _ = suite_run
  errors = results["correctness_max_relative_error"]
  assert set(errors) == set(ALGORITHMS)
  for algorithm in ALGORITHMS:
    assert set(errors[algorithm]) == set(IMPLS)
    assert all(0 <= e <= 1e-3 for e in errors[algorithm].values())
  recompiles = {(r["impl"], r["algorithm"]): r["compiles"] for r in results["recompiles"]}
  assert set(recompiles) == set(itertools.product(("optax", "bridge"), ALGORITHMS))
  assert all(isinstance(n, int) and n >= 0 for n in recompiles.values())
  memory = {(m["workload"], m["impl"]): m for m in results["memory"]}
  assert set(memory) == set(itertools.product(WORKLOADS, IMPLS))
  for key, m in memory.items():
    assert "error" not in m, (key, m.get("error"))
    assert m["algorithm"] == "sgd_momentum", key  # adamw is not among the chosen algorithms
    assert m["ideal_bytes"] == 4 * 2**14 * 3, key  # parameters, gradients, momentum
    assert math.isfinite(m["peak_ratio"]) and m["peak_bytes"] >= 0, key


def test_outputs_are_written(suite_run):
  out, results, stdout = suite_run
  assert (out / "smoke.png").read_bytes().startswith(b"\x89PNG")
  markdown = (out / "latest.md").read_text()
  for impl in IMPLS:
    assert impl in markdown and impl in stdout
  assert "| 1x16M | clip_adamw |" in markdown
  assert results["machine"]["cpu_count"] >= 1 and results["machine"]["torch"]
  assert set(results["phase_s"]) == {"correctness", "timing", "recompile", "checkpoint", "memory"}
  assert "`load_state_dict()`" in markdown


def test_checkpoint_calls_are_timed_once_per_torch_class(suite_run):
  _, results, _ = suite_run
  # sgd_momentum is SGD; clip_adamw is AdamW (no third optimizer class among the chosen algorithms)
  assert [c["algorithm"] for c in results["checkpoints"]] == ["sgd_momentum", "clip_adamw"]
  for c in results["checkpoints"]:
    assert c["workload"] == "2000x1K" and c["params"] == 50  # --quick: 50 tensors
    for name in ("torch_state_dict_s", "bridge_state_dict_s", "torch_load_state_dict_s", "bridge_load_state_dict_s",
                 "state_dict_ratio", "load_state_dict_ratio"):
      assert _finite_positive(c[name]), (c["algorithm"], name)


def test_bad_arguments_are_rejected_with_the_known_names():
  done = subprocess.run([sys.executable, "-m", "benchmarks", "--impls", "torch-fused,nope"], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 2
  assert "unknown implementation ['nope']" in done.stderr and "torch-forloop" in done.stderr


def test_the_correctness_gate_rejects_a_wrong_update():
  import dataclasses

  from benchmarks.algorithms import ALGORITHMS, LR
  from benchmarks.system import Device
  from benchmarks.timing import IncorrectResult, check_correctness
  adamw = ALGORITHMS["adamw"]
  assert check_correctness(["optax"], [adamw], Device("cpu"))["adamw"]["optax"] < 1e-3
  no_decay = dataclasses.replace(adamw, functional=lambda m: m.adamw(LR, weight_decay=0.0))
  with pytest.raises(IncorrectResult, match="optax adamw: parameter change differs"):
    check_correctness(["optax"], [no_decay], Device("cpu"))


def test_workload_shapes():
  from benchmarks.workloads import WORKLOADS
  assert WORKLOADS["resnet18"].num_params == 11_689_512  # torchvision.models.resnet18()
  assert WORKLOADS["resnet18"].num_tensors == 62
  assert sum(len(s) == 4 for s in WORKLOADS["resnet18"].shapes) == 20  # 17 3x3/7x7 convs + 3 shortcuts
  assert 10e6 <= WORKLOADS["gpt-6L-512"].num_params <= 30e6
  assert WORKLOADS["2000x1K"].num_tensors == 2000


@pytest.mark.parametrize("contention", ["free", "pinned"])
def test_the_busy_core_process_burns_cpu_while_inside_and_is_gone_after(contention):
  import os
  import time

  from benchmarks.system import BusyCore
  with BusyCore(contention) as busy:
    process = busy._process
    with open(f"/proc/{process.pid}/stat") as f:
      ticks_start = int(f.read().split(")")[1].split()[11])
    time.sleep(0.3)
    with open(f"/proc/{process.pid}/stat") as f:
      ticks_end = int(f.read().split(")")[1].split()[11])
    assert process.poll() is None
    if contention == "pinned":
      assert os.sched_getaffinity(process.pid) == {max(os.sched_getaffinity(0))}
  assert ticks_end > ticks_start  # it ran (user time grew)
  assert process.poll() is not None  # killed and reaped on exit


def test_contention_is_parsed_and_off_by_default():
  from benchmarks.run import parse_args
  assert parse_args([]).contention is None
  assert parse_args(["--contention"]).contention == "free"
  assert parse_args(["--contention", "pinned"]).contention == "pinned"
