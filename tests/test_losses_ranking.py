"""ranking_softmax_loss against optax."""

import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array


@given(
    batch=parity.shapes(max_rank=2, max_side=3),
    list_size=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    masked=st.sampled_from([None, "some", "empty_lists"]),
    weighted=st.booleans(),
    reduce_fn=st.sampled_from([jnp.mean, jnp.sum, None]),
)
def test_ranking_softmax_loss(batch, list_size, seed, masked, weighted, reduce_fn):
  shape = (*batch, list_size)
  rng = np.random.default_rng(seed)
  labels = jnp.asarray(rng.integers(0, 3, shape), jnp.float32)
  where = None
  if masked is not None:
    mask = rng.random(shape) < 0.7
    mask[..., 0] = masked == "some" or mask[..., 0]  # "empty_lists" may leave lists with no item
    where = jnp.asarray(mask)
  weights = jnp.asarray(rng.random(shape), jnp.float32) if weighted else None
  assert_same_loss(
      fo.losses.ranking_softmax_loss, optax.losses.ranking_softmax_loss,
      (random_array(seed, shape, scale=2.0), labels),
      dict(where=where, weights=weights, reduce_fn=reduce_fn),
  )


def test_lists_without_valid_items_are_left_out_of_the_mean():
  scores = jnp.array([[0.0, 3.0, 1.0], [1.0, 2.0, 0.0]])
  labels = jnp.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
  where = jnp.array([[True, True, True], [False, False, False]])
  np.testing.assert_allclose(
      fo.losses.ranking_softmax_loss(scores, labels, where=where),
      fo.losses.ranking_softmax_loss(scores[0], labels[0]),
      rtol=1e-6,
  )
