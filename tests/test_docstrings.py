"""Every public name has a docstring; every public function and class (NamedTuple states
aside) has a runnable `>>>` example and a reference. The examples themselves run as
doctests (`--doctest-modules` in pyproject.toml)."""

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "functional_optim",
    "functional_optim.schedules",
    "functional_optim.tree",
    "functional_optim.tree_utils",
    "functional_optim.transforms",
    "functional_optim.contrib",
    "functional_optim.torchlike",
    "functional_optim.experimental.aggregating",
    "functional_optim.perturbations",
    "functional_optim.projections",
    "functional_optim.second_order",
    "functional_optim.assignment",
    "functional_optim.microbatching",
    "functional_optim.losses",
    "torch_bridge",
]


def _public_names(module_name):
  module = importlib.import_module(module_name)
  names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
  return [(module_name, name) for name in names if not inspect.ismodule(getattr(module, name))]


def _documentable(obj):
  # Type aliases (`fo.Params`) and constants (`torchlike.SGD_TORCH_STATE_KEYS`) cannot carry a
  # docstring of their own; functions and classes can.
  return inspect.isfunction(obj) or inspect.isclass(obj)


def _is_state_class(obj):
  return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _own_docstring(obj):
  doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
  if _is_state_class(obj) and doc and doc.startswith(f"{obj.__name__}("):
    return None  # the docstring namedtuple generates, not one somebody wrote
  return doc


PUBLIC = [
    (module_name, name)
    for module_name in PUBLIC_MODULES
    for module_name, name in _public_names(module_name)
    if _documentable(getattr(importlib.import_module(module_name), name))
]


def test_the_public_surface_is_found():
  assert len(PUBLIC) > 200
  assert ("functional_optim", "adamw") in PUBLIC and ("torch_bridge", "AdamW") in PUBLIC


@pytest.mark.parametrize("module_name,name", PUBLIC, ids=[f"{m}.{n}" for m, n in PUBLIC])
def test_public_name_is_documented(module_name, name):
  obj = getattr(importlib.import_module(module_name), name)
  doc = _own_docstring(obj)
  assert doc and doc.strip(), f"{module_name}.{name} has no docstring"
  summary = doc.strip().splitlines()[0]
  assert summary.strip(), f"{module_name}.{name}: the docstring starts with an empty line"
  if _is_state_class(obj):
    return  # a one-line summary of what the state holds is enough
  assert ">>>" in doc, f"{module_name}.{name}: the docstring has no `>>>` example"
  assert "Reference" in doc, f"{module_name}.{name}: the docstring has no Reference(s) section"


def test_a_state_class_with_only_the_generated_docstring_is_caught():
  from typing import NamedTuple

  class Undocumented(NamedTuple):
    count: int

  assert _own_docstring(Undocumented) is None
