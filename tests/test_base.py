"""identity, set_to_zero, stateless*, with_extra_args_support and update helpers against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_identity(spec):
  parity.assert_same_trajectory(fo.identity(), optax.identity(), spec)


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_set_to_zero(spec):
  parity.assert_same_trajectory(fo.set_to_zero(), optax.set_to_zero(), spec)


@given(spec=parity.pytrees(parity.ALL_DTYPES), factor=st.floats(-2.0, 2.0))
def test_stateless(spec, factor):
  def f(updates, params):
    return jax.tree.map(lambda u, p: (factor * u + 0.1 * p).astype(u.dtype), updates, params)

  parity.assert_same_trajectory(fo.stateless(f), optax.stateless(f), spec)


@given(spec=parity.pytrees(parity.ALL_DTYPES), factor=st.floats(-2.0, 2.0))
def test_stateless_with_tree_map(spec, factor):
  f = lambda u, p: (factor * u - 0.1 * p).astype(u.dtype)
  parity.assert_same_trajectory(
      fo.stateless_with_tree_map(f), optax.stateless_with_tree_map(f), spec
  )


def test_stateless_without_params():
  seen = []
  tx = fo.stateless_with_tree_map(lambda u, p: seen.append(p) or -u)
  updates, state = tx.update({"a": jnp.ones(1), "b": jnp.ones(2)}, tx.init(None))
  assert seen == [None, None] and state == fo.EmptyState()
  np.testing.assert_array_equal(updates["b"], [-1.0, -1.0])
  tx = fo.stateless(lambda u, p: (u, p))
  assert tx.update(1.0, tx.init(None))[0] == (1.0, None)


def test_with_extra_args_support():
  tx = fo.chain(fo.identity())
  assert fo.with_extra_args_support(tx) is tx
  wrapped = fo.with_extra_args_support(fo.scale(2.0))
  assert isinstance(wrapped, fo.GradientTransformationExtraArgs)
  updates, state = wrapped.update(jnp.ones(1), wrapped.init(jnp.ones(1)), None, value=1.0, loss="x")
  np.testing.assert_array_equal(updates, [2.0])
  assert state == fo.EmptyState()


dtype_pairs = st.sampled_from(
    [("float32", "float32"), ("bfloat16", "float32"), ("float32", "bfloat16"),
     ("bfloat16", "bfloat16"), ("complex64", "complex64"), ("float16", "float32")]
)


@given(spec=parity.pytrees(parity.REAL_DTYPES), dtypes=dtype_pairs, none_leaf=st.booleans())
def test_apply_updates(spec, dtypes, none_leaf):
  param_dtype, update_dtype = dtypes
  params = jax.tree.map(lambda x: x.astype(param_dtype), spec.build())
  updates = jax.tree.map(lambda x: x.astype(update_dtype), spec.noise(1))
  updates = jax.tree.map(lambda x: x[0], updates)
  if none_leaf:  # a None parameter stays None, whatever its update
    params = {**params, "none": None}
    updates = {**updates, "none": jnp.ones(2)}
  ours = fo.apply_updates(params, updates)
  theirs = optax.apply_updates(params, updates)
  assert jax.tree.structure(ours) == jax.tree.structure(theirs)
  parity.assert_trees_close(ours, theirs, parity.BFLOAT16 if "bfloat16" in dtypes else parity.FLOAT32)
  for p, new in zip(jax.tree.leaves(params), jax.tree.leaves(ours)):
    assert new.dtype == p.dtype
  if none_leaf:
    assert ours["none"] is None


def test_apply_updates_python_scalars():
  assert fo.apply_updates(1.0, 0.5) == optax.apply_updates(1.0, 0.5)
  assert fo.apply_updates(jnp.int32(1), 2).dtype == jnp.int32


@given(spec=parity.pytrees(parity.ALL_DTYPES), step_size=st.floats(0.0, 1.0))
def test_incremental_update(spec, step_size):
  new, old = spec.build(), jax.tree.map(lambda x: x[0], spec.noise(1))
  parity.assert_trees_close(
      jax.jit(fo.incremental_update)(new, old, step_size),
      jax.jit(optax.incremental_update)(new, old, step_size),
      spec.dtype,
  )
  with_none = lambda tree: {**tree, "none": None}
  assert fo.incremental_update(with_none(new), with_none(old), step_size)["none"] is None


@given(spec=parity.pytrees(parity.ALL_DTYPES), steps=st.integers(0, 20), update_period=st.integers(1, 5))
def test_periodic_update(spec, steps, update_period):
  new, old = spec.build(), jax.tree.map(lambda x: x[0], spec.noise(1))
  ours = jax.jit(fo.periodic_update)(new, old, steps, update_period)
  theirs = jax.jit(optax.periodic_update)(new, old, steps, update_period)
  parity.assert_trees_close(ours, theirs, spec.dtype)
  parity.assert_trees_close(ours, new if steps % update_period == 0 else old, spec.dtype)
