"""NT-Xent and the triplet margin loss against optax."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
from test_losses_api import assert_same_loss, random_array

# optax 0.2.8 leaves the absolute value out of the triplet distance
# `(sum |a - p|**norm_degree + eps) ** (1 / norm_degree)`: with an odd degree the
# "distance" is signed (possibly negative), with a fractional one NaN. Ours takes
# the absolute value; even degrees agree.
OPTAX_TRIPLET_DISTANCE_DROPS_ABS = True


@given(
    seed=st.integers(0, 2**16),
    num_groups=st.integers(1, 3),
    dim=st.integers(1, 4),
    temperature=st.floats(0.05, 1.0),
)
def test_ntxent(seed, num_groups, dim, temperature):
  rng = np.random.default_rng(seed)
  labels = jnp.asarray(rng.permutation(np.repeat(np.arange(num_groups), 2)))  # pairs at least
  embeddings = random_array(seed, (labels.shape[0], dim))
  assert_same_loss(
      fo.losses.ntxent, optax.losses.ntxent, (embeddings, labels), dict(temperature=temperature)
  )


@given(
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 3),
    dim=st.integers(1, 4),
    norm_degree=st.sampled_from([2, 4, 2.0]),
    margin=st.floats(0.0, 2.0),
    eps=st.sampled_from([1e-6, 1e-3]),
    axis=st.sampled_from([-1, 0]),
)
def test_triplet_margin_loss(seed, batch, dim, norm_degree, margin, eps, axis):
  args = tuple(random_array(seed + i, (batch, dim)) for i in range(3))
  assert_same_loss(
      fo.losses.triplet_margin_loss, optax.losses.triplet_margin_loss, args,
      dict(axis=axis, norm_degree=norm_degree, margin=margin, eps=eps), grad_argnums=(0, 1, 2),
  )


@pytest.mark.parametrize("norm_degree", [1, 3, 1.5])
def test_triplet_distance_is_a_norm(norm_degree):
  anchors = jnp.array([[0.0, 0.0]])
  positives = jnp.array([[1.0, -1.0]])  # at distance 2**(1/p) in the p-norm
  negatives = jnp.array([[3.0, 0.0]])  # at distance 3
  kwargs = dict(norm_degree=norm_degree, eps=0.0)
  loss = fo.losses.triplet_margin_loss(anchors, positives, negatives, **kwargs)
  np.testing.assert_allclose(loss, [max(2 ** (1 / norm_degree) - 3 + 1, 0)], rtol=1e-6)
  theirs = optax.losses.triplet_margin_loss(anchors, positives, negatives, **kwargs)
  assert OPTAX_TRIPLET_DISTANCE_DROPS_ABS == (not np.allclose(theirs, loss))


def test_ntxent_checks_the_batch():
  with pytest.raises(ValueError, match="leading dimension"):
    fo.losses.ntxent(jnp.zeros((4, 2)), jnp.array([0, 0, 1]))
