"""clip, clip_by_block_rms, clip_by_global_norm, adaptive_grad_clip and per-example
clipping against optax, with thresholds drawn both below and above the norms seen."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def thresholds(zero_ok=True):
  """Small thresholds (most updates clipped) and large ones (none clipped)."""
  small = st.floats(0.0 if zero_ok else 1e-3, 0.5)
  return small | st.floats(20.0, 100.0)


# Complex updates cannot be clipped element-wise: optax (jnp.clip) rejects them.
@given(spec=parity.pytrees(parity.REAL_DTYPES), max_delta=thresholds())
def test_clip(spec, max_delta):
  parity.assert_same_trajectory(fo.clip(max_delta), optax.clip(max_delta), spec)


@given(spec=parity.pytrees(parity.ALL_DTYPES), threshold=thresholds(zero_ok=False))
def test_clip_by_block_rms(spec, threshold):
  parity.assert_same_trajectory(
      fo.clip_by_block_rms(threshold), optax.clip_by_block_rms(threshold), spec
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), max_norm=thresholds())
def test_clip_by_global_norm(spec, max_norm):
  parity.assert_same_trajectory(
      fo.clip_by_global_norm(max_norm), optax.clip_by_global_norm(max_norm), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES, min_rank=1),
    clipping=st.floats(1e-3, 0.1) | st.floats(20.0, 100.0),
    eps=st.just(1e-3) | st.floats(0.0, 1.0),
    axis=st.sampled_from([None, 0, -1]),
)
def test_adaptive_grad_clip(spec, clipping, eps, axis):
  parity.assert_same_trajectory(
      fo.adaptive_grad_clip(clipping, eps, axis), optax.adaptive_grad_clip(clipping, eps, axis), spec
  )


def test_adaptive_grad_clip_default_units():
  # Scalars and every rank with a default unit convention (1 to 5), and a rank
  # that squeezes to a vector.
  rng = np.random.default_rng(0)
  shapes = [(), (3,), (3, 4), (2, 3, 4), (2, 2, 3, 4), (2, 2, 2, 3, 4), (1, 5, 1)]
  params = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in shapes]
  updates = [jnp.asarray(10 * rng.normal(size=s), jnp.float32) for s in shapes]
  ours = fo.adaptive_grad_clip(0.5).update(updates, fo.EmptyState(), params)[0]
  theirs = optax.adaptive_grad_clip(0.5).update(updates, optax.EmptyState(), params)[0]
  parity.assert_trees_close(ours, theirs)


def test_adaptive_grad_clip_rank_6_needs_axis():
  x = jnp.ones((2,) * 6)
  with pytest.raises(ValueError, match="axis"):
    fo.adaptive_grad_clip(0.5).update(x, fo.EmptyState(), x)
  ours = fo.adaptive_grad_clip(0.5, axis=(0, 1)).update(x, fo.EmptyState(), 0.1 * x)[0]
  theirs = optax.adaptive_grad_clip(0.5, axis=(0, 1)).update(x, optax.EmptyState(), 0.1 * x)[0]
  parity.assert_trees_close(ours, theirs)


def _batched_tree(rng, batch_size, shapes, scales):
  return [jnp.asarray(s * rng.normal(size=(batch_size, *shape)), jnp.float32)
          for shape, s in zip(shapes, scales)]


@given(
    batch_size=st.integers(1, 5),
    shapes=st.lists(parity.shapes(max_rank=3), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
    l2_norm_clip=thresholds(),
    zero_example=st.booleans(),
)
def test_per_example_global_norm_clip(batch_size, shapes, seed, l2_norm_clip, zero_example):
  rng = np.random.default_rng(seed)
  grads = _batched_tree(rng, batch_size, shapes, rng.uniform(0.1, 3.0, size=len(shapes)))
  if zero_example:  # a zero gradient is never counted as clipped
    grads = [g.at[0].set(0.0) for g in grads]
  ours = fo.per_example_global_norm_clip(grads, l2_norm_clip)
  theirs = optax.per_example_global_norm_clip(grads, l2_norm_clip)
  parity.assert_trees_close(ours, theirs)


@given(
    batch_size=st.integers(1, 5),
    shapes=st.lists(parity.shapes(max_rank=3), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
    global_l2_norm_clip=thresholds(),
    uniform=st.booleans(),
)
def test_per_example_layer_norm_clip(batch_size, shapes, seed, global_l2_norm_clip, uniform):
  rng = np.random.default_rng(seed)
  grads = _batched_tree(rng, batch_size, shapes, rng.uniform(0.1, 3.0, size=len(shapes)))
  ours = fo.per_example_layer_norm_clip(grads, global_l2_norm_clip, uniform)
  theirs = optax.per_example_layer_norm_clip(grads, global_l2_norm_clip, uniform)
  parity.assert_trees_close(ours, theirs)


def test_per_example_clip_needs_batch_dimension():
  grads = [jnp.ones((3, 2)), jnp.ones((4,))]
  with pytest.raises(ValueError, match="batch"):
    fo.per_example_global_norm_clip(grads, 1.0)
  with pytest.raises(ValueError, match="batch"):
    fo.per_example_layer_norm_clip(grads, 1.0)


def test_adaptive_grad_clip_needs_params():
  tx = fo.adaptive_grad_clip(0.1)
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)), None)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fo.clip(-1.0), "max_delta"),
        (lambda: fo.clip_by_block_rms(0.0), "threshold"),
        (lambda: fo.clip_by_block_rms(-1.0), "threshold"),
        (lambda: fo.clip_by_global_norm(-1.0), "max_norm"),
        (lambda: fo.adaptive_grad_clip(-1.0), "clipping"),
        (lambda: fo.adaptive_grad_clip(0.1, eps=-1.0), "eps"),
        (lambda: fo.per_example_global_norm_clip([jnp.ones((2, 3))], -1.0), "l2_norm_clip"),
        (lambda: fo.per_example_layer_norm_clip([jnp.ones((2, 3))], -1.0), "global_l2_norm_clip"),
    ],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()
