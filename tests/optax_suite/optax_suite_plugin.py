"""pytest plugin: runs optax's own test files with every `optax` module replaced by functional_optim.

Load it with `-p optax_suite_plugin` (this folder on PYTHONPATH) in a process of its own: it
installs an import hook for the whole process. `optax_suite_runner.py` starts such processes.

What a substituted test sees (installed at `pytest_configure`, before any test file is imported):

- `optax` and each public namespace (`optax.contrib`, `optax.tree_utils`, ...) is a proxy module
  whose public attributes are functional_optim's (`optax.adam is functional_optim.adam`,
  `optax.contrib.muon is functional_optim.contrib.muon`).
- A private module (`optax._src.alias`, `optax.contrib._muon`, ...) is a proxy that exposes, under
  the same attribute names, the functional_optim counterparts of exactly those of its names that
  optax exports publicly: `alias.adam` is `functional_optim.adam`, `_muon.muon` is
  `functional_optim.contrib.muon`. Which public path each private name has is read off the real
  optax (by object identity) before the hook is installed; the real optax is then dropped from
  `sys.modules`. A name that optax does not export (`alias._scale_by_learning_rate`,
  `numerics.abs_sq`) raises AttributeError naming it "optax-private": tests that need one are
  listed in `optax_suite_exclusions.EXCLUDED`.
- optax's scaffolding is optax's real code, loaded from its files: the test modules themselves
  (`*_test`, e.g. `optax._src.alias_test` that another test imports) and `optax._src.test_utils`.
  Their `optax` imports go through the hook like any other. So are the few private helpers that
  tests use as tools, not as the code under test (`optax_suite_exclusions.SCAFFOLDING_HELPERS`:
  `numerics.abs_sq` in objectives, `utils.x64_precision`, type aliases in annotations): those
  private attributes are the real optax objects.

The plugin also seeds numpy's and Python's global generators before each test, from its id
(`pytest_runtest_setup`), so that runs repeat. It marks the tests listed in
`optax_suite_exclusions` (EXCLUDED: skip with the reason; KNOWN_FAILURES: strict xfail) and, when
`OPTAX_SUITE_REPORT` names a file, writes every test's outcome there as JSON for the runner.
"""

import fnmatch
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import sys
import random
import types
import zlib

SCAFFOLDING_MODULES = ("test_utils",)  # besides every `*_test` module
MODULE_ITSELF = "<module>"  # key, in a private module's names, of the public path of the module


def _is_scaffolding(name):
  leaf = name.rsplit(".", 1)[-1]
  return leaf.endswith("_test") or leaf in SCAFFOLDING_MODULES


def real_optax_dir():
  """The installed optax package's folder (found without importing it)."""
  spec = importlib.machinery.PathFinder.find_spec("optax")
  if spec is None or not spec.submodule_search_locations:
    raise RuntimeError("optax is not installed: it is the reference whose tests this runs")
  return pathlib.Path(list(spec.submodule_search_locations)[0])


# --------------------------------------------------------------------------------------------
# Which public optax path each name of each private optax module has (read from the real optax).
# --------------------------------------------------------------------------------------------


def _public_names(module, curated):
  """A module's public names: all of dir() for optax and its namespaces (their __init__ files
  choose what they import); for a deeper module optax exports (experimental.aggregating), its
  __all__ or else the names it defines, not what it happens to import."""
  if curated:
    return [n for n in dir(module) if not n.startswith("_")]
  if hasattr(module, "__all__"):
    return list(module.__all__)
  return [n for n, v in vars(module).items()
          if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]


def _public_paths(optax):
  """id(object) -> public dotted paths under optax ("adam", "contrib.muon", "tree_utils",
  "experimental.aggregating.process")."""
  index = {}
  seen = set()

  def visit(module, prefix, depth):
    if id(module) in seen:
      return
    seen.add(id(module))
    for name in _public_names(module, curated=depth <= 1):
      obj = getattr(module, name)
      path = prefix + name
      if isinstance(obj, (bool, int, float, complex, str, bytes, type(None))):
        continue  # identity of small values means nothing
      if isinstance(obj, types.ModuleType):
        if not obj.__name__.startswith("optax."):
          continue  # a module a namespace imported (optax.tree_utils.functools), not an export
        if depth >= 2 and any(p.startswith("_") for p in obj.__name__.split(".")):
          continue  # optax._src.base imported by an exported module
        index.setdefault(id(obj), []).append(path)
        visit(obj, path + ".", depth + 1)
        continue
      index.setdefault(id(obj), []).append(path)

  visit(optax, "", 0)
  return index


def _preferred(paths, module_name, attr):
  """The path a private module's name stands for: the same name first (safe_int32_increment is
  safe_increment's object), in its own namespace first, then at the top level."""
  parts = module_name.split(".")
  namespace = parts[1] if len(parts) > 1 and not parts[1].startswith("_") else None

  def rank(path):
    renamed = path.rsplit(".", 1)[-1] != attr
    if namespace and path.startswith(namespace + "."):
      return (renamed, 0, len(path), path)
    if "." not in path:
      return (renamed, 1, len(path), path)
    return (renamed, 2, len(path), path)

  return min(paths, key=rank)


def compute_public_map(helpers=()):
  """({private optax module: {attribute: public path}}, {(module, attribute): object}).

  Reads the real optax (imported, then dropped from sys.modules): the public path of each name of
  each module, and the objects of the scaffolding `helpers` ("optax._src.numerics.abs_sq"), which
  keep working after the drop. Must run before the hook is installed.
  """
  before = set(sys.modules)
  import optax  # pylint: disable=g-import-not-at-top

  index = _public_paths(optax)
  root = pathlib.Path(optax.__file__).parent
  result = {}
  found = {}
  try:
    # Walk the files: pkgutil skips optax/_src, a namespace package (no __init__.py).
    for source in sorted(root.rglob("*.py")):
      parts = source.relative_to(root).with_suffix("").parts
      if parts[-1] == "__init__":
        parts = parts[:-1]
      name = ".".join(("optax",) + parts)
      if _is_scaffolding(name) or name.endswith("_benchmark"):
        continue
      try:
        module = importlib.import_module(name)
      except Exception:  # pylint: disable=broad-except  (an optional dependency missing)
        continue
      names = {}
      if id(module) in index:  # a private module optax exports (experimental.aggregating)
        names[MODULE_ITSELF] = _preferred(index[id(module)], name, name.rsplit(".", 1)[-1].lstrip("_"))
      for attr, obj in vars(module).items():
        if attr.startswith("_"):
          continue
        paths = index.get(id(obj))
        if paths:
          names[attr] = _preferred(paths, name, attr)
      result[name] = names
      for helper in helpers:
        module_name, attr = helper.rsplit(".", 1)
        if module_name == name:
          found[(module_name, attr)] = getattr(module, attr)
  finally:
    for name in list(sys.modules):
      if (name == "optax" or name.startswith("optax.")) and name not in before:
        del sys.modules[name]
  missing = set(helpers) - {f"{m}.{a}" for m, a in found}
  if missing:
    raise RuntimeError(f"scaffolding helpers not found in optax: {sorted(missing)}")
  return result, found


# --------------------------------------------------------------------------------------------
# The proxies and the import hook.
# --------------------------------------------------------------------------------------------


def resolve_fo(path):
  """functional_optim's object at a dotted public path ("" is the package)."""
  import functional_optim  # pylint: disable=g-import-not-at-top

  obj = functional_optim
  done = "functional_optim"
  for part in filter(None, path.split(".")):
    try:
      obj = getattr(obj, part)
    except AttributeError:
      if isinstance(obj, types.ModuleType):
        try:  # a namespace the package has not imported itself
          obj = importlib.import_module(f"{obj.__name__}.{part}")
        except ModuleNotFoundError:
          raise AttributeError(f"{done} has no attribute {part!r} (optax has it)") from None
      else:
        raise AttributeError(f"{done} has no attribute {part!r} (optax has it)") from None
    done += "." + part
  return obj


class PublicProxy(types.ModuleType):
  """`optax` or `optax.<namespace>`: the public names of functional_optim's counterpart."""

  def __init__(self, name, fo_path):
    super().__init__(name, f"functional_optim{'.' if fo_path else ''}{fo_path} standing in for {name}")
    self._fo_path = fo_path

  def _target(self):
    return resolve_fo(self._fo_path)

  def __getattr__(self, attr):
    if attr.startswith("_"):
      raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
    value = getattr(self._target(), attr)  # AttributeError names what is missing
    if isinstance(value, types.ModuleType):
      return importlib.import_module(f"{self.__name__}.{attr}")
    return value

  def __dir__(self):
    return sorted(n for n in dir(self._target()) if not n.startswith("_"))


class PrivateProxy(types.ModuleType):
  """A private optax module: its optax-public names, resolved in functional_optim."""

  def __init__(self, name, public_names, helpers):
    super().__init__(name, f"functional_optim's counterparts of {name}'s public names")
    self._public_names = dict(public_names)
    self._helpers = dict(helpers)

  def __getattr__(self, attr):
    if attr.startswith("__"):
      raise AttributeError(attr)
    if attr in self._helpers:  # optax's own test tool (SCAFFOLDING_HELPERS)
      return self._helpers[attr]
    path = self._public_names.get(attr)
    if path is None:
      raise AttributeError(
          f"{self.__name__}.{attr} is optax-private (not in optax's public API), so the"
          " optax suite does not substitute it: list the test in optax_suite_exclusions.EXCLUDED"
      )
    value = resolve_fo(path)
    if isinstance(value, types.ModuleType):
      return importlib.import_module(f"optax.{path}")
    return value

  def __dir__(self):
    return sorted(set(self._public_names) | set(self._helpers))


class _ProxyLoader(importlib.abc.Loader):

  def __init__(self, make):
    self._make = make

  def create_module(self, spec):
    return self._make()

  def exec_module(self, module):
    pass


class OptaxSubstitution(importlib.abc.MetaPathFinder):
  """Answers every `optax` / `optax.*` import (see the module docstring)."""

  def __init__(self, optax_dir, public_map, helpers):
    self.optax_dir = pathlib.Path(optax_dir)
    self.public_map = public_map
    self.helpers = helpers

  def find_spec(self, fullname, path=None, target=None):
    if fullname != "optax" and not fullname.startswith("optax."):
      return None
    rel = fullname.split(".")[1:]
    real = self.optax_dir.joinpath(*rel)
    if _is_scaffolding(fullname):
      source = real.with_suffix(".py")
      if not source.is_file():
        return None
      return importlib.util.spec_from_file_location(fullname, source)
    is_package = real.is_dir()  # optax/_src has no __init__.py: a namespace package
    if not is_package and not real.with_suffix(".py").is_file():
      return None  # optax has no such module either
    if all(not part.startswith("_") for part in rel):
      fo_path = ".".join(rel)
      try:
        resolve_fo(fo_path)
      except AttributeError as e:
        raise ModuleNotFoundError(f"no functional_optim namespace stands in for {fullname}: {e}",
                                  name=fullname) from None
      make = lambda: PublicProxy(fullname, fo_path)
    elif MODULE_ITSELF in self.public_map.get(fullname, {}):
      fo_path = self.public_map[fullname][MODULE_ITSELF]
      make = lambda: PublicProxy(fullname, fo_path)
    else:
      names = self.public_map.get(fullname, {})
      helpers = {a: obj for (m, a), obj in self.helpers.items() if m == fullname}
      make = lambda: PrivateProxy(fullname, names, helpers)
    return importlib.util.spec_from_loader(fullname, _ProxyLoader(make), is_package=is_package)


def install():
  """Installs the substitution in this process (idempotent); returns the finder."""
  for finder in sys.meta_path:
    if isinstance(finder, OptaxSubstitution):
      return finder
  import optax_suite_exclusions  # pylint: disable=g-import-not-at-top

  optax_dir = real_optax_dir()
  public_map, helpers = compute_public_map(optax_suite_exclusions.SCAFFOLDING_HELPERS)
  for name in list(sys.modules):
    if name == "optax" or name.startswith("optax."):
      del sys.modules[name]
  finder = OptaxSubstitution(optax_dir, public_map, helpers)
  sys.meta_path.insert(0, finder)
  return finder


# --------------------------------------------------------------------------------------------
# pytest hooks (active only where this module is loaded as a plugin).
# --------------------------------------------------------------------------------------------

_OUTCOMES = {}  # nodeid -> {"outcome": ..., "detail": ...}
_COLLECT_ERRORS = {}  # nodeid -> message
_SEVERITY = ["passed", "excluded", "skipped", "xfailed", "xpassed", "failed", "error"]


def pytest_configure(config):
  sys.dont_write_bytecode = True  # nothing is written into optax's folder
  install()
  config.addinivalue_line("markers", "optax_suite_excluded(reason): reaches an optax-private helper")


def pytest_runtest_setup(item):
  """Seeds numpy's and Python's global generators from the test's id, so that a run repeats.

  Some of optax's tests draw their inputs from numpy's global generator unseeded, and a few
  compare float32 results with tolerances that rare draws exceed: microbatching's
  `test_microbatch_with_kwargs` fails for 1 seed in 4,000 with optax itself (bit-identical to
  functional_optim's result for every seed tried). A seed per test id gives each test the same
  inputs in every run, whichever tests ran before it.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  seed = zlib.crc32(item.nodeid.encode())
  np.random.seed(seed)
  random.seed(seed)


def _lookup(table, nodeid):
  if nodeid in table:
    return table[nodeid]
  for pattern, reason in table.items():
    if "*" in pattern and fnmatch.fnmatchcase(nodeid, pattern):
      return reason
  return None


def pytest_collection_modifyitems(session, config, items):
  import pytest  # pylint: disable=g-import-not-at-top
  import optax_suite_exclusions as lists  # pylint: disable=g-import-not-at-top

  for item in items:
    reason = _lookup(lists.EXCLUDED, item.nodeid)
    if reason is not None:
      item.add_marker(pytest.mark.optax_suite_excluded(reason))
      item.add_marker(pytest.mark.skip(reason=f"excluded: {reason}"))
      continue
    reason = _lookup(lists.KNOWN_FAILURES, item.nodeid)
    if reason is not None:
      item.add_marker(pytest.mark.xfail(reason=f"known failure: {reason}", strict=True))


def _short(longrepr, limit=1500):
  text = str(longrepr) if longrepr is not None else ""
  lines = [l for l in text.splitlines() if l.startswith("E ")] or text.splitlines()[-5:]
  return "\n".join(lines)[:limit]


def pytest_runtest_logreport(report):
  xfail = hasattr(report, "wasxfail")
  if report.skipped:
    if xfail:
      outcome = "xfailed"
    elif "optax_suite_excluded" in report.keywords:
      outcome = "excluded"
    else:
      outcome = "skipped"
  elif report.failed:
    outcome = "failed" if report.when == "call" else "error"
  else:
    outcome = "xpassed" if xfail else "passed"
  detail = ""
  if outcome in ("failed", "error"):
    detail = _short(report.longrepr)
    if "XPASS(strict)" in str(report.longrepr):
      detail = "passes now: remove it from KNOWN_FAILURES. " + detail
  elif outcome in ("skipped", "excluded") and isinstance(report.longrepr, tuple):
    detail = str(report.longrepr[2])
  elif outcome in ("xfailed", "xpassed"):
    detail = str(report.wasxfail)
  old = _OUTCOMES.get(report.nodeid)
  seconds = report.duration + (old["seconds"] if old else 0.0)
  if old is None or _SEVERITY.index(outcome) > _SEVERITY.index(old["outcome"]):
    _OUTCOMES[report.nodeid] = {"outcome": outcome, "detail": detail}
  _OUTCOMES[report.nodeid]["seconds"] = seconds


def pytest_collectreport(report):
  if report.failed:
    _COLLECT_ERRORS[report.nodeid] = _short(report.longrepr, 3000)


def pytest_sessionfinish(session, exitstatus):
  path = os.environ.get("OPTAX_SUITE_REPORT")
  if path:
    with open(path, "w") as f:
      json.dump({"tests": _OUTCOMES, "collect_errors": _COLLECT_ERRORS}, f, indent=1)
