"""CTC loss and forward probabilities against optax."""

import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
from test_losses_api import assert_same_loss, random_array


def _batch(seed, batch, frames, max_labels, k):
  rng = np.random.default_rng(seed)
  logits = random_array(seed, (batch, frames, k), scale=2.0)
  logit_lengths = rng.integers(1, frames + 1, batch)
  label_lengths = rng.integers(0, max_labels + 1, batch)
  logit_paddings = (np.arange(frames) >= logit_lengths[:, None]).astype(np.float32)
  label_paddings = (np.arange(max_labels) >= label_lengths[:, None]).astype(np.float32)
  labels = rng.integers(0, k, (batch, max_labels))  # repeats and blanks included
  return logits, jnp.asarray(logit_paddings), jnp.asarray(labels), jnp.asarray(label_paddings)


@given(
    seed=st.integers(0, 2**16),
    batch=st.integers(1, 3),
    frames=st.integers(1, 6),
    max_labels=st.integers(1, 4),
    k=st.integers(2, 5),
    blank_id=st.integers(0, 1),
    log_epsilon=st.sampled_from([-1e5, -30.0]),
    forward_probs=st.booleans(),
)
def test_ctc_loss(seed, batch, frames, max_labels, k, blank_id, log_epsilon, forward_probs):
  name = "ctc_loss_with_forward_probs" if forward_probs else "ctc_loss"
  assert_same_loss(
      getattr(fo.losses, name), getattr(optax.losses, name),
      _batch(seed, batch, frames, max_labels, k), dict(blank_id=blank_id, log_epsilon=log_epsilon),
  )


def test_ctc_loss_counts_alignments():
  # Uniform over {blank, 1, 2} on 3 frames: [1, 2] has 5 alignments, [1, 1] one (1 _ 1).
  loss = fo.losses.ctc_loss(
      jnp.zeros((2, 3, 3)), jnp.zeros((2, 3)), jnp.array([[1, 2], [1, 1]]), jnp.zeros((2, 2))
  )
  np.testing.assert_allclose(loss, [np.log(27 / 5), np.log(27)], rtol=1e-5)
