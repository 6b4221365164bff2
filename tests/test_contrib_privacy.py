"""contrib.differentially_private_aggregate and contrib.dpsgd against optax."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

BATCH = 3


def _per_example_grads(params, noise):
  """A batch of per-example gradients (leading axis BATCH) that depend on the parameters."""
  return jax.tree.map(
      lambda p, n: jnp.stack([(0.5 * p + (k + 1) * n).astype(p.dtype) for k in range(BATCH)]),
      params, noise,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_leaves=3),
    l2_norm_clip=st.sampled_from([0.1, 1.0, 100.0]),
    noise_multiplier=st.sampled_from([0.0, 0.5, 1.0]),
    key=st.integers(0, 2**16),
)
def test_differentially_private_aggregate(spec, l2_norm_clip, noise_multiplier, key):
  parity.assert_same_trajectory(
      fo.contrib.differentially_private_aggregate(l2_norm_clip, noise_multiplier, key),
      optax.contrib.differentially_private_aggregate(l2_norm_clip, noise_multiplier, key),
      spec,
      grad_fn=_per_example_grads,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_leaves=3),
    learning_rate=st.floats(1e-3, 0.5),
    l2_norm_clip=st.sampled_from([0.1, 1.0, 100.0]),
    noise_multiplier=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**16),
    momentum=st.sampled_from([None, 0.0, 0.9]),
    nesterov=st.booleans(),
)
def test_dpsgd(spec, learning_rate, l2_norm_clip, noise_multiplier, seed, momentum, nesterov):
  args = (learning_rate, l2_norm_clip, noise_multiplier, seed, momentum, nesterov)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # optax's dpsgd warns of its own `seed=`
    theirs = optax.contrib.dpsgd(*args)
  parity.assert_same_trajectory(
      fo.contrib.dpsgd(*args), theirs, spec, grad_fn=_per_example_grads
  )


def test_key_forms_agree():
  """An int key, a typed key and the deprecated `seed=` give the same noise."""
  grads = [jnp.ones((2, 5))]
  outs = []
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for tx in [
        fo.contrib.differentially_private_aggregate(1.0, 1.0, 7),
        fo.contrib.differentially_private_aggregate(1.0, 1.0, jax.random.key(7)),
        fo.contrib.differentially_private_aggregate(1.0, 1.0, seed=7),
    ]:
      outs.append(np.asarray(tx.update(grads, tx.init(None))[0][0]))
  np.testing.assert_array_equal(outs[0], outs[1])
  np.testing.assert_array_equal(outs[0], outs[2])


def test_dpsgd_does_not_warn():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    fo.contrib.dpsgd(0.1, 1.0, 1.0, seed=0)


def test_seed_and_key_together_rejected():
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with pytest.raises(ValueError, match="seed or key"):
      fo.contrib.differentially_private_aggregate(1.0, 1.0, key=0, seed=0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(l2_norm_clip=-1.0, noise_multiplier=1.0), "l2_norm_clip"),
        (dict(l2_norm_clip=1.0, noise_multiplier=-1.0), "noise_multiplier"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.differentially_private_aggregate(key=0, **kwargs)
