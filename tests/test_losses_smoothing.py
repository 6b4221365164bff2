"""smooth_labels against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss


@given(
    batch=parity.shapes(max_rank=2, max_side=3),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    alpha=st.floats(0.0, 1.0),
    masked=st.booleans(),
    axis=st.sampled_from([-1, 0]),
)
def test_smooth_labels(batch, k, seed, alpha, masked, axis):
  shape = (*batch, k)
  labels = jax.nn.one_hot(np.random.default_rng(seed).integers(0, k, batch), k)
  where = None
  if masked:
    mask = np.random.default_rng(seed + 1).random(shape) < 0.7
    mask[..., 0] = True
    mask[0] = True  # no slice along axis 0 is empty either
    where = jnp.asarray(mask)
  assert_same_loss(
      fo.losses.smooth_labels, optax.losses.smooth_labels, (labels, jnp.float32(alpha)),
      dict(axis=axis, where=where), grad_argnums=(0, 1),
  )


def test_smoothed_labels_are_distributions():
  labels = jax.nn.one_hot(jnp.array([0, 3]), 4)
  smoothed = fo.losses.smooth_labels(labels, 0.1)
  np.testing.assert_allclose(smoothed.sum(-1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(smoothed[0], [0.925, 0.025, 0.025, 0.025], rtol=1e-6)
