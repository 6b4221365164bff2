"""Hinge, perceptron and sparsemax losses, binary and multiclass, against optax."""

import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array

seeds = st.integers(0, 2**16)


@given(
    shape=parity.shapes(max_rank=3),
    seed=seeds,
    name=st.sampled_from(["hinge_loss", "perceptron_loss", "sparsemax_loss"]),
)
def test_binary_margin_losses(shape, seed, name):
  scores = random_array(seed, shape, scale=2.0)
  labels = np.random.default_rng(seed + 1).integers(0, 2, shape)
  # hinge and perceptron take signed float targets; sparsemax takes {0, 1} labels.
  if name != "sparsemax_loss":
    labels = 2.0 * labels - 1.0
  labels = jnp.asarray(labels, jnp.int32 if name == "sparsemax_loss" else jnp.float32)
  assert_same_loss(getattr(fo.losses, name), getattr(optax.losses, name), (scores, labels))


@given(
    batch=parity.shapes(min_rank=1, max_rank=2, max_side=3),
    k=st.integers(1, 6),
    seed=seeds,
    name=st.sampled_from(["multiclass_hinge_loss", "multiclass_perceptron_loss"]),
)
def test_multiclass_margin_losses(batch, k, seed, name):
  scores = random_array(seed, (*batch, k), scale=2.0)
  labels = jnp.asarray(np.random.default_rng(seed + 1).integers(0, k, batch))
  assert_same_loss(getattr(fo.losses, name), getattr(optax.losses, name), (scores, labels))


@given(
    batch=st.integers(1, 4),
    k=st.integers(1, 6),
    seed=seeds,
    scale=st.sampled_from([0.1, 1.0, 5.0]),
)
def test_multiclass_sparsemax_loss(batch, k, seed, scale):
  scores = random_array(seed, (batch, k), scale=scale)
  labels = jnp.asarray(np.random.default_rng(seed + 1).integers(0, k, batch))
  assert_same_loss(
      fo.losses.multiclass_sparsemax_loss, optax.losses.multiclass_sparsemax_loss, (scores, labels)
  )


def test_sparsemax_losses_vanish_at_the_label():
  scores = jnp.array([[5.0, 0.0, -1.0]])
  assert float(fo.losses.multiclass_sparsemax_loss(scores, jnp.array([0]))[0]) == 0.0
  assert float(fo.losses.sparsemax_loss(jnp.array(2.0), jnp.array(1))) == 0.0
