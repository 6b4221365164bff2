"""Squared error, L2, Huber, log-cosh and cosine losses against optax."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array

seeds = st.integers(0, 2**16)
dtypes = st.sampled_from(parity.REAL_DTYPES)


@given(
    shape=parity.shapes(max_rank=3),
    seed=seeds,
    dtype=dtypes,
    with_targets=st.booleans(),
    name=st.sampled_from(["squared_error", "l2_loss", "huber_loss", "log_cosh"]),
    delta=st.floats(0.1, 3.0),
)
def test_elementwise_losses(shape, seed, dtype, with_targets, name, delta):
  predictions = random_array(seed, shape, dtype, scale=2.0)
  targets = random_array(seed + 1, shape, dtype, scale=2.0) if with_targets else None
  kwargs = dict(delta=delta) if name == "huber_loss" else {}
  assert_same_loss(
      getattr(fo.losses, name), getattr(optax.losses, name), (predictions, targets), kwargs,
      dtype=dtype,
  )


@given(
    batch=parity.shapes(max_rank=2, max_side=3),
    dim=st.integers(1, 5),
    seed=seeds,
    epsilon=st.sampled_from([0.0, 1e-3, 0.5]),
    masked=st.booleans(),
    name=st.sampled_from(["cosine_similarity", "cosine_distance"]),
)
def test_cosine_losses(batch, dim, seed, epsilon, masked, name):
  shape = (*batch, dim)
  where = None
  if masked:
    mask = np.random.default_rng(seed).random(shape) < 0.7
    mask[..., 0] = True
    where = jnp.asarray(mask)
  assert_same_loss(
      getattr(fo.losses, name), getattr(optax.losses, name),
      (random_array(seed, shape), random_array(seed + 1, shape)),
      dict(epsilon=epsilon, where=where), grad_argnums=(0, 1),
  )


@given(shape=parity.shapes(min_rank=2, max_rank=3, max_side=3), seed=seeds)
def test_cosine_similarity_over_axes(shape, seed):
  assert_same_loss(
      fo.losses.cosine_similarity, optax.losses.cosine_similarity,
      (random_array(seed, shape), random_array(seed + 1, shape)), dict(axis=(0, -1)),
  )


def test_squared_error_does_not_broadcast():
  with pytest.raises(ValueError, match="Shape mismatch"):
    fo.losses.squared_error(jnp.zeros((2, 3)), jnp.zeros((3,)))
  with pytest.raises(TypeError):
    fo.losses.huber_loss(jnp.zeros((2,), jnp.int32))
