"""tree_utils/_casting (`fo.tree.cast`, `cast_like`, `dtype`) against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo

DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16, jnp.int32, jnp.uint32, jnp.int8, jnp.bool_]


def _tree(dtypes):
  return {f"x{i}": jnp.ones((2,), dtype) for i, dtype in enumerate(dtypes)}


def _same_outcome(fn):
  """`fn(lib)` gives the same value for both libraries, or both raise ValueError."""
  outcomes = []
  for lib in (fo, optax):
    try:
      outcomes.append(fn(lib))
    except ValueError:
      outcomes.append(ValueError)
  assert outcomes[0] == outcomes[1], outcomes


@given(
    dtypes=st.lists(st.sampled_from(DTYPES), min_size=0, max_size=4),
    handler=st.sampled_from([None, "promote", "highest", "lowest"]),
)
def test_dtype(dtypes, handler):
  _same_outcome(lambda lib: lib.tree.dtype(_tree(dtypes), handler))


def test_dtype_rejects_unknown_handler():
  with pytest.raises(ValueError, match="mixed_dtype_handler"):
    fo.tree.dtype(_tree([jnp.float32]), "widest")


@given(dtypes=st.lists(st.sampled_from(DTYPES), min_size=1, max_size=4),
       target=st.sampled_from([None, *DTYPES]))
def test_cast_and_cast_like(dtypes, target):
  tree = _tree(dtypes)
  ours, theirs = fo.tree.cast(tree, target), optax.tree.cast(tree, target)
  assert {k: v.dtype for k, v in ours.items()} == {k: v.dtype for k, v in theirs.items()}
  like = _tree(dtypes[::-1])
  ours, theirs = fo.tree.cast_like(tree, like), optax.tree.cast_like(tree, like)
  assert {k: v.dtype for k, v in ours.items()} == {k: v.dtype for k, v in theirs.items()}
