"""contrib.dadapt_adamw against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-2, 2.0),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.5, 0.9999),
    eps=st.sampled_from([1e-8, 1e-3]),
    estim_lr0=st.sampled_from([1e-6, 1e-3, 0.1]),
    weight_decay=st.floats(0.0, 0.5),
)
def test_dadapt_adamw(spec, learning_rate, b1, b2, eps, estim_lr0, weight_decay):
  args = (learning_rate, (b1, b2), eps, estim_lr0, weight_decay)
  parity.assert_same_trajectory(
      fo.contrib.dadapt_adamw(*args), optax.contrib.dadapt_adamw(*args), spec
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), steps=st.integers(1, 20))
def test_dadapt_adamw_schedule(spec, steps):
  learning_rate = optax.linear_schedule(1.0, 0.0, steps)  # the recommended kind of schedule
  parity.assert_same_trajectory(
      fo.contrib.dadapt_adamw(learning_rate), optax.contrib.dadapt_adamw(learning_rate), spec
  )


def test_extra_args_ignored_and_params_needed():
  tx = fo.contrib.dadapt_adamw()
  params = jnp.ones(3)
  tx.update(params, tx.init(params), params, value=1.0)
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(betas=(1.0, 0.999)), "betas"),
        (dict(betas=(0.9, -0.1)), "betas"),
        (dict(eps=-1.0), "eps"),
        (dict(estim_lr0=0.0), "estim_lr0"),
        (dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.dadapt_adamw(**kwargs)
