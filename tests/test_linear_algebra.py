"""_linear_algebra (global_norm, power_iteration, matrix_inverse_pth_root, nnls) against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _psd(seed, n):
  a = np.random.default_rng(seed).normal(size=(n, n)).astype(np.float32)
  return jnp.asarray(a @ a.T + 0.1 * np.eye(n, dtype=np.float32))


@given(seed=st.integers(0, 2**16), n=st.integers(1, 6))
def test_power_iteration(seed, n):
  matrix = _psd(seed, n)
  ours = fo.power_iteration(matrix, num_iters=50)
  theirs = optax.power_iteration(matrix, num_iters=50)
  parity.assert_trees_close(ours, theirs)
  v0 = {"x": jnp.ones(n)}
  mvp = lambda v: {"x": matrix @ v["x"]}
  parity.assert_trees_close(
      fo.power_iteration(mvp, v0=v0, num_iters=50), optax.power_iteration(mvp, v0=v0, num_iters=50)
  )


def test_power_iteration_needs_v0_with_a_function():
  with pytest.raises(ValueError, match="v0"):
    fo.power_iteration(lambda v: v)


@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), p=st.sampled_from([1, 2, 4, 8]))
def test_matrix_inverse_pth_root(seed, n, p):
  matrix = _psd(seed, n)
  ours, our_error = fo.matrix_inverse_pth_root(matrix, p)
  theirs, their_error = optax.matrix_inverse_pth_root(matrix, p)
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(our_error, their_error, rtol=1e-4, atol=1e-5)


@given(seed=st.integers(0, 2**16), m=st.integers(1, 5), n=st.integers(1, 4),
       columns=st.sampled_from([None, 2]))
def test_nnls(seed, m, n, columns):
  rng = np.random.default_rng(seed)
  a = jnp.asarray(rng.normal(size=(m, n)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(m,) if columns is None else (m, columns)), jnp.float32)
  ours = jax.jit(fo.nnls, static_argnums=2)(a, b, 200)
  theirs = jax.jit(optax.nnls, static_argnums=2)(a, b, 200)
  parity.assert_trees_close(ours, theirs)
  assert bool(jnp.all(ours >= 0))


def test_global_norm():
  tree = {"a": jnp.array([3.0]), "b": jnp.array([[4.0]])}
  assert float(fo.global_norm(tree)) == 5.0
