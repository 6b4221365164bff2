"""flatten against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _inner(lib, name):
  return {
      "adam": lambda: lib.adam(0.05),
      "sgd_momentum": lambda: lib.sgd(0.1, momentum=0.9),
      "decay": lambda: lib.chain(lib.add_decayed_weights(0.1), lib.scale(-0.1)),
  }[name]()


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=st.sampled_from(["adam", "sgd_momentum", "decay"]),
)
def test_flatten(spec, inner):
  parity.assert_same_trajectory(fo.flatten(_inner(fo, inner)), optax.flatten(_inner(optax, inner)), spec)


def _value_scaler(lib):
  def update_fn(updates, state, params=None, *, value):
    del params
    return updates * value, state

  return lib.GradientTransformationExtraArgs(lib.init_empty_state, update_fn)


@given(spec=parity.pytrees(parity.REAL_DTYPES))
def test_flatten_forwards_extra_args(spec):
  parity.assert_same_trajectory(
      fo.flatten(fo.chain(_value_scaler(fo), fo.sgd(0.1))),
      optax.flatten(optax.chain(_value_scaler(optax), optax.sgd(0.1))),
      spec,
      extra_args_fn=lambda p, g: {"value": jnp.float32(0.5)},
  )


def test_flatten_state_is_flat():
  params = {"a": jnp.ones((2, 3)), "b": jnp.ones(()), "c": jnp.ones(4)}
  state = fo.flatten(fo.adam(0.1)).init(params)
  assert state[0].mu.shape == (11,)
  updates, _ = fo.flatten(fo.sgd(1.0)).update(params, fo.flatten(fo.sgd(1.0)).init(params))
  assert jax.tree.map(jnp.shape, updates) == jax.tree.map(jnp.shape, params)
  np.testing.assert_array_equal(updates["a"], -np.ones((2, 3)))
