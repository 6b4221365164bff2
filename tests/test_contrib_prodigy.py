"""contrib.prodigy against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# With params of several dtypes, optax's scalar state (estim_lr, numerator_weighted) is promoted
# from the params' lowest dtype to the highest at the first update, and so are the updates of the
# low-precision leaves. We keep both in their dtypes.
OPTAX_PRODIGY_PROMOTES_MIXED_DTYPES = True


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(0.0, 1.0),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.999),
    beta3=st.sampled_from([None, 0.0, 0.9]),
    eps=st.sampled_from([1e-8, 1e-3]),
    estim_lr0=st.sampled_from([1e-6, 1e-2]),
    estim_lr_coef=st.floats(0.5, 2.0),
    weight_decay=st.sampled_from([0.0, 1e-2]),
    safeguard_warmup=st.booleans(),
)
def test_prodigy(spec, learning_rate, beta1, beta2, beta3, eps, estim_lr0, estim_lr_coef,
                 weight_decay, safeguard_warmup):
  args = (learning_rate, (beta1, beta2), beta3, eps, estim_lr0, estim_lr_coef, weight_decay,
          safeguard_warmup)
  parity.assert_same_trajectory(fo.contrib.prodigy(*args), optax.contrib.prodigy(*args), spec)


@given(spec=parity.pytrees(parity.REAL_DTYPES), warmup=st.integers(1, 5))
def test_prodigy_schedule(spec, warmup):
  learning_rate = lambda count: jnp.minimum(1.0, (count + 1) / warmup)
  parity.assert_same_trajectory(
      fo.contrib.prodigy(learning_rate, safeguard_warmup=True),
      optax.contrib.prodigy(learning_rate, safeguard_warmup=True),
      spec,
  )


def test_prodigy_needs_params():
  tx = fo.contrib.prodigy()
  with pytest.raises(ValueError):
    tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))


def test_prodigy_state_keeps_the_lowest_params_dtype():
  params = {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(3, jnp.float32)}
  tx = fo.contrib.prodigy()
  state = tx.init(params)
  updates, new_state = jax.jit(tx.update)(params, state, params)
  assert state.estim_lr.dtype == jnp.bfloat16
  assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, params)
  assert jax.tree.map(lambda x: x.dtype, new_state) == jax.tree.map(lambda x: x.dtype, state)
  theirs = optax.contrib.prodigy()
  their_updates, their_state = jax.jit(theirs.update)(params, theirs.init(params), params)
  assert (their_updates["a"].dtype == jnp.float32) == OPTAX_PRODIGY_PROMOTES_MIXED_DTYPES
  assert (their_state.estim_lr.dtype == jnp.float32) == OPTAX_PRODIGY_PROMOTES_MIXED_DTYPES


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(betas=(1.0, 0.999)), "betas"),
        (dict(betas=(0.9, -0.1)), "betas"),
        (dict(beta3=2.0), "beta3"),
        (dict(eps=-1.0), "eps"),
        (dict(estim_lr0=0.0), "estim_lr0"),
        (dict(estim_lr_coef=-1.0), "estim_lr_coef"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name.replace("[", r"\[")):
    fo.contrib.prodigy(**kwargs)
