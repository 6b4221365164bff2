"""tree_utils/_tree_math (`fo.tree.add`, ..., `fo.tree_utils.tree_add`, ...) against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

MATH_NAMES = [
    "add", "add_scale", "allclose", "batch_shape", "bias_correction", "clip", "conj", "div",
    "full_like", "max", "min", "mul", "norm", "ones_like", "real", "scale", "size", "sub", "sum",
    "update_infinity_moment", "update_moment", "update_moment_per_elem_norm", "vdot", "where",
    "zeros_like",
]


def test_both_namespaces_hold_the_same_functions():
  for name in MATH_NAMES:
    assert getattr(fo.tree, name) is getattr(fo.tree_utils, f"tree_{name}"), name
  public = lambda module: {n for n in dir(module) if not n.startswith("_")}
  assert public(optax.tree) <= public(fo.tree)
  assert public(optax.tree_utils) - {"functools", "typing"} <= public(fo.tree_utils)


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


@given(spec=parity.pytrees(parity.REAL_DTYPES, min_leaves=0), low=st.floats(-1, 0), high=st.floats(0, 1))
def test_reductions_and_elementwise(spec, low, high):
  x = spec.build()
  y = jax.tree.map(lambda a: a * 0.5 + 1, x)
  condition = jnp.asarray(high > 0.5)
  for ours, theirs in [
      (fo.tree.max(x), optax.tree.max(x)),
      (fo.tree.min(x), optax.tree.min(x)),
      (fo.tree.sum(x, associative_reduction=True), optax.tree.sum(x, associative_reduction=True)),
      (fo.tree.clip(x, low, high), optax.tree.clip(x, low, high)),
      (fo.tree.clip(x, None, high), optax.tree.clip(x, None, high)),
      (fo.tree.where(condition, x, y), optax.tree.where(condition, x, y)),
      (fo.tree.full_like(x, low), optax.tree.full_like(x, low)),
      (fo.tree.zeros_like(x, dtype=jnp.int32), optax.tree.zeros_like(x, dtype=jnp.int32)),
      (fo.tree.scale(low, x), optax.tree.scale(low, x)),
      (fo.tree.batch_shape(x, (2, 1)), optax.tree.batch_shape(x, (2, 1))),
  ]:
    parity.assert_trees_close(ours, theirs, spec.dtype)
  assert bool(fo.tree.allclose(x, y)) == bool(optax.tree.allclose(x, y))
  assert bool(fo.tree.allclose(x, x))


def test_max_and_min_skip_empty_leaves():
  tree = {"a": jnp.array([1.0, 5.0]), "b": jnp.zeros(0), "c": jnp.array(-2.0)}
  assert float(fo.tree.max(tree)) == float(optax.tree.max(tree)) == 5.0
  assert float(fo.tree.min(tree)) == float(optax.tree.min(tree)) == -2.0


def test_sum_associative_reduction_under_jit():
  tree = {f"w{i}": jnp.full((3,), float(i)) for i in range(9)}
  assert float(jax.jit(lambda t: fo.tree.sum(t, associative_reduction=True))(tree)) == 108.0


@pytest.mark.parametrize("decay,count", [(0.9, 10), (0.5, 1), (0.99, 3)])
def test_bias_correction_takes_python_numbers(decay, count):
  moment = {"m": jnp.array([0.1, 0.2]), "b": jnp.ones((), jnp.bfloat16)}
  corrected = fo.tree.bias_correction(moment, decay, count)
  parity.assert_trees_close(corrected, optax.tree.bias_correction(moment, decay, count))
  parity.assert_trees_close(corrected, fo.tree.bias_correction(moment, decay, jnp.asarray(count)))
  assert corrected["b"].dtype == jnp.bfloat16


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_vdot_under_jit(spec):
  x = spec.build()
  y = jax.tree.map(lambda a: a * 0.5 + 1, x)
  dtype = parity.FLOAT32 if spec.dtype == parity.COMPLEX64 else spec.dtype
  parity.assert_trees_close(jax.jit(fo.tree.vdot)(x, y), jax.jit(optax.tree.vdot)(x, y), dtype)
