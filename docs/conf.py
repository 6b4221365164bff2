"""Sphinx configuration: the API reference is generated from the packages' docstrings.

`bash scripts/docs.sh` builds it into docs/_build/html; tests/test_docs.py builds it with
warnings as errors. The pages under api/ are written here, on every build, from the packages'
public names (the same rule as tests/test_docstrings.py: `__all__`, or every name without a
leading underscore), so a new public name appears without editing any page.
"""

import inspect
import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # document the checkout, not an installed copy

project = "functional-optim"
author = "functional-optim contributors"
copyright = "2026, functional-optim contributors"  # noqa: A001 (Sphinx's name)
release = importlib.import_module("functional_optim").__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
exclude_patterns = ["_build"]
# Docstrings use single backquotes for code: render it as code, linked where it names a
# documented object.
default_role = "py:obj"
html_theme = "alabaster"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
# The annotations expand to long unions (ArrayLike, ScalarOrSchedule); the Args sections say
# what each argument is.
autodoc_typehints = "none"
autodoc_preserve_defaults = True  # show `learning_rate=1e-3`, not a float's repr of a default object

# (module, page title); one page each under api/.
API_MODULES = [
    ("functional_optim", "functional_optim (top level)"),
    ("functional_optim.transforms", "functional_optim.transforms"),
    ("functional_optim.schedules", "functional_optim.schedules"),
    ("functional_optim.losses", "functional_optim.losses"),
    ("functional_optim.contrib", "functional_optim.contrib"),
    ("functional_optim.tree", "functional_optim.tree"),
    ("functional_optim.tree_utils", "functional_optim.tree_utils"),
    ("functional_optim.projections", "functional_optim.projections"),
    ("functional_optim.second_order", "functional_optim.second_order"),
    ("functional_optim.perturbations", "functional_optim.perturbations"),
    ("functional_optim.microbatching", "functional_optim.microbatching"),
    ("functional_optim.assignment", "functional_optim.assignment"),
    ("functional_optim.experimental.aggregating", "functional_optim.experimental.aggregating"),
    ("functional_optim.torchlike", "functional_optim.torchlike"),
    ("torch_bridge", "torch_bridge"),
]


def public_names(module):
  names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
  return [n for n in names if not inspect.ismodule(getattr(module, n))]


def directive_for(obj):
  if inspect.isclass(obj):
    return "autoclass"
  if callable(obj) and not hasattr(obj, "__origin__"):  # functions, jitted functions
    return "autofunction"
  return "autodata"  # type aliases, constants


def canonical_pages():
  """Where each function and class is documented in full: its first namespace page.

  The top level re-exports most of the namespaces' names; those are documented once, on the
  namespace's page, and the top-level page links there (the top level comes last here).
  """
  home = {}
  for module_name, _ in API_MODULES[1:] + API_MODULES[:1]:
    module = importlib.import_module(module_name)
    for name in public_names(module):
      obj = getattr(module, name)
      if directive_for(obj) != "autodata":
        home.setdefault(id(obj), f"{module_name}.{name}")
  return home


def api_page(module_name, title, home):
  module = importlib.import_module(module_name)
  lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", ""]
  for name in public_names(module):
    obj = getattr(module, name)
    directive = directive_for(obj)
    full_name = f"{module_name}.{name}"
    canonical = home.get(id(obj), full_name)
    if canonical != full_name:
      role, kind = ("class", "class") if directive == "autoclass" else ("func", "function")
      lines += [f".. py:{kind}:: {name}", f"   :module: {module_name}", "",
                f"   The same object as :{role}:`{canonical}`.", ""]
      continue
    lines.append(f".. {directive}:: {full_name}")
    if directive == "autoclass":
      # State NamedTuples list their fields; classes with methods (the bridge's optimizers)
      # list the public ones they define or override.
      lines.append("   :members:")
    if directive == "autodata":
      lines.append("   :annotation:")
    lines.append("")
  return "\n".join(lines)


def write_api_pages():
  api = HERE / "api"
  api.mkdir(exist_ok=True)
  toctree = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
  home = canonical_pages()
  for module_name, title in API_MODULES:
    text = api_page(module_name, title, home)
    path = api / f"{module_name}.rst"
    if not path.exists() or path.read_text() != text:  # unchanged pages are not rebuilt
      path.write_text(text)
    toctree.append(f"   {module_name}")
  index = api / "index.rst"
  text = "\n".join(toctree) + "\n"
  if not index.exists() or index.read_text() != text:
    index.write_text(text)


write_api_pages()
