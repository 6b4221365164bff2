"""contrib.momo and contrib.momo_adam against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _loss(params, grads):
  """The loss passed as `value=`: positive, and varying with the parameters."""
  del grads
  return dict(value=0.25 * fo.tree.norm(params, squared=True) + 0.5)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-3, 2.0),
    beta=st.floats(0.0, 0.99),
    lower_bound=st.sampled_from([0.0, 0.2]),
    weight_decay=st.floats(0.0, 0.5),
    adapt_lower_bound=st.booleans(),
)
def test_momo(spec, learning_rate, beta, lower_bound, weight_decay, adapt_lower_bound):
  args = (learning_rate, beta, lower_bound, weight_decay, adapt_lower_bound)
  parity.assert_same_trajectory(
      fo.contrib.momo(*args), optax.contrib.momo(*args), spec, extra_args_fn=_loss
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-3, 1.0),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.5, 0.9999),
    lower_bound=st.sampled_from([0.0, 0.2]),
    weight_decay=st.floats(0.0, 0.5),
    adapt_lower_bound=st.booleans(),
)
def test_momo_adam(spec, learning_rate, b1, b2, lower_bound, weight_decay, adapt_lower_bound):
  args = (learning_rate, b1, b2, 1e-8, lower_bound, weight_decay, adapt_lower_bound)
  parity.assert_same_trajectory(
      fo.contrib.momo_adam(*args), optax.contrib.momo_adam(*args), spec, extra_args_fn=_loss
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_schedules(spec, decay):
  learning_rate = lambda count: decay**count
  for name in ["momo", "momo_adam"]:
    parity.assert_same_trajectory(
        getattr(fo.contrib, name)(learning_rate),
        getattr(optax.contrib, name)(learning_rate),
        spec,
        extra_args_fn=_loss,
    )


@pytest.mark.parametrize("factory", [fo.contrib.momo, fo.contrib.momo_adam])
def test_update_needs_params_and_value(factory):
  tx = factory()
  params = jnp.ones(2)
  with pytest.raises(ValueError, match="value"):
    tx.update(params, tx.init(params), params)
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params), value=1.0)


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.contrib.momo, dict(beta=1.5), "beta"),
        (fo.contrib.momo, dict(learning_rate=-1.0), "learning_rate"),
        (fo.contrib.momo, dict(weight_decay=-1.0), "weight_decay"),
        (fo.contrib.momo_adam, dict(b1=1.0), "b1"),
        (fo.contrib.momo_adam, dict(b2=-0.1), "b2"),
        (fo.contrib.momo_adam, dict(eps=-1.0), "eps"),
    ],
)
def test_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
