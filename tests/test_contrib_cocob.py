"""contrib.scale_by_cocob and contrib.cocob against optax."""

import jax
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    alpha=st.floats(0.5, 200.0),
    eps=st.sampled_from([1e-8, 1e-3, 0.1]),
)
def test_scale_by_cocob(spec, alpha, eps):
  parity.assert_same_trajectory(
      fo.contrib.scale_by_cocob(alpha, eps), optax.contrib.scale_by_cocob(alpha, eps), spec
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-3, 2.0),
    alpha=st.floats(0.5, 200.0),
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_cocob(spec, learning_rate, alpha, weight_decay, mask):
  parity.assert_same_trajectory(
      fo.contrib.cocob(learning_rate, alpha, 1e-8, weight_decay, mask),
      optax.contrib.cocob(learning_rate, alpha, 1e-8, weight_decay, mask),
      spec,
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_cocob_schedule(spec, decay):
  learning_rate = lambda count: decay**count
  parity.assert_same_trajectory(
      fo.contrib.cocob(learning_rate), optax.contrib.cocob(learning_rate), spec
  )


def test_update_needs_params():
  tx = fo.contrib.scale_by_cocob()
  with pytest.raises(ValueError, match="params"):
    tx.update(jax.numpy.ones(2), tx.init(jax.numpy.ones(2)))


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.contrib.scale_by_cocob, dict(alpha=0.0), "alpha"),
        (fo.contrib.scale_by_cocob, dict(eps=-1.0), "eps"),
        (fo.contrib.cocob, dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
