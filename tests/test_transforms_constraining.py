"""keep_params_nonnegative and zero_nans against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


# Real dtypes only: non-negativity is undefined for complex parameters.
@given(spec=parity.pytrees(parity.REAL_DTYPES), learning_rate=st.floats(1e-3, 2.0))
def test_keep_params_nonnegative(spec, learning_rate):
  parity.assert_same_trajectory(
      fo.chain(fo.sgd(learning_rate), fo.keep_params_nonnegative()),
      optax.chain(optax.sgd(learning_rate), optax.keep_params_nonnegative()),
      spec,
  )


def test_keep_params_nonnegative_clamps_at_zero():
  params = jnp.array([1.0, 2.0, 0.5])
  tx = fo.keep_params_nonnegative()
  updates, _ = tx.update(jnp.array([-3.0, -1.0, 0.5]), tx.init(params), params)
  assert jnp.array_equal(fo.apply_updates(params, updates), jnp.array([0.0, 1.0, 1.0]))
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params), None)


def grads_with_nans(params, noise):
  """Quadratic gradients, NaN wherever the noise is large (about 16% of entries)."""
  grads = parity.quadratic_grad(params, noise)
  return jax.tree.map(lambda g, n: jnp.where(n.real > 1.0, jnp.nan, g), grads, noise)


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_zero_nans(spec):
  parity.assert_same_trajectory(
      fo.zero_nans(), optax.zero_nans(), spec, grad_fn=grads_with_nans
  )


def test_zero_nans_state_flags_leaves():
  tx = fo.zero_nans()
  params = {"a": jnp.zeros(2), "b": jnp.zeros(3)}
  state = tx.init(params)
  assert not any(jax.tree.leaves(state.found_nan))
  updates, state = tx.update({"a": jnp.array([jnp.nan, 1.0]), "b": jnp.ones(3)}, state)
  assert state.found_nan == {"a": True, "b": False}
  assert jnp.array_equal(updates["a"], jnp.array([0.0, 1.0]))
