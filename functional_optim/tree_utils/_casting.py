"""Casting pytrees to dtypes (optax's `tree_utils/_casting.py`)."""

import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp


def tree_cast(tree: Any, dtype: Optional[jax.typing.DTypeLike]) -> Any:
  """Casts every leaf to `dtype`; a None dtype leaves the tree as it is.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.cast({"a": jnp.ones(2)}, jnp.bfloat16)["a"].dtype.name
    'bfloat16'

  References:
    `optax.tree.cast`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  if dtype is None:
    return tree
  return jax.tree.map(lambda t: t.astype(dtype), tree)


def tree_cast_like(tree: Any, other_tree: Any) -> Any:
  """Casts every leaf of `tree` to the dtype of the matching leaf of `other_tree`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> like = {"a": jnp.zeros(2, jnp.bfloat16)}
    >>> fo.tree.cast_like({"a": jnp.ones(2)}, like)["a"].dtype.name
    'bfloat16'

  References:
    `optax.tree.cast_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda t, o: t.astype(o.dtype) if hasattr(o, "dtype") else t, tree, other_tree)


def tree_dtype(tree: Any, mixed_dtype_handler: Optional[str] = None) -> jax.typing.DTypeLike:
  """The dtype of the leaves of `tree` (JAX's default dtype for an empty tree).

  Args:
    tree: the tree to fetch the dtype of.
    mixed_dtype_handler: what to do when the leaves' dtypes differ. None: raise a
      `ValueError`; `'promote'`: the dtype all leaves promote to
      (`jnp.promote_types`); `'highest'` / `'lowest'`: the highest / lowest dtype
      in the promotion order, raising a `ValueError` when two of them cannot be
      promoted to one another (e.g. int32 and uint32).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tree = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(1, jnp.float32)}
    >>> fo.tree.dtype(tree, "lowest"), fo.tree.dtype(tree, "highest")
    (dtype('float16'), dtype('float32'))
    >>> fo.tree.dtype({"a": jnp.ones(1, jnp.int32), "b": jnp.ones(1, jnp.uint32)}, "promote")
    dtype('int32')

  References:
    `optax.tree.dtype`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  leaves = jax.tree.leaves(tree)
  if not leaves:
    return jnp.asarray(leaves).dtype
  dtypes = [jnp.asarray(x).dtype for x in leaves]
  if mixed_dtype_handler is None:
    _assert_all_dtypes_equal(tree, dtypes[0])
    return dtypes[0]
  if mixed_dtype_handler == "promote":
    return functools.reduce(jnp.promote_types, dtypes)
  if mixed_dtype_handler == "highest":
    return functools.reduce(_higher_dtype, dtypes)
  if mixed_dtype_handler == "lowest":
    return functools.reduce(_lower_dtype, dtypes)
  raise ValueError(
      f"Invalid value for {mixed_dtype_handler=}, possible values are: None,"
      ' "promote", "highest", "lowest".'
  )


def _assert_all_dtypes_equal(tree: Any, dtype: jax.typing.DTypeLike) -> None:
  def message(path, x):
    x_dtype = jnp.asarray(x).dtype
    return f"Expected {dtype=} for {path} but got {x_dtype}." if x_dtype != dtype else None

  messages = [m for m in jax.tree.leaves(jax.tree_util.tree_map_with_path(message, tree)) if m]
  if messages:
    raise ValueError("\n".join(messages))


def _lower_dtype(dtype1, dtype2):
  promoted = jnp.promote_types(dtype1, dtype2)
  if promoted == dtype1:
    return dtype2
  if promoted == dtype2:
    return dtype1
  raise ValueError(
      f"Cannot compare dtype of {dtype1=} and {dtype2=}."
      f" Neither {dtype1} nor {dtype2} can be promoted to the other."
  )


def _higher_dtype(dtype1, dtype2):
  return dtype2 if _lower_dtype(dtype1, dtype2) == dtype1 else dtype1
