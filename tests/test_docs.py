"""The documentation (docs/) builds with Sphinx, warnings as errors, and documents every public name.

`bash scripts/docs.sh` is the same build into docs/_build/html.
"""

import importlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def html(tmp_path_factory):
  out = tmp_path_factory.mktemp("html")
  result = subprocess.run(
      [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
       "-d", str(out / ".doctrees"), str(ROOT / "docs"), str(out)],
      capture_output=True, text=True, timeout=600, cwd=ROOT,
  )
  assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
  return out


def test_docs_build_without_warnings(html):
  for page in ["index", "install", "coming_from_optax", "coming_from_torch", "api/index"]:
    assert (html / f"{page}.html").exists(), page


def test_every_public_name_has_an_entry_in_the_api_reference(html):
  sys.path.insert(0, str(ROOT / "docs"))
  try:
    conf = importlib.import_module("conf")
  finally:
    sys.path.remove(str(ROOT / "docs"))
  assert len(conf.API_MODULES) >= 15
  missing = []
  for module_name, _ in conf.API_MODULES:
    page = (html / "api" / f"{module_name}.html").read_text()
    names = conf.public_names(importlib.import_module(module_name))
    assert names, module_name
    missing += [f"{module_name}.{n}" for n in names if f'id="{module_name}.{n}"' not in page]
  assert not missing, missing


def test_a_docstring_is_rendered_with_its_sections(html):
  page = (html / "api" / "functional_optim.html").read_text()
  start = page.index('id="functional_optim.adam"')
  entry = page[start:page.index('id="functional_optim.adamw"')]
  assert "learning_rate" in entry and "Parameters" in entry and "References" in entry, entry
  assert "&gt;&gt;&gt;" in entry  # the example
