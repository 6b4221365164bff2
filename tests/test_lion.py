"""scale_by_lion and lion against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# A real momentum dtype would drop the imaginary part of a complex momentum.
mu_dtypes = st.sampled_from([None, "float32", "bfloat16"])


def _mu_dtype_for(spec, mu_dtype):
  if spec.dtype == parity.COMPLEX64 and mu_dtype is not None:
    return "complex64"
  return mu_dtype


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.999),
    mu_dtype=mu_dtypes,
    mode=st.sampled_from(["hard", "smooth", "refined"]),
    smooth_beta=st.floats(0.1, 5.0),
)
def test_scale_by_lion(spec, b1, b2, mu_dtype, mode, smooth_beta):
  mu_dtype = _mu_dtype_for(spec, mu_dtype)
  parity.assert_same_trajectory(
      fo.scale_by_lion(b1, b2, mu_dtype, mode=mode, smooth_beta=smooth_beta),
      optax.scale_by_lion(b1, b2, mu_dtype, mode=mode, smooth_beta=smooth_beta),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.999),
    mu_dtype=mu_dtypes,
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_lion(spec, learning_rate, b1, b2, mu_dtype, weight_decay, mask):
  mu_dtype = _mu_dtype_for(spec, mu_dtype)
  parity.assert_same_trajectory(
      fo.lion(learning_rate, b1, b2, mu_dtype, weight_decay, mask),
      optax.lion(learning_rate, b1, b2, mu_dtype, weight_decay, mask),
      spec,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), decay=st.floats(0.5, 1.0))
def test_lion_schedules(spec, decay):
  learning_rate = lambda count: 0.1 * decay**count
  weight_decay = lambda count: 0.01 * decay**count
  parity.assert_same_trajectory(
      fo.lion(learning_rate, weight_decay=weight_decay),
      optax.lion(learning_rate, weight_decay=weight_decay),
      spec,
  )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(b1=-0.1), "b1"),
        (dict(b1=1.5), "b1"),
        (dict(b2=1.0), "b2"),
        (dict(b2=-0.5), "b2"),
        (dict(smooth_beta=0.0), "smooth_beta"),
    ],
)
def test_scale_by_lion_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.scale_by_lion(**kwargs)


def test_scale_by_lion_rejects_an_unknown_mode_at_update():
  # As optax: building and init succeed, update raises.
  tx = fo.scale_by_lion(mode="soft")
  state = tx.init(jnp.zeros(2))
  with pytest.raises(ValueError, match="mode"):
    tx.update(jnp.ones(2), state)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=0.1, b1=2.0), "b1"),
        (dict(learning_rate=0.1, b2=1.0), "b2"),
        (dict(learning_rate=0.1, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_lion_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.lion(**kwargs)
