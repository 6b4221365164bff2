"""functional_optim.projections against optax.projections."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

BALLS = ("l1_ball", "l1_sphere", "l2_ball", "l2_sphere", "linf_ball", "simplex", "hypercube")

# optax 0.2.8's projection_box (so projection_hypercube, whose default scale is the scalar 1)
# documents scalar bounds but raises for a tree with several leaves: it maps `jnp.clip` over
# (tree, lower, upper) without broadcasting a scalar bound. Ours applies the scalar to every leaf,
# which is what optax's own projection_linf_ball does by hand with `tree.full_like`.
OPTAX_BOX_REJECTS_SCALAR_BOUNDS_FOR_TREES = True


def _public(module):
  return sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))


def test_same_names_and_signatures_as_optax():
  assert _public(fo.projections) == _public(optax.projections)
  for name in _public(optax.projections):
    ours = inspect.signature(getattr(fo.projections, name)).parameters
    theirs = inspect.signature(getattr(optax.projections, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ], name


def _all_projections(projections, tree, scale, a, b):
  """Every projection of `tree` at once, so each example compiles one program per library."""
  out = {name: getattr(projections, f"projection_{name}")(tree, scale) for name in BALLS[:-1]}
  if projections is optax.projections and OPTAX_BOX_REJECTS_SCALAR_BOUNDS_FOR_TREES:
    out["hypercube"] = projections.projection_box(
        tree, optax.tree.full_like(tree, 0.0), optax.tree.full_like(tree, scale)
    )
  else:
    out["hypercube"] = projections.projection_hypercube(tree, scale)
  out["non_negative"] = projections.projection_non_negative(tree)
  out["box"] = projections.projection_box(
      tree, jax.tree.map(lambda x: -jnp.abs(x), a), jax.tree.map(lambda x: 0.5 * jnp.abs(x), a)
  )
  out["vector"] = projections.projection_vector(tree, a)
  out["hyperplane"] = projections.projection_hyperplane(tree, a, b)
  out["halfspace"] = projections.projection_halfspace(tree, a, b)
  return out


# float32 only: in bfloat16 the simplex projection computes in float32, and the two branches of
# optax's (and our) projection_l1_ball's `lax.cond` then disagree on the dtype (a TypeError).
@given(spec=parity.pytrees(), scale=st.floats(0.05, 20.0), b=st.floats(-5.0, 5.0))
def test_projections_match_optax(spec, scale, b):
  tree = spec.build()
  a = parity.TreeSpec(spec.shapes, spec.dtype, spec.seed + 7).build()
  ours = jax.jit(lambda *args: _all_projections(fo.projections, *args))(tree, scale, a, b)
  theirs = jax.jit(lambda *args: _all_projections(optax.projections, *args))(tree, scale, a, b)
  for name in theirs:
    parity.assert_trees_close(ours[name], theirs[name], spec.dtype, name)
  _assert_in_their_sets(ours, scale)


def _assert_in_their_sets(out, scale):
  leaves = lambda name: np.concatenate([np.ravel(x) for x in jax.tree.leaves(out[name])])
  tol = 1e-4 * max(scale, 1.0)
  assert np.sum(np.abs(leaves("l1_ball"))) <= scale + tol
  np.testing.assert_allclose(np.sum(np.abs(leaves("l1_sphere"))), scale, rtol=1e-4)
  np.testing.assert_allclose(np.sum(leaves("simplex")), scale, rtol=1e-4)
  assert np.all(leaves("simplex") >= 0)
  assert np.linalg.norm(leaves("l2_ball")) <= scale + tol
  assert np.max(np.abs(leaves("linf_ball"))) <= scale
  assert np.all((leaves("hypercube") >= 0) & (leaves("hypercube") <= scale))
  assert np.all(leaves("non_negative") >= 0)


@given(spec=parity.pytrees(), scale=st.floats(0.05, 20.0))
def test_simplex_and_l1_derivatives_match_optax(spec, scale):
  """The simplex projection has a custom JVP; the l1 projections differentiate through it."""
  tree = spec.build()
  tangent = parity.TreeSpec(spec.shapes, spec.dtype, spec.seed + 3).build()

  def jvps(projections, t, dt):
    return {
        name: jax.jvp(lambda x: getattr(projections, f"projection_{name}")(x, scale), (t,), (dt,))
        for name in ("simplex", "l1_ball", "l1_sphere")
    }

  ours = jax.jit(lambda t, dt: jvps(fo.projections, t, dt))(tree, tangent)
  theirs = jax.jit(lambda t, dt: jvps(optax.projections, t, dt))(tree, tangent)
  parity.assert_trees_close(ours, theirs, spec.dtype, "jvp")


def test_scalar_bounds_apply_to_every_leaf():
  tree = {"a": jnp.array([-1.0, 0.5, 3.0]), "b": (jnp.array(2.0), jnp.array(-2.0))}
  expected = {"a": jnp.array([0.0, 0.5, 1.0]), "b": (jnp.array(1.0), jnp.array(0.0))}
  parity.assert_trees_close(fo.projections.projection_hypercube(tree), expected)
  parity.assert_trees_close(fo.projections.projection_box(tree, 0.0, 1.0), expected)
  if OPTAX_BOX_REJECTS_SCALAR_BOUNDS_FOR_TREES:
    with pytest.raises(ValueError):
      optax.projections.projection_hypercube(tree)
  else:
    parity.assert_trees_close(optax.projections.projection_hypercube(tree), expected)
