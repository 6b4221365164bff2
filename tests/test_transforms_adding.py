"""add_decayed_weights and add_noise against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Masks for the trees of parity.pytrees: a prefix tree, and a function of the params.
PREFIX_MASK = {"dense": True, "extra": False}
matrices_only = lambda params: jax.tree.map(lambda x: x.ndim > 1, params)

weight_decays = (
    st.just(0.0)
    | st.floats(0.0, 1.0)
    | st.floats(0.5, 1.0).map(lambda decay: lambda count: 0.1 * decay**count)
)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    weight_decay=weight_decays,
    mask=st.sampled_from([None, True, False, PREFIX_MASK, matrices_only]),
)
def test_add_decayed_weights(spec, weight_decay, mask):
  parity.assert_same_trajectory(
      fo.add_decayed_weights(weight_decay, mask),
      optax.add_decayed_weights(weight_decay, mask),
      spec,
  )


def test_add_decayed_weights_needs_params():
  tx = fo.add_decayed_weights(0.1)
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)), None)


def test_add_decayed_weights_keeps_none_updates():
  tx = fo.add_decayed_weights(0.5)
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  updates, _ = tx.update({"a": jnp.zeros(2), "b": None}, tx.init(params), params)
  assert updates["b"] is None
  np.testing.assert_allclose(updates["a"], 0.5)


# Compiling the random sampling is slow: at most two leaves per tree.
@given(
    spec=parity.pytrees(parity.ALL_DTYPES, max_leaves=2),
    eta=st.floats(0.0, 1.0),
    gamma=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**31 - 1),
    key_kind=st.sampled_from(["int", "typed", "seed keyword"]),
)
def test_add_noise(spec, eta, gamma, seed, key_kind):
  if key_kind == "seed keyword":
    ours, theirs = fo.add_noise(eta, gamma, seed=seed), optax.add_noise(eta, gamma, seed=seed)
  else:
    key = jax.random.key(seed) if key_kind == "typed" else seed
    ours, theirs = fo.add_noise(eta, gamma, key), optax.add_noise(eta, gamma, key)
  parity.assert_same_trajectory(ours, theirs, spec)


def test_add_noise_default_key_is_zero():
  params = jnp.zeros(4)
  ours = fo.add_noise(1.0, 0.0)
  theirs = optax.add_noise(1.0, 0.0, 0)
  ours_updates, ours_state = ours.update(params, ours.init(params))
  theirs_updates, theirs_state = theirs.update(params, theirs.init(params))
  parity.assert_trees_close(ours_updates, theirs_updates)
  assert jnp.array_equal(
      jax.random.key_data(ours_state.rng_key), jax.random.key_data(theirs_state.rng_key)
  )


def test_add_noise_key_and_seed_rejected():
  with pytest.raises(ValueError, match="seed"):
    fo.add_noise(0.1, 0.5, key=0, seed=0)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fo.add_decayed_weights(-0.1), "weight_decay"),
        (lambda: fo.add_noise(eta=-0.1, gamma=0.5), "eta"),
        (lambda: fo.add_noise(eta=0.1, gamma=-0.5), "gamma"),
    ],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()
