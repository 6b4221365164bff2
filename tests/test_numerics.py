"""_numerics helpers against optax's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo


@given(x=st.lists(st.floats(-10, 10), min_size=1, max_size=6), min_norm=st.floats(0.0, 5.0))
def test_safe_norm_and_rms(x, min_norm):
  x = jnp.asarray(x, jnp.float32)
  np.testing.assert_allclose(fo.safe_norm(x, min_norm), optax.safe_norm(x, min_norm), rtol=1e-6)
  np.testing.assert_allclose(
      fo.safe_root_mean_squares(x, min_norm), optax.safe_root_mean_squares(x, min_norm), rtol=1e-6)
  grad = jax.grad(lambda v: fo.safe_norm(v, min_norm))(x)
  assert np.all(np.isfinite(grad))


def test_safe_norm_gradient_is_zero_not_nan_at_zero():
  assert np.all(jax.grad(lambda v: fo.safe_norm(v, 1e-6))(jnp.zeros(3)) == 0)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.int8, jnp.float32])
def test_safe_increment_saturates(dtype):
  info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
  top = jnp.asarray(info.max, dtype)
  assert fo.safe_increment(top) == top
  assert fo.safe_increment(jnp.asarray(3, dtype)) == 4


def test_safe_increment_rejects_bool():
  with pytest.raises(ValueError, match="dtype"):
    fo.safe_increment(jnp.asarray(True))


def test_abs_sq_rejects_python_numbers():
  with pytest.raises(ValueError, match="arrays"):
    fo.abs_sq(3.0)
