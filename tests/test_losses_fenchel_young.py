"""make_fenchel_young_loss against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st
from jax.scipy.special import logsumexp

import functional_optim as fo
import parity
from test_losses_api import assert_same_loss, random_array


def _scaled_logsumexp(scores, temperature=1.0):
  return temperature * logsumexp(scores / temperature)


@given(
    batch=parity.shapes(max_rank=2, max_side=3),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    temperature=st.one_of(st.none(), st.floats(0.1, 3.0)),
)
def test_fenchel_young_loss(batch, k, seed, temperature):
  shape = (*batch, k)
  targets = jax.nn.softmax(random_array(seed + 1, shape), axis=-1)
  kwargs = {} if temperature is None else dict(temperature=temperature)
  assert_same_loss(
      fo.losses.make_fenchel_young_loss(_scaled_logsumexp),
      optax.losses.make_fenchel_young_loss(_scaled_logsumexp),
      (random_array(seed, shape, scale=2.0), targets), kwargs, grad_argnums=(0, 1),
  )


def test_logsumexp_gives_the_softmax_cross_entropy():
  scores = random_array(0, (4, 3))
  labels = jax.nn.one_hot(jnp.array([0, 2, 1, 1]), 3)
  np.testing.assert_allclose(
      fo.losses.make_fenchel_young_loss(logsumexp)(scores, labels),
      fo.losses.softmax_cross_entropy(scores, labels),
      rtol=1e-6,
  )
