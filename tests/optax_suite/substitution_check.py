"""Checks the substitution itself: optax_suite_runner runs this file in every substituted process.

Not a test file of the project's own run (its name does not match test_*.py): here `optax` is the
real one. Through the runner, the tests below prove that what optax's tests exercise is
functional_optim.
"""

import sys

import pytest

import functional_optim as fo


def test_optax_names_are_functional_optims():
  import optax  # pylint: disable=g-import-not-at-top
  from optax._src import alias  # pylint: disable=g-import-not-at-top
  from optax._src import base  # pylint: disable=g-import-not-at-top
  from optax._src import update  # pylint: disable=g-import-not-at-top
  import optax.tree  # pylint: disable=g-import-not-at-top

  assert type(optax).__name__ == "PublicProxy"
  assert optax.adam is fo.adam
  assert alias.adam is fo.adam
  assert alias.sgd is fo.sgd
  assert base.GradientTransformation is fo.GradientTransformation
  assert update.apply_updates is fo.apply_updates
  assert optax.tree.add is fo.tree.add


def test_only_scaffolding_is_optax_code():
  """Every optax module loaded is a proxy, except the test modules and optax._src.test_utils."""
  loaded = {n: m for n, m in sys.modules.items() if n == "optax" or n.startswith("optax.")}
  assert "optax._src.alias" in loaded or "optax" in loaded
  for name, module in loaded.items():
    if type(module).__name__ in ("PublicProxy", "PrivateProxy"):
      continue
    leaf = name.rsplit(".", 1)[-1]
    assert leaf.endswith("_test") or leaf == "test_utils", f"{name} is optax's own code: {module!r}"


def test_optax_private_names_are_not_substituted():
  from optax._src import utils  # pylint: disable=g-import-not-at-top
  from optax.contrib import _muon  # pylint: disable=g-import-not-at-top

  with pytest.raises(AttributeError, match="optax-private"):
    utils.canonicalize_dtype  # pylint: disable=pointless-statement
  with pytest.raises(AttributeError, match="optax-private"):
    _muon.orthogonalize_via_newton_schulz  # pylint: disable=pointless-statement
  assert _muon.muon is fo.contrib.muon


def test_scaffolding_helpers_are_optax_tools():
  """The listed private test tools are optax's own objects (not functional_optim's)."""
  from optax._src import numerics  # pylint: disable=g-import-not-at-top
  from optax._src import utils  # pylint: disable=g-import-not-at-top

  assert numerics.abs_sq.__module__ == "optax._src.numerics"
  assert utils.x64_precision.__module__ == "optax._src.utils"
  assert numerics.safe_norm is fo.safe_norm  # public names stay functional_optim's
