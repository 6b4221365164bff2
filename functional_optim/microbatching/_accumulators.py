"""Accumulators: how the outputs of successive microbatches are combined.

An `Accumulator` is the fold `carry = init(shape); carry = update(carry, value_i, i);
finalize(carry)` over microbatch outputs, plus `aggregate`, the same reduction done
at once over a stacked axis (used by `micro_vmap` inside one microbatch).
`AccumulationType` names the built-in folds; `canonicalize` turns a pytree of either
into one `Accumulator` over the whole output tree.
"""

import dataclasses
import enum
import functools
from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp

AccumulatorTree: TypeAlias = Any
PyTreeFn: TypeAlias = Callable[[Any], Any]
UpdateFn: TypeAlias = Callable[[Any, Any, int], Any]


@dataclasses.dataclass(frozen=True)
class Accumulator:
  """How to combine the results of a microbatched function.

  Given the microbatch evaluations `[x_0, ..., x_{n-1}]`, an accumulator is the
  program::

    carry = init(jax.typeof(x_0))
    for i in range(n):
      carry = update(carry, x_i, i)
    return finalize(carry)

  Attributes:
    init: `f(shape_dtype_struct)` making the carry from the shape and dtype of one
      microbatch evaluation.
    update: `f(carry, value, index)` folding in the evaluation of microbatch `index`.
    finalize: `f(carry)` returning the result from the final carry.
    aggregate: `f(per_microbatch_values)` doing the same reduction at once over a
      leading stacked axis; used by `micro_vmap`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> running_max = fo.microbatching.Accumulator(
    ...     init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
    ...     update=lambda carry, value, index: jnp.maximum(carry, value),
    ...     finalize=lambda carry: carry,
    ...     aggregate=lambda values: values.max(axis=0),
    ... )
    >>> fo.microbatch(lambda x: x.max(), 0, 2, running_max)(jnp.array([3.0, 1.0, 7.0, 2.0]))
    Array(7., dtype=float32)

  References:
    `optax.microbatching.Accumulator`,
    https://optax.readthedocs.io/en/latest/api/microbatching.html
  """

  init: PyTreeFn
  update: UpdateFn
  finalize: PyTreeFn
  aggregate: PyTreeFn


class AccumulationType(enum.Enum):
  """The built-in ways of combining microbatch outputs.

  `MEAN` and `RUNNING_MEAN` need floating-point outputs; they differ only when
  `num_real_microbatches` stops the loop early: `MEAN` still divides by the number
  of microbatches in the batch, `RUNNING_MEAN` averages the ones that ran.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> mean = fo.microbatching.AccumulationType.MEAN
    >>> fo.microbatch(jnp.mean, 0, 2, mean)(jnp.array([1.0, 2.0, 3.0, 6.0]))
    Array(3., dtype=float32)

  References:
    `optax.microbatching.AccumulationType`,
    https://optax.readthedocs.io/en/latest/api/microbatching.html
  """

  MEAN = enum.auto()
  """Average the microbatch outputs."""
  SUM = enum.auto()
  """Sum the microbatch outputs."""
  RUNNING_MEAN = enum.auto()
  """Average the microbatch outputs over `num_real_microbatches`."""
  CONCAT = enum.auto()
  """Concatenate the microbatch outputs along axis 0."""


def _with_floating_check(fn: Callable[..., Any]) -> Callable[..., Any]:
  def wrapper(*args, **kwargs):
    dtypes = jax.tree.leaves(jax.tree.map(lambda x: x.dtype, (args, kwargs)))
    if not all(jnp.issubdtype(dtype, jnp.floating) for dtype in dtypes):
      raise ValueError("MEAN and RUNNING_MEAN Accumulators require floating-point values.")
    return fn(*args, **kwargs)

  return wrapper


def _lift(accumulator: Accumulator) -> Accumulator:
  """Lifts an accumulator of arrays to one of pytrees, leaf by leaf."""
  return Accumulator(
      init=lambda value: jax.tree.map(accumulator.init, value),
      update=lambda carry, value, i: jax.tree.map(
          lambda c, v: accumulator.update(c, v, i), carry, value
      ),
      finalize=lambda carry: jax.tree.map(accumulator.finalize, carry),
      aggregate=lambda values: jax.tree.map(accumulator.aggregate, values),
  )


def _compose(accumulators: AccumulatorTree) -> Accumulator:
  """One accumulator applying a pytree of accumulators to the matching subtrees."""
  return Accumulator(
      init=lambda values: jax.tree.map(lambda acc, val: acc.init(val), accumulators, values),
      update=lambda carry, value, index: jax.tree.map(
          lambda acc, car, val: acc.update(car, val, index), accumulators, carry, value
      ),
      finalize=lambda carry: jax.tree.map(lambda acc, car: acc.finalize(car), accumulators, carry),
      aggregate=lambda values: jax.tree.map(
          lambda acc, val: acc.aggregate(val), accumulators, values
      ),
  )


def _check_num_microbatches(num_microbatches: int) -> None:
  if num_microbatches <= 0:
    raise ValueError(f"{num_microbatches=} must be positive.")


def _sum() -> Accumulator:
  return _lift(
      Accumulator(
          init=jnp.zeros_like,
          update=lambda carry, value, _: carry + value,
          finalize=lambda carry: carry,
          aggregate=functools.partial(jnp.sum, axis=0),
      )
  )


def _mean(num_microbatches: int) -> Accumulator:
  _check_num_microbatches(num_microbatches)
  return _lift(
      Accumulator(
          init=_with_floating_check(jnp.zeros_like),
          update=lambda carry, value, _: carry + value,
          finalize=lambda carry: carry / num_microbatches,
          aggregate=functools.partial(jnp.mean, axis=0),
      )
  )


def _running_mean() -> Accumulator:
  def update(carry, value, index):
    p = index / (index + 1)  # weight of the mean so far
    return carry * p + value * (1 - p)

  return _lift(
      Accumulator(
          init=_with_floating_check(jnp.zeros_like),
          update=update,
          finalize=lambda carry: carry,
          aggregate=functools.partial(jnp.mean, axis=0),
      )
  )


def _drop_leading_axis_sharding(x: jax.Array) -> dict[str, Any]:
  """`out_sharding` for merging x's (unsharded) leading axis into the next one."""
  sharding = jax.typeof(x).sharding
  if not sharding.mesh.are_all_axes_explicit:
    return {}
  spec = jax.P(*sharding.spec[1:])
  return {"out_sharding": jax.sharding.NamedSharding(sharding.mesh, spec)}


def _concat(num_microbatches: int) -> Accumulator:
  _check_num_microbatches(num_microbatches)

  def init(value):
    return jnp.broadcast_to(jnp.zeros_like(value), (num_microbatches, *value.shape))

  def finalize(carry):
    # (num_microbatches, microbatch_size, ...) -> (batch, ...) in column-major
    # order: the inverse of `reshape_batch_axis`, so rows come back in batch order.
    return carry.reshape(-1, *carry.shape[2:], order="F", **_drop_leading_axis_sharding(carry))

  return _lift(
      Accumulator(
          init=init,
          update=lambda carry, value, index: carry.at[index].set(value),
          finalize=finalize,
          aggregate=lambda values: values,
      )
  )


def canonicalize(
    tree: Accumulator | AccumulationType | AccumulatorTree, num_microbatches: int
) -> Accumulator:
  """One `Accumulator` from a pytree (prefix) of `Accumulator`s and `AccumulationType`s.

  The number of microbatches is known only at call time, which is when MEAN and
  CONCAT can be built.
  """

  def build(acc):
    if isinstance(acc, Accumulator):
      return acc
    match acc:
      case AccumulationType.MEAN:
        return _mean(num_microbatches)
      case AccumulationType.SUM:
        return _sum()
      case AccumulationType.RUNNING_MEAN:
        return _running_mean()
      case AccumulationType.CONCAT:
        return _concat(num_microbatches)
    raise ValueError(f"Unknown accumulator: {acc}")

  return _compose(jax.tree.map(build, tree))
