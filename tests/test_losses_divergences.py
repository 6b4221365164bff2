"""Kullback-Leibler divergences against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array

seeds = st.integers(0, 2**16)
shapes = parity.shapes(min_rank=1, max_rank=3)


def _log_probabilities(seed, shape):
  return jax.nn.log_softmax(random_array(seed, shape, scale=2.0), axis=-1)


def _where(seed, shape, masked):
  return jnp.asarray(np.random.default_rng(seed).random(shape) < 0.7) if masked else None


@given(shape=shapes, seed=seeds, zeros=st.booleans(), masked=st.booleans())
def test_kl_divergence(shape, seed, zeros, masked):
  log_predictions = _log_probabilities(seed, shape)
  targets = jnp.exp(_log_probabilities(seed + 1, shape))
  if zeros:  # 0 log 0 = 0 (the gradient with respect to a zero target is NaN in both)
    targets = jnp.where(np.random.default_rng(seed).random(shape) < 0.3, 0.0, targets)
  assert_same_loss(
      fo.losses.kl_divergence, optax.losses.kl_divergence,
      (log_predictions, targets), dict(where=_where(seed + 2, shape, masked)), grad_argnums=(0, 1),
  )


@given(shape=shapes, seed=seeds, masked=st.booleans(), axis=st.sampled_from([-1, 0, None]))
def test_kl_divergence_with_log_targets(shape, seed, masked, axis):
  assert_same_loss(
      fo.losses.kl_divergence_with_log_targets, optax.losses.kl_divergence_with_log_targets,
      (_log_probabilities(seed, shape), _log_probabilities(seed + 1, shape)),
      dict(axis=axis, where=_where(seed + 2, shape, masked)), grad_argnums=(0, 1),
  )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@given(shape=shapes, seed=seeds, masked=st.booleans(), deprecated=st.booleans())
def test_generalized_kl_divergence(shape, seed, masked, deprecated):
  # Unnormalized distributions.
  log_predictions = random_array(seed, shape)
  targets = jnp.exp(random_array(seed + 1, shape))
  name = "convex_kl_divergence" if deprecated else "generalized_kl_divergence"
  assert_same_loss(
      getattr(fo.losses, name), getattr(optax.losses, name),
      (log_predictions, targets), dict(where=_where(seed + 2, shape, masked)), grad_argnums=(0, 1),
  )


def test_generalized_kl_is_kl_on_distributions():
  log_p, q = _log_probabilities(0, (3, 5)), jnp.exp(_log_probabilities(1, (3, 5)))
  np.testing.assert_allclose(
      fo.losses.generalized_kl_divergence(log_p, q), fo.losses.kl_divergence(log_p, q), atol=1e-6
  )
