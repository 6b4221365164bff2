"""lookahead against optax, on LookaheadParams(fast, slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 12


def _fast_optimizer(lib, name):
  return {
      "adam": lambda: lib.adam(0.05),
      "sgd_momentum": lambda: lib.sgd(0.1, momentum=0.9),
      "sgd": lambda: lib.sgd(0.2),
  }[name]()


def _grad_at_fast(params, noise):
  return parity.quadratic_grad(params.fast, noise)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    fast=st.sampled_from(["adam", "sgd_momentum", "sgd"]),
    sync_period=st.integers(1, 4),
    slow_step_size=st.floats(0.0, 1.0),
    reset_state=st.booleans(),
)
def test_lookahead(spec, fast, sync_period, slow_step_size, reset_state):
  # The parity harness builds plain params; each library gets its own LookaheadParams.
  params, noise = spec.build(), spec.noise(NUM_STEPS)
  ours = parity.trajectory(
      fo.lookahead(_fast_optimizer(fo, fast), sync_period, slow_step_size, reset_state),
      fo.LookaheadParams.init_synced(params),
      noise,
      apply_updates=fo.apply_updates,
      grad_fn=_grad_at_fast,
  )
  theirs = parity.trajectory(
      optax.lookahead(_fast_optimizer(optax, fast), sync_period, slow_step_size, reset_state),
      optax.LookaheadParams.init_synced(params),
      noise,
      apply_updates=optax.apply_updates,
      grad_fn=_grad_at_fast,
  )
  for name, a, e in zip(("params", "updates", "final state"), ours, theirs):
    parity.assert_trees_close(a, e, spec.dtype, name)
  our_params = ours[0]
  assert isinstance(our_params, fo.LookaheadParams)
  if NUM_STEPS % sync_period == 0:  # just synchronized: fast == slow
    parity.assert_trees_close(
        jax.tree.map(lambda x: x[-1], our_params.fast),
        jax.tree.map(lambda x: x[-1], our_params.slow),
        spec.dtype,
    )


def test_lookahead_init_with_plain_params():
  tx = fo.lookahead(fo.adam(0.1), sync_period=2, slow_step_size=0.5)
  params = {"w": jnp.ones(2)}
  parity.assert_trees_close(
      tx.init(params), tx.init(fo.LookaheadParams.init_synced(params))
  )


def test_lookahead_sync_step():
  tx = fo.lookahead(fo.sgd(1.0), sync_period=2, slow_step_size=0.25)
  params = fo.LookaheadParams.init_synced(jnp.zeros(1))
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(jnp.ones(1), state, params)
    params = fo.apply_updates(params, updates)
  # Two fast steps reach -2; slow moves a quarter of the way there, fast follows.
  np.testing.assert_allclose(params.slow, [-0.5])
  np.testing.assert_allclose(params.fast, [-0.5])
  assert int(state.steps_since_sync) == 0


def test_lookahead_needs_params():
  tx = fo.lookahead(fo.sgd(1.0), sync_period=2, slow_step_size=0.5)
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(1), tx.init(jnp.ones(1)))


def test_invalid_hyperparameters():
  with pytest.raises(ValueError, match="sync_period"):
    fo.lookahead(fo.sgd(0.1), sync_period=0, slow_step_size=0.5)
  with pytest.raises(ValueError, match="slow_step_size"):
    fo.lookahead(fo.sgd(0.1), sync_period=2, slow_step_size=1.5)
  with pytest.raises(ValueError, match="slow_step_size"):
    fo.lookahead(fo.sgd(0.1), sync_period=2, slow_step_size=-0.1)
