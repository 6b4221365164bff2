"""functional_optim.second_order against optax.second_order (deprecated there since 0.2.7)."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _public(module):
  return sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))


def test_same_names_and_signatures_as_optax():
  assert _public(fo.second_order) == _public(optax.second_order)
  for name in _public(optax.second_order):
    ours = inspect.signature(getattr(fo.second_order, name)).parameters
    theirs = inspect.signature(getattr(optax.second_order, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ], name


def _loss(params, inputs, targets):
  """A smooth, non-quadratic loss with a dense Hessian across leaves."""
  leaves = jax.tree.leaves(params)
  total = sum(jnp.sum(jnp.cos(inputs * p) * targets + 0.25 * p**4) for p in leaves)
  return total + jnp.tanh(sum(jnp.sum(p) for p in leaves)) ** 2


def _all(second_order, params, v, inputs, targets, loss=_loss):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    return (
        second_order.hvp(loss, v, params, inputs, targets),
        second_order.hessian_diag(loss, params, inputs, targets),
        second_order.fisher_diag(loss, params, inputs, targets),
    )


@given(spec=parity.pytrees(max_rank=2), inputs=st.floats(-2.0, 2.0), targets=st.floats(-2.0, 2.0))
def test_matches_optax(spec, inputs, targets):
  params = spec.build()
  size = sum(np.size(x) for x in jax.tree.leaves(params))
  v = jnp.asarray(np.random.default_rng(spec.seed).normal(size=size), jnp.float32)
  ours = jax.jit(lambda *args: _all(fo.second_order, *args))(params, v, inputs, targets)
  theirs = jax.jit(lambda *args: _all(optax.second_order, *args))(params, v, inputs, targets)
  parity.assert_trees_close(ours, theirs, spec.dtype, "hvp, hessian_diag, fisher_diag")


def test_values_on_a_quadratic():
  """loss = sum((x * w - y)^2): Hessian diag 2x^2, Fisher diag (2x(xw - y))^2."""
  loss = lambda p, x, y: jnp.sum((x * p["w"] - y) ** 2)
  x, params = jnp.array([1.0, 2.0, -3.0]), {"w": jnp.array([0.5, -1.0, 2.0])}
  hv, hd, fd = _all(fo.second_order, params, jnp.array([1.0, 0.0, 2.0]), x, 1.0, loss)
  np.testing.assert_allclose(hv["w"], [2.0, 0.0, 36.0])
  np.testing.assert_allclose(hd, 2 * x**2)
  np.testing.assert_allclose(fd, (2 * x * (x * params["w"] - 1.0)) ** 2)


@pytest.mark.parametrize("name", ["hvp", "hessian_diag", "fisher_diag"])
def test_warns_deprecation_like_optax(name):
  args = {"hvp": (jnp.ones(1),)}.get(name, ()) + ({"w": jnp.ones(1)}, jnp.ones(1), jnp.ones(1))
  with pytest.warns(DeprecationWarning, match=f"{name} is deprecated.*0.2.9"):
    getattr(fo.second_order, name)(lambda p, x, y: jnp.sum(p["w"] * x * y), *args)
