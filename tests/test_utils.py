"""_utils (multi_normal) against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(shape=st.sampled_from([(1,), (2, 3), (1, 2, 3, 1)]), seed=st.integers(0, 2**16))
def test_multi_normal(shape, seed):
  rng = np.random.default_rng(seed)
  loc = jnp.asarray(rng.normal(size=shape), jnp.float32)
  log_scale = jnp.asarray(rng.normal(size=shape[-1:]), jnp.float32)  # broadcast
  ours, theirs = fo.multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
  key = jax.random.key(seed)
  parity.assert_trees_close(ours.sample((4,), key), theirs.sample((4,), key))
  parity.assert_trees_close(ours.sample([2, 1], key), theirs.sample([2, 1], key))
  x = jnp.ones(shape)
  parity.assert_trees_close(ours.log_prob(x), theirs.log_prob(x))
  parity.assert_trees_close(ours.params, theirs.params)
  parity.assert_trees_close(ours.log_scale, theirs.log_scale)


def test_multi_normal_rejects_shapes_that_do_not_broadcast():
  with pytest.raises(ValueError, match="Incompatible shapes for broadcasting"):
    fo.multi_normal(jnp.zeros((2, 4)), jnp.zeros((3, 4)))
