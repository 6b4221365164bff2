"""The distribution: the wheel's metadata and contents, and what `import torch_bridge` says
without torch.

A full install into a fresh virtual environment (`pip install "functional-optim[torch]"`) takes
minutes and downloads torch, so CI does not run it; it was run by hand (see the README).
"""

import email.parser
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  pytest.importorskip("setuptools")
  source = tmp_path_factory.mktemp("source")
  # A copy: building in place would leave build/ and *.egg-info in the checkout. tests/ comes
  # along so that the check that it is left out of the wheel means something.
  ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
  for name in ["functional_optim", "torch_bridge", "tests", "examples", "docs"]:
    shutil.copytree(ROOT / name, source / name, ignore=ignore)
  for name in ["pyproject.toml", "README.md"]:
    shutil.copy(ROOT / name, source / name)
  out = tmp_path_factory.mktemp("wheel")
  result = subprocess.run(
      [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
       "--wheel-dir", str(out), str(source)],
      capture_output=True, text=True, timeout=300,
  )
  assert result.returncode == 0, result.stdout + result.stderr
  (path,) = out.glob("functional_optim-*.whl")
  return path


def metadata(wheel_path):
  with zipfile.ZipFile(wheel_path) as archive:
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(archive.read(name).decode())


def test_wheel_declares_python_and_the_extras(wheel):
  meta = metadata(wheel)
  assert meta["Name"] == "functional-optim"
  assert meta["Requires-Python"] == ">=3.11"
  assert {"torch", "demo", "examples", "docs", "test", "bench"} <= set(meta.get_all("Provides-Extra"))
  requires = [r.replace(" ", "") for r in meta.get_all("Requires-Dist")]
  # jax is always required; torch only through the `torch` extra, with the tested range.
  assert any(r.startswith("jax>=") and "extra" not in r for r in requires), requires
  assert not any(r.startswith("torch") and "extra" not in r for r in requires), requires
  assert any(r.startswith("torch<2.14,>=2.13") and 'extra=="torch"' in r for r in requires), requires


def test_wheel_holds_both_packages_and_no_tests(wheel):
  with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
  top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
  assert top_level == {"functional_optim", "torch_bridge"}, top_level
  for module in ["functional_optim/__init__.py", "functional_optim/torchlike/__init__.py",
                 "functional_optim/contrib/__init__.py", "torch_bridge/__init__.py",
                 "torch_bridge/_optimizer.py"]:
    assert module in names
  # Every subpackage of the checkout is in the wheel (a missing __init__.py would drop one).
  subpackages = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("functional_optim/**/__init__.py")}
  assert subpackages <= {n.rsplit("/", 1)[0] for n in names}
  assert not any("test" in n.split("/")[-1] for n in names), [n for n in names if "test" in n]


def test_torch_bridge_without_torch_says_what_to_install():
  # `sys.modules["torch"] = None` makes `import torch` fail as if torch were not installed.
  script = (
      "import sys\n"
      "sys.modules['torch'] = None\n"
      "import functional_optim\n"  # needs no torch
      "try:\n"
      "  import torch_bridge\n"
      "except ImportError as error:\n"
      "  print('ImportError:', error)\n"
  )
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
  assert result.returncode == 0, result.stdout + result.stderr
  message = result.stdout
  assert message.startswith("ImportError: torch_bridge needs PyTorch"), message
  assert 'pip install "functional-optim[torch]"' in message
  assert "--index-url https://download.pytorch.org/whl/cpu" in message
