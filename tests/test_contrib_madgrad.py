"""contrib.scale_by_madgrad and contrib.madgrad against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-4, 0.5),
    momentum=st.floats(0.0, 0.99),
    eps=st.sampled_from([1e-6, 1e-3]),
)
def test_scale_by_madgrad(spec, learning_rate, momentum, eps):
  parity.assert_same_trajectory(
      fo.contrib.scale_by_madgrad(learning_rate, momentum, eps),
      optax.contrib.scale_by_madgrad(learning_rate, momentum, eps),
      spec,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-4, 0.5),
    momentum=st.floats(0.0, 0.99),
    weight_decay=st.floats(0.0, 0.5),
)
def test_madgrad(spec, learning_rate, momentum, weight_decay):
  parity.assert_same_trajectory(
      fo.contrib.madgrad(learning_rate, momentum, weight_decay),
      optax.contrib.madgrad(learning_rate, momentum, weight_decay),
      spec,
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_madgrad_schedule(spec, decay):
  learning_rate = lambda count: 0.1 * decay**count
  parity.assert_same_trajectory(
      fo.contrib.madgrad(learning_rate), optax.contrib.madgrad(learning_rate), spec
  )


def test_update_needs_params():
  tx = fo.contrib.scale_by_madgrad(0.1)
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=0.1, momentum=1.0), "momentum"),
        (dict(learning_rate=0.1, eps=-1.0), "eps"),
        (dict(learning_rate=0.1, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.madgrad(**kwargs)
