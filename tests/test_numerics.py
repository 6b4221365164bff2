"""_numerics and _tree helpers against optax's."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(spec=parity.pytrees(parity.ALL_DTYPES), ord_=st.sampled_from([None, 1, 2, jnp.inf]), squared=st.booleans())
def test_tree_norm(spec, ord_, squared):
  tree = spec.build()
  parity.assert_trees_close(
      fo.tree.norm(tree, ord=ord_, squared=squared),
      optax.tree.norm(tree, ord=ord_, squared=squared),
      spec.dtype if spec.dtype != parity.COMPLEX64 else parity.FLOAT32,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_tree_arithmetic(spec):
  x = spec.build()
  y = jax.tree.map(lambda a: a * 0.5 + 1, x)
  for name in ["add", "sub", "mul", "div", "conj", "real", "zeros_like", "ones_like"]:
    args = (x,) if name in ("conj", "real", "zeros_like", "ones_like") else (x, y)
    parity.assert_trees_close(getattr(fo.tree, name)(*args), getattr(optax.tree, name)(*args), spec.dtype, name)
  parity.assert_trees_close(fo.tree.vdot(x, y), optax.tree.vdot(x, y), spec.dtype, "vdot")
  parity.assert_trees_close(fo.tree.sum(x), optax.tree.sum(x), spec.dtype, "sum")
  parity.assert_trees_close(fo.tree.add_scale(x, 0.3, y), optax.tree.add_scale(x, 0.3, y), spec.dtype)
  assert fo.tree.size(x) == optax.tree.size(x)
  parity.assert_trees_close(fo.global_norm(x), optax.tree.norm(x), spec.dtype if spec.dtype != parity.COMPLEX64 else parity.FLOAT32)


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.0, 0.99), count=st.integers(1, 50))
def test_moments_and_bias_correction(spec, decay, count):
  g = spec.build()
  m = jax.tree.map(lambda a: 0.5 * a, g)
  for order in (1, 2):
    parity.assert_trees_close(fo.update_moment(g, m, decay, order), optax.update_moment(g, m, decay, order), spec.dtype)
    parity.assert_trees_close(
        fo.update_moment_per_elem_norm(g, m, decay, order),
        optax.update_moment_per_elem_norm(g, m, decay, order), spec.dtype)
  parity.assert_trees_close(
      fo.update_infinity_moment(g, m, decay, 1e-8), optax.update_infinity_moment(g, m, decay, 1e-8), spec.dtype)
  count = jnp.asarray(count, jnp.int32)
  parity.assert_trees_close(fo.bias_correction(m, decay, count), optax.bias_correction(m, decay, count), spec.dtype)


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
