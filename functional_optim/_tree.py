"""Arithmetic on pytrees of arrays; exported as `functional_optim.tree`."""

import builtins
import functools
import operator
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from ._numerics import abs_sq


def _is_none(x):
  return x is None


def add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
  """Leafwise sum of two or more trees."""
  return jax.tree.map(lambda *leaves: builtins.sum(leaves), tree_x, tree_y, *other_trees)


def sub(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x - tree_y`."""
  return jax.tree.map(operator.sub, tree_x, tree_y)


def mul(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x * tree_y`."""
  return jax.tree.map(operator.mul, tree_x, tree_y)


def div(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x / tree_y`."""
  return jax.tree.map(operator.truediv, tree_x, tree_y)


def scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
  """`scalar * tree`."""
  return jax.tree.map(lambda x: scalar * x, tree)


def add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
  """`tree_x + scalar * tree_y`; None leaves of `tree_x` stay None."""
  scalar = jnp.asarray(scalar)
  return jax.tree.map(
      lambda x, y: None if x is None else x + scalar * y, tree_x, tree_y, is_leaf=_is_none
  )


def _vdot(a, b):
  return jnp.vdot(jnp.asarray(a), jnp.asarray(b), precision=jax.lax.Precision.HIGHEST)


def vdot(tree_x: Any, tree_y: Any) -> jax.typing.ArrayLike:
  """Inner product `sum(conj(x) * y)` over all leaves, at the highest precision.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.vdot({"a": jnp.array([1.0, 2.0])}, {"a": jnp.array([3.0, 4.0])})
    Array(11., dtype=float32)
  """
  return jax.tree.reduce(operator.add, jax.tree.map(_vdot, tree_x, tree_y), initializer=0)


def sum(tree: Any) -> jax.typing.ArrayLike:  # noqa: A001 (optax's name)
  """Sum of all elements of all leaves."""
  return jax.tree.reduce(operator.add, jax.tree.map(jnp.sum, tree), initializer=0)


def _reduce_nonempty(tree, leaf_fn, combine, initial):
  values = jax.tree.map(lambda x: None if jnp.size(x) == 0 else leaf_fn(x), tree)
  return jax.tree.reduce(combine, values, initializer=initial)


def max(tree: Any) -> jax.typing.ArrayLike:  # noqa: A001 (optax's name)
  """Largest element over all (non-empty) leaves."""
  return _reduce_nonempty(tree, jnp.max, jnp.maximum, -float("inf"))


def min(tree: Any) -> jax.typing.ArrayLike:  # noqa: A001 (optax's name)
  """Smallest element over all (non-empty) leaves."""
  return _reduce_nonempty(tree, jnp.min, jnp.minimum, float("inf"))


def size(tree: Any) -> int:
  """Total number of elements in the tree."""
  return builtins.sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))


def conj(tree: Any) -> Any:
  """Leafwise complex conjugate."""
  return jax.tree.map(jnp.conj, tree)


def real(tree: Any) -> Any:
  """Leafwise real part."""
  return jax.tree.map(jnp.real, tree)


def _square(leaf):
  return jnp.square(leaf.real) + jnp.square(leaf.imag)


def norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
  """Vector norm of the whole tree: ord None/2 (L2), 1, or inf.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])})
    Array(5., dtype=float32)
  """
  if ord is None or ord == 2:
    sqnorm = sum(jax.tree.map(_square, tree))
    return jnp.array(sqnorm if squared else jnp.sqrt(sqnorm))
  if ord == 1:
    result = sum(jax.tree.map(jnp.abs, tree))
  elif ord == jnp.inf or ord in ("inf", "infinity"):
    result = max(jax.tree.map(jnp.abs, tree))
  else:
    raise ValueError(f"norm: unsupported ord {ord!r}; use None, 1, 2 or inf")
  return jnp.array(_square(result) if squared else result)


def batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
  """Broadcasts every leaf to `(*shape, *leaf.shape)`."""
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def zeros_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Zeros with the structure (and, unless `dtype` is given, dtypes) of `tree`."""
  return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def ones_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Ones with the structure (and, unless `dtype` is given, dtypes) of `tree`."""
  return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def full_like(
    tree: Any, fill_value: jax.typing.ArrayLike, dtype: Optional[jax.typing.DTypeLike] = None
) -> Any:
  """`fill_value` everywhere, with the structure of `tree`."""
  return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def clip(
    tree: Any,
    min_value: Optional[jax.typing.ArrayLike] = None,
    max_value: Optional[jax.typing.ArrayLike] = None,
) -> Any:
  """Leafwise clip to `[min_value, max_value]` (None leaves a side open)."""
  return jax.tree.map(lambda g: jnp.clip(g, min_value, max_value), tree)


def where(condition: jax.typing.ArrayLike, tree_x: Any, tree_y: Any) -> Any:
  """`tree_x` where `condition` holds, else `tree_y` (leafwise `jnp.where`)."""
  return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def allclose(a: Any, b: Any, rtol=1e-05, atol=1e-08, equal_nan: bool = False):
  """Whether all leaves of `a` and `b` are close (`jnp.allclose`)."""
  leaves = jax.tree.leaves(
      jax.tree.map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)
  )
  return functools.reduce(operator.and_, leaves, True)


def canonical_dtype(dtype: Optional[jax.typing.DTypeLike]) -> Optional[jnp.dtype]:
  """`dtype` as JAX will store it (e.g. float64 -> float32 without x64); None stays None."""
  return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


def cast(tree: Any, dtype: Optional[jax.typing.DTypeLike]) -> Any:
  """Casts every leaf to `dtype`; a None dtype leaves the tree as it is."""
  if dtype is None:
    return tree
  return jax.tree.map(lambda t: t.astype(dtype), tree)


def cast_like(tree: Any, other_tree: Any) -> Any:
  """Casts every leaf of `tree` to the dtype of the matching leaf of `other_tree`."""
  return jax.tree.map(lambda t, o: t.astype(o.dtype) if hasattr(o, "dtype") else t, tree, other_tree)


def split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
  """One PRNG key per leaf of `target_tree`, in a tree of the same structure."""
  treedef = jax.tree.structure(target_tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable = jax.random.normal,
    dtype: Optional[jax.typing.DTypeLike] = None,
) -> Any:
  """Random leaves drawn by `sampler(key, shape, dtype)`, shaped like `target_tree`."""
  keys = split_key_like(rng_key, target_tree)
  return jax.tree.map(lambda leaf, key: sampler(key, leaf.shape, dtype or leaf.dtype), target_tree, keys)


def update_moment(updates: Any, moments: Any, decay: jax.typing.ArrayLike, order: int) -> Any:
  """Exponential moving average of the `order`-th power of the updates."""
  return jax.tree.map(
      lambda g, t: None if g is None else (1 - decay) * (g**order) + decay * t,
      updates, moments, is_leaf=_is_none,
  )


def update_infinity_moment(updates: Any, moments: Any, decay: jax.typing.ArrayLike, eps) -> Any:
  """Exponentially weighted infinity norm: `max(|g| + eps, decay * t)`."""
  return jax.tree.map(
      lambda g, t: g if g is None else jnp.maximum(jnp.abs(g) + eps, decay * t),
      updates, moments, is_leaf=_is_none,
  )


def update_moment_per_elem_norm(updates: Any, moments: Any, decay, order: int) -> Any:
  """EMA of `|g|**order`, using the modulus for complex updates."""

  def orderth_norm(g):
    if jnp.isrealobj(g):
      return g**order
    half_order = order / 2
    if half_order.is_integer():
      half_order = int(half_order)
    return abs_sq(g) ** half_order

  return jax.tree.map(
      lambda g, t: None if g is None else (1 - decay) * orderth_norm(g) + decay * t,
      updates, moments, is_leaf=_is_none,
  )


def bias_correction(moment: Any, decay: jax.typing.ArrayLike, count: jax.typing.ArrayLike) -> Any:
  """Divides by `1 - decay**count`, undoing the zero initialisation of an EMA."""
  correction = 1 - decay**count
  return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)



def global_norm(updates: Any) -> jax.Array:
  """Global L2 norm of a tree of updates (the same as `tree.norm(updates)`).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.global_norm([jnp.array([3.0]), jnp.array([4.0])])
    Array(5., dtype=float32)
  """
  return norm(updates)
