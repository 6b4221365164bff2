"""Wrappers that run a transformation only at some steps, or only on finite updates."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .. import tree as tree_lib
from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import with_extra_args_support
from .._checks import check_non_negative
from .._numerics import safe_increment

__all__ = [
    "ApplyIfFiniteState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "apply_if_finite",
    "conditionally_mask",
    "conditionally_transform",
]

# `should_transform_fn(step, **extra_args) -> bool scalar`.
ConditionFn = Callable[..., jax.typing.ArrayLike]


class ConditionallyTransformState(NamedTuple):
  """State of `conditionally_transform`."""

  inner_state: Any  # the inner transformation's state
  step: jax.Array  # shape=(), int32: number of calls to `update` so far


class ConditionallyMaskState(NamedTuple):
  """State of `conditionally_mask`."""

  step: jax.Array  # shape=(), int32: number of calls to `update` so far
  inner_state: Any  # the inner transformation's state


def _update_if(condition, inner, updates, inner_state, params, extra_args, rejected_updates):
  """`inner.update(...)` if `condition`, else `(rejected_updates, inner_state)`, via `lax.cond`."""
  return jax.lax.cond(
      condition,
      lambda _: inner.update(updates, inner_state, params, **extra_args),
      lambda _: (rejected_updates, inner_state),
      None,
  )


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
  """Applies `inner` only at the steps where `should_transform_fn(step)` is True.

  At the other steps the updates pass through unchanged and the inner state is
  kept as it is (see `conditionally_mask` to zero the updates instead).

  Args:
    inner: the transformation to apply conditionally.
    should_transform_fn: maps the int32 count of previous `update` calls (and, with
      `forward_extra_args`, the extra keyword arguments) to a boolean scalar.
    forward_extra_args: pass the extra keyword arguments of `update` to
      `should_transform_fn` as well.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.conditionally_transform(fo.scale(10.0), lambda step: step % 2 == 0)
    >>> state = tx.init(jnp.ones(1))
    >>> first, state = tx.update(jnp.ones(1), state)
    >>> second, state = tx.update(jnp.ones(1), state)
    >>> first, second
    (Array([10.], dtype=float32), Array([1.], dtype=float32))

  References:
    `optax.transforms.conditionally_transform`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  inner = with_extra_args_support(inner)

  def init_fn(params):
    return ConditionallyTransformState(
        inner_state=inner.init(params), step=jnp.zeros([], jnp.int32)
    )

  def update_fn(updates, state, params=None, **extra_args):
    condition = should_transform_fn(state.step, **(extra_args if forward_extra_args else {}))
    updates, inner_state = _update_if(
        condition, inner, updates, state.inner_state, params, extra_args, updates
    )
    return updates, ConditionallyTransformState(inner_state, safe_increment(state.step))

  return GradientTransformationExtraArgs(init_fn, update_fn)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
  """Applies `inner` at the steps where `should_transform_fn(step)` is True, else zeros.

  At the other steps the updates are set to zero and the inner state is kept as
  it is (see `conditionally_transform` to pass the updates through instead).

  Args:
    inner: the transformation to apply conditionally.
    should_transform_fn: maps the int32 count of previous `update` calls (and, with
      `forward_extra_args`, the extra keyword arguments) to a boolean scalar.
    forward_extra_args: pass the extra keyword arguments of `update` to
      `should_transform_fn` as well.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.conditionally_mask(fo.scale(10.0), lambda step: step >= 1)
    >>> state = tx.init(jnp.ones(1))
    >>> first, state = tx.update(jnp.ones(1), state)
    >>> second, state = tx.update(jnp.ones(1), state)
    >>> first, second
    (Array([0.], dtype=float32), Array([10.], dtype=float32))

  References:
    `optax.transforms.conditionally_mask`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  inner = with_extra_args_support(inner)

  def init_fn(params):
    return ConditionallyMaskState(step=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    condition = should_transform_fn(state.step, **(extra_args if forward_extra_args else {}))
    updates, inner_state = _update_if(
        condition, inner, updates, state.inner_state, params, extra_args,
        tree_lib.zeros_like(updates),
    )
    return updates, ConditionallyMaskState(step=safe_increment(state.step), inner_state=inner_state)

  return GradientTransformationExtraArgs(init_fn, update_fn)


class ApplyIfFiniteState(NamedTuple):
  """State of `apply_if_finite`."""

  notfinite_count: jax.Array  # shape=(), int32: consecutive non-finite updates, reset by a finite one
  last_finite: jax.Array  # shape=(), bool: whether the last updates were all finite
  total_notfinite: jax.Array  # shape=(), int32: non-finite updates since init, never reset
  inner_state: Any  # the inner transformation's state


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int
) -> GradientTransformationExtraArgs:
  """Skips updates that contain a NaN or an infinity, unless that keeps happening.

  A step whose updates hold a non-finite value returns zero updates and leaves
  the inner state unchanged. After more than `max_consecutive_errors` such steps
  in a row, the updates are passed to `inner` anyway.

  Args:
    inner: the transformation to protect.
    max_consecutive_errors: how many consecutive non-finite steps are skipped
      before giving up and applying them.

  Reference (skipping overflowing steps, as in dynamic loss scaling):
    Micikevicius et al., 2018, "Mixed Precision Training", https://arxiv.org/abs/1710.03740

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.apply_if_finite(fo.scale(-1.0), max_consecutive_errors=2)
    >>> state = tx.init(jnp.ones(2))
    >>> updates, state = tx.update(jnp.array([1.0, jnp.nan]), state)
    >>> updates, state.notfinite_count, state.total_notfinite
    (Array([0., 0.], dtype=float32), Array(1, dtype=int32), Array(1, dtype=int32))
  """
  check_non_negative("max_consecutive_errors", max_consecutive_errors)
  inner = with_extra_args_support(inner)

  def init_fn(params):
    return ApplyIfFiniteState(
        notfinite_count=jnp.zeros([], jnp.int32),
        last_finite=jnp.array(True, jnp.bool_),
        total_notfinite=jnp.zeros([], jnp.int32),
        inner_state=inner.init(params),
    )

  def update_fn(updates, state, params=None, **extra_args):
    isfinite = jnp.all(jnp.array([jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates)]))
    notfinite_count = jnp.where(
        isfinite, jnp.zeros([], jnp.int32), safe_increment(state.notfinite_count)
    )
    updates, inner_state = _update_if(
        jnp.logical_or(isfinite, notfinite_count > max_consecutive_errors),
        inner, updates, state.inner_state, params, extra_args, tree_lib.zeros_like(updates),
    )
    total_notfinite = jnp.where(
        isfinite, state.total_notfinite, safe_increment(state.total_notfinite)
    )
    return updates, ApplyIfFiniteState(notfinite_count, isfinite, total_notfinite, inner_state)

  return GradientTransformationExtraArgs(init_fn, update_fn)
