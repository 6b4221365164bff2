"""functional_optim.assignment against optax.assignment and scipy's linear_sum_assignment."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo

try:
  from scipy.optimize import linear_sum_assignment
except ImportError:  # scipy is optional: the optimal cost is then checked against optax only
  linear_sum_assignment = None

ALGORITHMS = ["hungarian_algorithm", "base_hungarian_algorithm"]
# A few shapes, so compiled programs are reused across examples: empty, square,
# wide and tall.
SHAPES = [(0, 3), (3, 0), (1, 1), (1, 4), (4, 1), (4, 4), (3, 6), (6, 3)]


@functools.cache
def _jitted(module, name):
  return jax.jit(getattr(module, name))


def _costs(seed, shape, kind):
  rng = np.random.default_rng(seed)
  if kind == "normal":
    return jnp.asarray(rng.normal(size=shape), jnp.float32)
  if kind == "ties":  # small integers: many optimal assignments, tie-breaking matters
    return jnp.asarray(rng.integers(0, 3, size=shape), jnp.int32)
  return jnp.asarray(rng.uniform(-100.0, 100.0, size=shape).round(), jnp.float32)


def _check_assignment(costs, i, j):
  r = min(costs.shape)
  assert i.shape == j.shape == (r,)
  assert jnp.issubdtype(i.dtype, jnp.integer) and jnp.issubdtype(j.dtype, jnp.integer)
  i, j = np.asarray(i), np.asarray(j)
  assert len(set(i.tolist())) == r and len(set(j.tolist())) == r
  assert ((0 <= i) & (i < costs.shape[0])).all() and ((0 <= j) & (j < costs.shape[1])).all()


@pytest.mark.parametrize("name", ALGORITHMS)
@given(
    shape=st.sampled_from(SHAPES),
    kind=st.sampled_from(["normal", "ties", "rounded"]),
    seed=st.integers(0, 2**16),
)
def test_matches_optax_and_is_optimal(name, shape, kind, seed):
  costs = _costs(seed, shape, kind)
  i, j = _jitted(fo.assignment, name)(costs)
  _check_assignment(costs, i, j)
  their_i, their_j = _jitted(optax.assignment, name)(costs)
  np.testing.assert_array_equal(i, their_i)
  np.testing.assert_array_equal(j, their_j)
  if linear_sum_assignment is not None:
    best_i, best_j = linear_sum_assignment(np.asarray(costs))
    np.testing.assert_allclose(
        np.asarray(costs)[np.asarray(i), np.asarray(j)].sum(),
        np.asarray(costs)[best_i, best_j].sum(),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ALGORITHMS)
def test_vmap(name):
  costs = jax.random.normal(jax.random.key(0), (5, 3, 4))
  i, j = jax.vmap(getattr(fo.assignment, name))(costs)
  their_i, their_j = jax.vmap(getattr(optax.assignment, name))(costs)
  np.testing.assert_array_equal(i, their_i)
  np.testing.assert_array_equal(j, their_j)
  for k in range(costs.shape[0]):
    _check_assignment(costs[k], i[k], j[k])


@pytest.mark.parametrize("name", ALGORITHMS)
def test_docstring_example(name):
  cost = jnp.array([[90, 80, 75, 70], [35, 85, 55, 65], [125, 95, 90, 95], [45, 110, 95, 115],
                    [50, 100, 90, 100]])
  i, j = getattr(fo.assignment, name)(cost)
  assert cost[i, j].sum() == 265


def test_base_hungarian_algorithm_rows_increase():
  costs = jax.random.normal(jax.random.key(1), (6, 3))
  i, _ = fo.assignment.base_hungarian_algorithm(costs)
  assert (np.diff(np.asarray(i)) > 0).all()


def test_public_surface_matches_optax():
  assert sorted(fo.assignment.__all__) == sorted(
      n for n in dir(optax.assignment) if not n.startswith("_")
  )
