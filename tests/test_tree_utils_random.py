"""tree_utils/_random (`fo.tree.split_key_like`, `random_like`, `unwrap_random_key_data`)
against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _unwrap(tree):
  return optax.tree.unwrap_random_key_data(tree)


@given(spec=parity.pytrees(parity.ALL_DTYPES), seed=st.integers(0, 2**16),
       typed_key=st.booleans())
def test_split_key_like_and_random_like(spec, seed, typed_key):
  tree = spec.build()
  key = jax.random.key(seed) if typed_key else jax.random.PRNGKey(seed)
  np.testing.assert_array_equal(
      jax.tree.leaves(_unwrap(fo.tree.split_key_like(key, tree))),
      jax.tree.leaves(_unwrap(optax.tree.split_key_like(key, tree))),
  )
  complex_tree = spec.dtype == parity.COMPLEX64
  for sampler in (jax.random.normal,) + (() if complex_tree else (jax.random.uniform,)):
    ours = fo.tree.random_like(key, tree, sampler)
    theirs = optax.tree.random_like(key, tree, sampler)
    parity.assert_trees_close(ours, theirs, spec.dtype)
  if not complex_tree:
    ours = fo.tree.random_like(key, tree, jax.random.uniform, dtype=jnp.bfloat16)
    theirs = optax.tree.random_like(key, tree, jax.random.uniform, dtype=jnp.bfloat16)
    parity.assert_trees_close(ours, theirs, parity.BFLOAT16)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(ours))


def test_random_like_with_a_sampler_without_out_sharding():
  tree = {"a": jnp.zeros((2, 3)), "b": jnp.zeros(4)}
  sampler = lambda key, shape, dtype: jax.random.normal(key, shape, dtype)
  key = jax.random.key(1)
  parity.assert_trees_close(fo.tree.random_like(key, tree, sampler),
                            optax.tree.random_like(key, tree, sampler))


def test_unwrap_random_key_data():
  tree = {"typed": jax.random.key(3), "raw": jax.random.PRNGKey(3), "x": jnp.ones(2), "n": None}
  ours, theirs = fo.tree.unwrap_random_key_data(tree), optax.tree.unwrap_random_key_data(tree)
  assert jax.tree.structure(ours) == jax.tree.structure(theirs)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
  assert ours["typed"].dtype == jnp.uint32
