"""Cross entropies (sigmoid, focal, softmax, integer labels, safe, poly) against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array

batch_shapes = parity.shapes(max_rank=2, max_side=3)
num_classes = st.integers(1, 5)
seeds = st.integers(0, 2**16)
dtypes = st.sampled_from(parity.REAL_DTYPES)


def _probabilities(seed, shape):
  return jax.nn.softmax(random_array(seed, shape, scale=2.0), axis=-1)


def _mask(seed, shape):
  mask = np.random.default_rng(seed).random(shape) < 0.7
  mask[..., 0] = True  # no list is empty
  return jnp.asarray(mask)


@given(shape=parity.shapes(max_rank=3), seed=seeds, dtype=dtypes, soft=st.booleans())
def test_sigmoid_binary_cross_entropy(shape, seed, dtype, soft):
  logits = random_array(seed, shape, dtype, scale=3.0)
  rng = np.random.default_rng(seed + 1)
  labels = rng.random(shape) if soft else rng.integers(0, 2, shape)
  labels = jnp.asarray(labels, dtype if soft else jnp.int32)
  assert_same_loss(
      fo.losses.sigmoid_binary_cross_entropy, optax.losses.sigmoid_binary_cross_entropy,
      (logits, labels), dtype=dtype,
  )


@given(
    shape=parity.shapes(max_rank=3),
    seed=seeds,
    dtype=dtypes,
    soft=st.booleans(),
    alpha=st.one_of(st.none(), st.floats(0.05, 0.95)),
    gamma=st.floats(0.0, 4.0),
)
def test_sigmoid_focal_loss(shape, seed, dtype, soft, alpha, gamma):
  logits = random_array(seed, shape, dtype, scale=3.0)
  rng = np.random.default_rng(seed + 1)
  labels = jnp.asarray(rng.random(shape) if soft else rng.integers(0, 2, shape), dtype)
  assert_same_loss(
      fo.losses.sigmoid_focal_loss, optax.losses.sigmoid_focal_loss,
      (logits, labels), dict(alpha=alpha, gamma=gamma), dtype=dtype,
  )


@given(
    batch=batch_shapes,
    k=num_classes,
    seed=seeds,
    dtype=dtypes,
    masked=st.booleans(),
    mask_rank=st.booleans(),
)
def test_softmax_cross_entropy(batch, k, seed, dtype, masked, mask_rank):
  shape = (*batch, k)
  logits = random_array(seed, shape, dtype, scale=2.0)
  labels = _probabilities(seed + 1, shape).astype(dtype)
  where = None
  if masked:
    where = _mask(seed + 2, shape)
    if mask_rank:  # a mask of the result's shape, expanded along the axis
      where = where[..., 0] | (np.random.default_rng(seed).random(batch) < 0.5)
  assert_same_loss(
      fo.losses.softmax_cross_entropy, optax.losses.softmax_cross_entropy,
      (logits, labels), dict(where=where), grad_argnums=(0, 1), dtype=dtype,
  )


@given(shape=parity.shapes(min_rank=2, max_rank=4, max_side=3), seed=seeds)
def test_softmax_cross_entropy_over_other_axes(shape, seed):
  axis = tuple(sorted({0, len(shape) - 2}))
  logits = random_array(seed, shape, scale=2.0)
  labels = jax.nn.softmax(random_array(seed + 1, shape), axis=axis)
  assert_same_loss(
      fo.losses.softmax_cross_entropy, optax.losses.softmax_cross_entropy,
      (logits, labels), dict(axis=axis), grad_argnums=(0, 1),
  )


@given(batch=batch_shapes, k=num_classes, seed=seeds, dtype=dtypes, masked=st.booleans())
def test_softmax_cross_entropy_with_integer_labels(batch, k, seed, dtype, masked):
  shape = (*batch, k)
  logits = random_array(seed, shape, dtype, scale=2.0)
  labels = jnp.asarray(np.random.default_rng(seed + 1).integers(0, k, batch))
  where = _mask(seed + 2, shape) if masked else None
  assert_same_loss(
      fo.losses.softmax_cross_entropy_with_integer_labels,
      optax.losses.softmax_cross_entropy_with_integer_labels,
      (logits, labels), dict(where=where), dtype=dtype,
  )


@given(
    batch=batch_shapes,
    classes=parity.shapes(min_rank=2, max_rank=2, max_side=3),
    seed=seeds,
    masked=st.booleans(),
)
def test_softmax_cross_entropy_with_integer_labels_over_an_axis_tuple(batch, classes, seed, masked):
  # Classes over the two leading axes, batch last: labels index the flattened class slice.
  shape = (*classes, *batch)
  logits = random_array(seed, shape, scale=2.0)
  labels = jnp.asarray(np.random.default_rng(seed + 1).integers(0, classes[0] * classes[1], batch))
  where = _mask(seed + 2, shape) if masked else None
  assert_same_loss(
      fo.losses.softmax_cross_entropy_with_integer_labels,
      optax.losses.softmax_cross_entropy_with_integer_labels,
      (logits, labels), dict(axis=(0, 1), where=where),
  )


@given(batch=batch_shapes, k=num_classes, seed=seeds, num_inf=st.integers(0, 2))
def test_safe_softmax_cross_entropy(batch, k, seed, num_inf):
  shape = (*batch, k + num_inf)
  logits = random_array(seed, shape, scale=2.0)
  labels = _probabilities(seed + 1, shape)
  if num_inf:  # -inf logits with zero labels: 0 log 0 = 0
    logits = logits.at[..., -num_inf:].set(-jnp.inf)
    labels = labels.at[..., -num_inf:].set(0.0)
  assert_same_loss(
      fo.losses.safe_softmax_cross_entropy, optax.losses.safe_softmax_cross_entropy,
      (logits, labels), grad_argnums=(0, 1),
  )


@given(
    batch=batch_shapes,
    k=num_classes,
    seed=seeds,
    epsilon=st.floats(-1.0, 3.0),
    masked=st.booleans(),
)
def test_poly_loss_cross_entropy(batch, k, seed, epsilon, masked):
  shape = (*batch, k)
  logits = random_array(seed, shape, scale=2.0)
  labels = _probabilities(seed + 1, shape)
  where = _mask(seed + 2, shape) if masked else None
  assert_same_loss(
      fo.losses.poly_loss_cross_entropy, optax.losses.poly_loss_cross_entropy,
      (logits, labels), dict(epsilon=epsilon, where=where), grad_argnums=(0, 1),
  )


def test_integer_labels_reject_float_labels_and_bad_axes():
  logits = jnp.zeros((2, 3))
  with pytest.raises(TypeError):
    fo.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.zeros((2,)))
  with pytest.raises(ValueError, match="axis"):
    fo.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.zeros((2,), jnp.int32), [1])
