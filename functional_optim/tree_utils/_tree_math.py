"""Arithmetic on pytrees of arrays (optax's `tree_utils/_tree_math.py`).

Exported as `functional_optim.tree.X` and `functional_optim.tree_utils.tree_X`.
"""

import builtins
import functools
import operator
from typing import Any, Optional

import jax
import jax.numpy as jnp

from .._numerics import abs_sq


def _is_none(x):
  return x is None


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
  """Leafwise sum of two or more trees.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.add({"a": jnp.array([1.0])}, {"a": jnp.array([2.0])}, {"a": jnp.array([3.0])})["a"].tolist()
    [6.0]

  References:
    `optax.tree.add`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda *leaves: builtins.sum(leaves), tree_x, tree_y, *other_trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x - tree_y`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.sub({"a": jnp.array([3.0])}, {"a": jnp.array([1.0])})["a"].tolist()
    [2.0]

  References:
    `optax.tree.sub`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x * tree_y`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.mul({"a": jnp.array([3.0])}, {"a": jnp.array([2.0])})["a"].tolist()
    [6.0]

  References:
    `optax.tree.mul`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
  """Leafwise `tree_x / tree_y`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.div({"a": jnp.array([3.0])}, {"a": jnp.array([2.0])})["a"].tolist()
    [1.5]

  References:
    `optax.tree.div`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: jax.typing.ArrayLike, tree: Any) -> Any:
  """`scalar * tree`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.scale(0.5, {"a": jnp.array([2.0, 4.0])})["a"].tolist()
    [1.0, 2.0]

  References:
    `optax.tree.scale`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x: Any, scalar: jax.typing.ArrayLike, tree_y: Any) -> Any:
  """`tree_x + scalar * tree_y`; None leaves of `tree_x` stay None.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.add_scale({"a": jnp.array([1.0])}, 0.5, {"a": jnp.array([4.0])})["a"].tolist()
    [3.0]

  References:
    `optax.tree.add_scale`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  scalar = jnp.asarray(scalar)
  return jax.tree.map(
      lambda x, y: None if x is None else x + scalar * y, tree_x, tree_y, is_leaf=_is_none
  )


def _vdot(a, b):
  # jnp.vdot, as optax runs on this jax: its tensordot branch is guarded by
  # `jax.__version__ < '0.7.2'`, a string comparison that is True for '0.10.2'.
  return jnp.vdot(jnp.asarray(a), jnp.asarray(b), precision=jax.lax.Precision.HIGHEST)


def tree_vdot(tree_x: Any, tree_y: Any) -> jax.typing.ArrayLike:
  """Inner product `sum(conj(x) * y)` over all leaves, at the highest precision.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.vdot({"a": jnp.array([1.0, 2.0])}, {"a": jnp.array([3.0, 4.0])})
    Array(11., dtype=float32)

  References:
    `optax.tree.vdot`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.reduce(operator.add, jax.tree.map(_vdot, tree_x, tree_y), initializer=0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> jax.typing.ArrayLike:
  """Sum of all elements of all leaves.

  Args:
    tree: a pytree of arrays.
    associative_reduction: add the per-leaf sums as a balanced tree
      (`jax.tree.reduce_associative`) rather than left to right; can compile faster
      for trees with many leaves, and may round differently.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> float(fo.tree.sum({"a": jnp.array([1.0, 2.0]), "b": jnp.ones((2, 2))}))
    7.0

  References:
    `optax.tree.sum`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  sums = jax.tree.map(jnp.sum, tree)
  if associative_reduction:
    return jax.tree.reduce_associative(operator.add, sums, identity=0)
  return jax.tree.reduce(operator.add, sums, initializer=0)


def _reduce_nonempty(tree, leaf_fn, combine, initial):
  values = jax.tree.map(lambda x: None if jnp.size(x) == 0 else leaf_fn(x), tree)
  return jax.tree.reduce(combine, values, initializer=initial)


def tree_max(tree: Any) -> jax.typing.ArrayLike:
  """Largest element over all (non-empty) leaves.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> float(fo.tree.max({"a": jnp.array([1.0, 5.0]), "b": jnp.array([-2.0]), "c": jnp.zeros(0)}))
    5.0

  References:
    `optax.tree.max`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return _reduce_nonempty(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> jax.typing.ArrayLike:
  """Smallest element over all (non-empty) leaves.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> float(fo.tree.min({"a": jnp.array([1.0, 5.0]), "b": jnp.array([-2.0]), "c": jnp.zeros(0)}))
    -2.0

  References:
    `optax.tree.min`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return _reduce_nonempty(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
  """Total number of elements in the tree.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.size({"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)})
    8

  References:
    `optax.tree.size`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return builtins.sum(jnp.size(leaf) for leaf in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
  """Leafwise complex conjugate.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.conj({"a": jnp.array([1.0 + 2.0j])})["a"].tolist()
    [(1-2j)]

  References:
    `optax.tree.conj`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
  """Leafwise real part.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.real({"a": jnp.array([1.0 + 2.0j])})["a"].tolist()
    [1.0]

  References:
    `optax.tree.real`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(jnp.real, tree)


def _square(leaf):
  return jnp.square(leaf.real) + jnp.square(leaf.imag)


def tree_norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
  """Vector norm of the whole tree: ord None/2 (L2), 1, or inf.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])})
    Array(5., dtype=float32)

  References:
    `optax.tree.norm`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  if ord is None or ord == 2:
    sqnorm = tree_sum(jax.tree.map(_square, tree))
    return jnp.array(sqnorm if squared else jnp.sqrt(sqnorm))
  if ord == 1:
    result = tree_sum(jax.tree.map(jnp.abs, tree))
  elif ord == jnp.inf or ord in ("inf", "infinity"):
    result = tree_max(jax.tree.map(jnp.abs, tree))
  else:
    raise ValueError(f"norm: unsupported ord {ord!r}; use None, 1, 2 or inf")
  return jnp.array(_square(result) if squared else result)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
  """Broadcasts every leaf to `(*shape, *leaf.shape)`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.batch_shape({"a": jnp.zeros(3)}, (4,))["a"].shape
    (4, 3)

  References:
    `optax.tree.batch_shape`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_zeros_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Zeros with the structure (and, unless `dtype` is given, dtypes) of `tree`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> z = fo.tree.zeros_like({"a": jnp.ones(2)}, dtype=jnp.int32)["a"]
    >>> z.tolist(), z.dtype.name
    ([0, 0], 'int32')

  References:
    `optax.tree.zeros_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_ones_like(tree: Any, dtype: Optional[jax.typing.DTypeLike] = None) -> Any:
  """Ones with the structure (and, unless `dtype` is given, dtypes) of `tree`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.ones_like({"a": jnp.zeros(2)})["a"].tolist()
    [1.0, 1.0]

  References:
    `optax.tree.ones_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(
    tree: Any, fill_value: jax.typing.ArrayLike, dtype: Optional[jax.typing.DTypeLike] = None
) -> Any:
  """`fill_value` everywhere, with the structure of `tree`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.full_like({"a": jnp.zeros(2)}, 7.0)["a"].tolist()
    [7.0, 7.0]

  References:
    `optax.tree.full_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_clip(
    tree: Any,
    min_value: Optional[jax.typing.ArrayLike] = None,
    max_value: Optional[jax.typing.ArrayLike] = None,
) -> Any:
  """Leafwise clip to `[min_value, max_value]` (None leaves a side open).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.clip({"a": jnp.array([-3.0, 0.5, 3.0])}, -1.0, 1.0)["a"].tolist()
    [-1.0, 0.5, 1.0]

  References:
    `optax.tree.clip`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda g: jnp.clip(g, min_value, max_value), tree)


def tree_where(condition: jax.typing.ArrayLike, tree_x: Any, tree_y: Any) -> Any:
  """`tree_x` where `condition` holds, else `tree_y` (leafwise `jnp.where`).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.tree.where(jnp.array(False), {"a": jnp.ones(2)}, {"a": jnp.zeros(2)})["a"].tolist()
    [0.0, 0.0]

  References:
    `optax.tree.where`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_allclose(a: Any, b: Any, rtol=1e-05, atol=1e-08, equal_nan: bool = False):
  """Whether all leaves of `a` and `b` are close (`jnp.allclose`).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> bool(fo.tree.allclose({"a": jnp.array([1.0])}, {"a": jnp.array([1.0 + 1e-7])}))
    True
    >>> bool(fo.tree.allclose({"a": jnp.array([1.0])}, {"a": jnp.array([1.1])}))
    False

  References:
    `optax.tree.allclose`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  leaves = jax.tree.leaves(
      jax.tree.map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)
  )
  return functools.reduce(operator.and_, leaves, True)


def tree_update_moment(updates: Any, moments: Any, decay: jax.typing.ArrayLike, order: int) -> Any:
  """Exponential moving average of the `order`-th power of the updates.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> m = fo.tree.update_moment(jnp.array([2.0]), jnp.array([1.0]), decay=0.9, order=2)
    >>> [round(v, 4) for v in m.tolist()]  # 0.1 * 2**2 + 0.9 * 1
    [1.3]

  References:
    `optax.tree.update_moment`, https://optax.readthedocs.io/en/latest/api/utilities.html;
    Kingma and Ba, 2014, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980
  """
  return jax.tree.map(
      lambda g, t: None if g is None else (1 - decay) * (g**order) + decay * t,
      updates, moments, is_leaf=_is_none,
  )


def tree_update_infinity_moment(updates: Any, moments: Any, decay: jax.typing.ArrayLike, eps) -> Any:
  """Exponentially weighted infinity norm: `max(|g| + eps, decay * t)`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> m = fo.tree.update_infinity_moment(jnp.array([-2.0, 0.5]), jnp.array([1.0, 1.0]), 0.9, 0.0)
    >>> [round(v, 4) for v in m.tolist()]
    [2.0, 0.9]

  References:
    `optax.tree.update_infinity_moment`, https://optax.readthedocs.io/en/latest/api/utilities.html;
    Kingma and Ba, 2014, "Adam: A Method for Stochastic Optimization" (AdaMax, section 7),
    https://arxiv.org/abs/1412.6980
  """
  return jax.tree.map(
      lambda g, t: g if g is None else jnp.maximum(jnp.abs(g) + eps, decay * t),
      updates, moments, is_leaf=_is_none,
  )


def tree_update_moment_per_elem_norm(updates: Any, moments: Any, decay, order: int) -> Any:
  """EMA of `|g|**order`, using the modulus for complex updates.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> m = fo.tree.update_moment_per_elem_norm(jnp.array([3.0 + 4.0j]), jnp.zeros(1), 0.9, 2)
    >>> [round(v, 4) for v in m.tolist()]
    [2.5]

  References:
    `optax.tree.update_moment_per_elem_norm`,
    https://optax.readthedocs.io/en/latest/api/utilities.html
  """

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


@functools.partial(jax.jit, inline=True)  # as optax: decay and count may be Python numbers
def tree_bias_correction(moment: Any, decay: jax.typing.ArrayLike, count: jax.typing.ArrayLike) -> Any:
  """Divides by `1 - decay**count`, undoing the zero initialisation of an EMA.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> m = fo.tree.bias_correction(jnp.array([0.1]), 0.9, jnp.array(1))
    >>> [round(v, 4) for v in m.tolist()]
    [1.0]
    >>> [round(v, 4) for v in fo.tree.bias_correction(jnp.array([0.1]), 0.9, 10).tolist()]
    [0.1535]

  References:
    Kingma and Ba, 2014, "Adam: A Method for Stochastic Optimization" (section 3),
    https://arxiv.org/abs/1412.6980
  """
  # `decay**count` in the precision of the arguments (in the moment's low precision it
  # can round to 1), the division in the moment's dtype.
  correction = 1 - decay**count
  return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)
