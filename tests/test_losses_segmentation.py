"""Dice, generalized Dice and binary Dice losses against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array

# optax 0.2.8 checks `apply_softmax=False` predictions with a Python `if` on array values,
# which raises a TracerBoolConversionError under jit. Ours skips the check when tracing.
OPTAX_DICE_CHECK_BREAKS_JIT = True
# optax 0.2.8 requires every single-channel (binary) probability to "sum to 1", so
# `binary_dice_loss(..., apply_sigmoid=False)` rejects any prediction but 1. Ours checks
# that a single channel lies in [0, 1].
OPTAX_BINARY_DICE_REJECTS_PROBABILITIES = True

seeds = st.integers(0, 2**16)
spatial = parity.shapes(min_rank=0, max_rank=2, max_side=3)


def _one_hot_targets(seed, batch, spatial_shape, k):
  labels = np.random.default_rng(seed).integers(0, k, (batch, *spatial_shape))
  return jax.nn.one_hot(labels, k)


@given(
    seed=seeds,
    batch=st.integers(1, 3),
    spatial_shape=spatial,
    k=st.integers(1, 4),
    weighted=st.booleans(),
    smooth=st.floats(0.0, 2.0),
    alpha=st.floats(0.0, 1.0),
    beta=st.floats(0.0, 1.0),
    apply_softmax=st.booleans(),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    ignore_background=st.booleans(),
)
def test_dice_loss(
    seed, batch, spatial_shape, k, weighted, smooth, alpha, beta, apply_softmax, reduction,
    ignore_background,
):
  shape = (batch, *spatial_shape, k)
  logits = random_array(seed, shape, scale=2.0)
  predictions = logits
  if not apply_softmax:
    predictions = jax.nn.sigmoid(logits) if k == 1 else jax.nn.softmax(logits, axis=-1)
  targets = _one_hot_targets(seed + 1, batch, spatial_shape, k)
  class_weights = None
  if weighted:
    class_weights = jnp.asarray(np.random.default_rng(seed).random(k), jnp.float32)
  kwargs = dict(
      class_weights=class_weights, smooth=smooth + 1e-3, alpha=alpha, beta=beta,
      apply_softmax=apply_softmax, reduction=reduction, ignore_background=ignore_background,
  )
  if not apply_softmax and k == 1 and OPTAX_BINARY_DICE_REJECTS_PROBABILITIES:
    with pytest.raises(ValueError):
      optax.losses.dice_loss(predictions, targets, **kwargs)
    # Ours on probabilities is optax's on the logits.
    ours = jax.jit(lambda p, t: fo.losses.dice_loss(p, t, **kwargs))(predictions, targets)
    theirs = optax.losses.dice_loss(logits, targets, **{**kwargs, "apply_softmax": True})
    parity.assert_trees_close(ours, theirs)
    return
  # optax's probability check cannot run under jit.
  assert_same_loss(
      fo.losses.dice_loss, optax.losses.dice_loss, (predictions, targets), kwargs,
      jit=apply_softmax or not OPTAX_DICE_CHECK_BREAKS_JIT,
  )


@given(
    seed=seeds,
    spatial_shape=parity.shapes(min_rank=1, max_rank=2, max_side=4),
    axis=st.sampled_from([1, (1, 2), -2]),
)
def test_dice_loss_axis(seed, spatial_shape, axis):
  shape = (2, *spatial_shape, 3)
  if axis != -2 and max(np.atleast_1d(axis)) > len(spatial_shape):
    axis = 1
  assert_same_loss(
      fo.losses.dice_loss, optax.losses.dice_loss,
      (random_array(seed, shape), _one_hot_targets(seed + 1, 2, spatial_shape, 3)), dict(axis=axis),
  )


@given(
    seed=seeds,
    batch=st.integers(1, 3),
    spatial_shape=spatial,
    k=st.integers(2, 4),
    smooth=st.floats(0.01, 2.0),
    ignore_background=st.booleans(),
)
def test_multiclass_generalized_dice_loss(seed, batch, spatial_shape, k, smooth, ignore_background):
  shape = (batch, *spatial_shape, k)
  assert_same_loss(
      fo.losses.multiclass_generalized_dice_loss, optax.losses.multiclass_generalized_dice_loss,
      (random_array(seed, shape, scale=2.0), _one_hot_targets(seed + 1, batch, spatial_shape, k)),
      dict(smooth=smooth, ignore_background=ignore_background), grad_argnums=(0, 1),
  )


@given(
    seed=seeds,
    shape=parity.shapes(min_rank=1, max_rank=3, max_side=3),
    channel=st.booleans(),
    smooth=st.floats(0.01, 2.0),
)
def test_binary_dice_loss(seed, shape, channel, smooth):
  shape = (*shape, 1) if channel else shape
  targets = jnp.asarray(np.random.default_rng(seed + 1).integers(0, 2, shape), jnp.float32)
  assert_same_loss(
      fo.losses.binary_dice_loss, optax.losses.binary_dice_loss,
      (random_array(seed, shape, scale=2.0), targets), dict(smooth=smooth), grad_argnums=(0, 1),
  )


def test_binary_dice_loss_takes_probabilities():
  logits = random_array(0, (2, 4, 4))
  targets = (logits > 0).astype(jnp.float32)
  ours = fo.losses.binary_dice_loss(jax.nn.sigmoid(logits), targets, apply_sigmoid=False)
  np.testing.assert_allclose(ours, fo.losses.binary_dice_loss(logits, targets), rtol=1e-6)
  if OPTAX_BINARY_DICE_REJECTS_PROBABILITIES:
    with pytest.raises(ValueError):
      optax.losses.binary_dice_loss(jax.nn.sigmoid(logits), targets, apply_sigmoid=False)
  with pytest.raises(ValueError, match="in \\[0, 1\\]"):
    fo.losses.binary_dice_loss(logits, targets, apply_sigmoid=False)


def test_dice_loss_with_probabilities_under_jit():
  probs = jax.nn.softmax(random_array(0, (2, 4, 4, 3)), axis=-1)
  targets = _one_hot_targets(1, 2, (4, 4), 3)
  loss = jax.jit(lambda p, t: fo.losses.dice_loss(p, t, apply_softmax=False))(probs, targets)
  eager = fo.losses.dice_loss(probs, targets, apply_softmax=False)
  np.testing.assert_allclose(loss, eager, rtol=1e-6)
  if OPTAX_DICE_CHECK_BREAKS_JIT:
    with pytest.raises(jax.errors.ConcretizationTypeError):
      jax.jit(lambda p, t: optax.losses.dice_loss(p, t, apply_softmax=False))(probs, targets)
  with pytest.raises(ValueError, match="sum to 1"):
    fo.losses.dice_loss(probs * 2.0, targets, apply_softmax=False)
  with pytest.raises(ValueError, match="Unsupported reduction"):
    fo.losses.dice_loss(probs, targets, reduction="max")
