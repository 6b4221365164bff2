"""The demo and every script in examples/ run, tiny, and show what they claim."""

import importlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(script, *args):
  result = subprocess.run(
      [sys.executable, str(EXAMPLES / script), *args],
      capture_output=True, text=True, timeout=300, cwd=ROOT,
  )
  assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
  return result.stdout


def differences(stdout):
  return {m[0]: float(m[1]) for m in re.findall(r"max \|param difference\| (.+?): ([-+.e\d]+)", stdout)}


def test_demo_runs_four_ways_and_writes_the_plot(tmp_path):
  pytest.importorskip("sklearn")
  pytest.importorskip("matplotlib")
  stdout = run("demo.py", "--epochs", "1", "--optimizer", "adam", "--out", str(tmp_path))
  diffs = differences(stdout)
  assert diffs["runs 1 vs 2"] < 1e-5, stdout
  assert diffs["runs 3 vs 4"] < 1e-5, stdout
  assert diffs["runs 1 vs 3"] > 1e-3, stdout  # clipping and the schedule make 3/4 differ
  for label in ["torch.optim.Adam", "torch_bridge.Adam", "FunctionalOptimizer(chain)", "pure JAX", "test accuracy", "mean step"]:
    assert label in stdout
  png = tmp_path / "loss_curves.png"
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_help_documents_the_flags(capsys, monkeypatch):
  pytest.importorskip("sklearn")
  monkeypatch.syspath_prepend(str(EXAMPLES))  # in-process: --help in a subprocess would import jax and torch again
  demo = importlib.import_module("demo")
  with pytest.raises(SystemExit) as exit_info:
    demo.parse_args(["--help"])
  assert exit_info.value.code == 0
  stdout = capsys.readouterr().out
  for flag in ["--epochs", "--optimizer", "--out", "--seed", "--lr", "adamw", "adam", "sgd", "rmsprop"]:
    assert flag in stdout


@pytest.mark.parametrize("lr", ["-1", "0", "nan"])
def test_demo_refuses_a_bad_lr_with_a_usage_error(capsys, monkeypatch, lr):
  pytest.importorskip("sklearn")
  monkeypatch.syspath_prepend(str(EXAMPLES))
  demo = importlib.import_module("demo")
  with pytest.raises(SystemExit) as exit_info:
    demo.parse_args(["--lr", lr])
  assert exit_info.value.code == 2  # argparse's usage error, no traceback
  assert "--lr must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize("script, args, expected", [
    ("jax_quickstart.py", ["--steps", "40"], "max |w - true w|"),
    ("torch_dropin.py", ["--steps", "5"], "max |param difference|"),
    ("param_groups_scheduler.py", ["--steps", "6"], "FunctionalOptimizer(fo.adamw)"),
    ("checkpoint_interchange.py", ["--steps", "3"], "now at step 9"),
    ("gradient_accumulation.py", ["--steps", "2"], "parameters moved on micro-steps: [4, 8]"),
    ("skip_nonfinite.py", ["--steps", "4"], "skipped 1 step(s); adam ran 3 of 4 steps"),
    ("optax_in_torch.py", ["--steps", "5"], "torch+bridge vs pure optax"),
    ("jax_sharded.py", ["--steps", "20"], "max |param difference| sharded vs unsharded"),
    ("meta_learning.py", ["--meta-steps", "3", "--inner-steps", "2"], "learned lr (relative)"),
])
def test_example(script, args, expected):
  stdout = run(script, *args)
  assert expected in stdout, stdout
  assert all(d < 1e-5 for d in differences(stdout).values()), stdout


def test_accelerate_example_checks_steps_resumption_and_parity():
  # Gradient accumulation over 3 micro-batches, save_state/load_state halfway, torch.optim next to it.
  stdout = run("accelerate_train.py", "--steps", "2", "--accumulation", "3", "--micro-batch-size", "2")
  for name in ["torch.optim.AdamW", "torch_bridge.AdamW", "FunctionalOptimizer(fo.adamw)"]:
    assert f"{name}: final loss" in stdout and "optimizer steps [2]" in stdout, stdout
  assert stdout.count("bit-identical to the uninterrupted run") == 3, stdout
  assert set(differences(stdout)) == {"torch.optim.AdamW vs torch_bridge.AdamW",
                                      "torch.optim.AdamW vs FunctionalOptimizer(fo.adamw)"}


@pytest.mark.parametrize("script, package", [
    ("optax_in_torch.py", "optax"),
    ("accelerate_train.py", "accelerate"),
])
def test_example_without_its_optional_package_says_what_to_install(script, package):
  # `sys.modules[package] = None` makes the import fail as if the package were not installed.
  blocker = f"import sys, runpy; sys.modules[{package!r}] = None; sys.argv = [{script!r}, '--help']; "
  blocker += f"runpy.run_path({str(EXAMPLES / script)!r}, run_name='__main__')"
  result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert result.returncode == 1, result.stdout + result.stderr
  assert "Traceback" not in result.stderr, result.stderr
  assert "needs" in result.stderr and package in result.stderr, result.stderr
  assert 'pip install "functional-optim[examples]"' in result.stderr, result.stderr


@pytest.mark.parametrize("script", ["ddp_torchrun.py", "fsdp2.py"])
def test_distributed_example_under_torchrun(script):
  # torchrun --standalone picks a free port; 2 CPU processes on gloo.
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
  result = subprocess.run(
      [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
       str(EXAMPLES / script), "--steps", "3"],
      capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
  )
  assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
  diffs = differences(result.stdout)
  assert len(diffs) == 2 and all(d < 1e-5 for d in diffs.values()), result.stdout


def test_readme_quickstarts_run(tmp_path):
  blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
  assert len(blocks) >= 2, "the README has a JAX and a PyTorch quickstart"
  script = tmp_path / "quickstarts.py"
  # Each block runs in its own namespace, in one process (one import of jax and torch).
  script.write_text("blocks = %r\nfor block in blocks:\n  exec(block, {})\n" % blocks)
  result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert result.returncode == 0, result.stdout + result.stderr
  assert (tmp_path / "opt.pt").exists()


def test_every_example_is_tested():
  tested = {"demo.py", "jax_quickstart.py", "torch_dropin.py", "param_groups_scheduler.py",
            "checkpoint_interchange.py", "gradient_accumulation.py", "skip_nonfinite.py", "optax_in_torch.py",
            "accelerate_train.py", "ddp_torchrun.py", "fsdp2.py", "jax_sharded.py",
            "meta_learning.py"}
  assert {p.name for p in EXAMPLES.glob("*.py")} == tested
