"""All of optax's public API exists in functional_optim, with optax's signatures.

Every public name of `optax` and of each of its public namespaces (`optax.contrib`,
`optax.losses`, ..., and `optax.experimental.aggregating`) must exist at the same path in
functional_optim. Callables (functions, classes, partials) must take the same arguments: names,
order, kinds and defaults (callable defaults compared by name, arrays by value, transformations by
kind). Type aliases (`optax.Params`) and typing Protocols (`optax.transforms.ConditionFn`) need
only exist.
"""

import collections.abc
import enum
import functools
import inspect
import math
import types
import typing

import numpy as np
import optax
import pytest

import functional_optim as fo


def _public_names(module, nested):
  """A namespace's public names: dir() without what it merely imports (modules from elsewhere,
  typing's names); a nested namespace (experimental.aggregating) also without modules."""
  names = []
  for name in dir(module):
    if name.startswith("_"):
      continue
    obj = getattr(module, name)
    if isinstance(obj, types.ModuleType) and (nested or not obj.__name__.startswith("optax.")):
      continue
    if any(getattr(source, name, None) is obj for source in (typing, collections.abc)):
      continue
    names.append(name)
  return names


def _namespaces():
  """Public optax namespaces as dotted paths ("" is optax itself)."""
  paths = [""]
  for name in _public_names(optax, nested=False):
    obj = getattr(optax, name)
    if isinstance(obj, types.ModuleType):
      paths.append(name)
      for sub in dir(obj):
        value = getattr(obj, sub)
        if not sub.startswith("_") and isinstance(value, types.ModuleType) and (
            value.__name__.startswith("optax.")):
          paths.append(f"{name}.{sub}")  # experimental.aggregating
  return paths


def _get(root, path):
  return functools.reduce(getattr, filter(None, path.split(".")), root)


NAMESPACES = _namespaces()
NAMES = [
    (ns, name)
    for ns in NAMESPACES
    for name in _public_names(_get(optax, ns), nested=ns.count(".") >= 1)
    if not isinstance(getattr(_get(optax, ns), name), types.ModuleType)
]


def _id(ns_name):
  ns, name = ns_name
  return f"optax.{ns}.{name}" if ns else f"optax.{name}"


def _is_signed(obj):
  """Whether obj has a signature to compare (not a type alias, not a typing Protocol)."""
  if inspect.isclass(obj):
    return not getattr(obj, "_is_protocol", False)
  return inspect.isroutine(obj) or isinstance(obj, functools.partial)


CALLABLES = [p for p in NAMES if _is_signed(getattr(_get(optax, p[0]), p[1]))]


def comparable(value):
  """A default value in a form that compares across the two libraries."""
  if value is inspect.Parameter.empty or value is None or isinstance(value, (bool, str)):
    return value
  if isinstance(value, enum.Enum):
    return ("enum", type(value).__name__, value.name)
  if isinstance(value, (int, float, complex, np.number)) and not isinstance(value, bool):
    return ("nan",) if isinstance(value, float) and math.isnan(value) else value
  if isinstance(value, tuple) and hasattr(value, "init") and hasattr(value, "update"):
    return "a GradientTransformation"  # e.g. lbfgs's default line search: compare its kind
  if isinstance(value, (tuple, list)):
    return (type(value).__name__, tuple(comparable(v) for v in value))
  if isinstance(value, dict):
    return ("dict", tuple(sorted((k, comparable(v)) for k, v in value.items())))
  if isinstance(value, np.dtype):
    return ("dtype", str(value))
  if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy or jax array
    array = np.asarray(value)
    return ("array", array.shape, str(array.dtype), tuple(array.ravel().tolist()))
  if isinstance(value, functools.partial):
    return ("partial", comparable(value.func), comparable(value.args),
            comparable(value.keywords))
  if callable(value):
    return ("callable", getattr(value, "__name__", type(value).__name__))
  return ("object", type(value).__name__)


@pytest.mark.parametrize("ns", [n for n in NAMESPACES if n])
def test_namespace_exists(ns):
  assert isinstance(_get(fo, ns), types.ModuleType), f"functional_optim.{ns} is not a namespace"


@pytest.mark.parametrize("ns_name", NAMES, ids=_id)
def test_name_exists(ns_name):
  ns, name = ns_name
  where = f"functional_optim.{ns}" if ns else "functional_optim"
  try:
    namespace = _get(fo, ns)
  except AttributeError:
    pytest.fail(f"{where} is missing (optax.{ns})")
  assert hasattr(namespace, name), f"{where}.{name} is missing"


def _signature(obj):
  try:
    return inspect.signature(obj)
  except (TypeError, ValueError):
    return None


@pytest.mark.parametrize("ns_name", CALLABLES, ids=_id)
def test_signature_matches_optax(ns_name):
  ns, name = ns_name
  theirs = _signature(getattr(_get(optax, ns), name))
  try:
    ours = _signature(getattr(_get(fo, ns), name))
  except AttributeError:
    pytest.fail(f"{_id(ns_name)} is missing from functional_optim")
  assert theirs is not None, "optax's signature is unreadable: this test needs a case for it"
  assert ours is not None, f"{_id(ns_name)}: functional_optim's has no signature"
  theirs, ours = theirs.parameters, ours.parameters
  assert list(ours) == list(theirs), f"{_id(ns_name)}: argument names differ"
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, f"{_id(ns_name)}({arg}): kind differs"
    assert comparable(ours[arg].default) == comparable(theirs[arg].default), (
        f"{_id(ns_name)}({arg}): default differs: {ours[arg].default!r} (ours) vs"
        f" {theirs[arg].default!r} (optax)")


def test_namespaces_are_complete():
  """The list itself: every optax namespace the issue names is covered here."""
  expected = {"tree", "tree_utils", "losses", "contrib", "projections", "second_order",
              "schedules", "transforms", "microbatching", "perturbations", "assignment",
              "experimental"}
  assert expected <= set(NAMESPACES)
