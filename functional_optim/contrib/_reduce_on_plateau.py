"""Reduce the learning rate when a monitored value stops improving.

When the (averaged) value has not improved for `patience` evaluations, the scale
on the updates is multiplied by `factor`; a `cooldown` can follow each reduction.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative
from functional_optim._checks import _is_number as is_number

__all__ = ["ReduceLROnPlateauState", "reduce_on_plateau"]


class ReduceLROnPlateauState(NamedTuple):
  """State of `reduce_on_plateau`."""

  scale: jax.typing.ArrayLike  # shape=(), lowest dtype of params: the factor on the updates
  best_value: jax.typing.ArrayLike  # shape=(), highest dtype of params: best average so far
  plateau_count: jax.typing.ArrayLike  # shape=(), int32: evaluations without improvement
  cooldown_count: jax.typing.ArrayLike  # shape=(), int32: evaluations of cooldown left
  count: jax.typing.ArrayLike  # shape=(), int32: values accumulated in avg_value
  avg_value: jax.typing.ArrayLike  # shape=(), highest dtype of params: running mean of values


def reduce_on_plateau(
    factor: float = 0.1,
    patience: jax.typing.ArrayLike = 10,
    rtol: float = 1e-4,
    atol: float = 0.0,
    cooldown: jax.typing.ArrayLike = 0,
    accumulation_size: jax.typing.ArrayLike = 1,
    min_scale: jax.typing.ArrayLike = 0.0,
) -> _base.GradientTransformationExtraArgs:
  """Scales the updates down by `factor` when a monitored value stops improving.

  `update` takes the monitored value (e.g. a validation loss) as `value=`. The
  values are averaged over `accumulation_size` calls; then the average counts as an
  improvement if it is below `(1 - rtol) * best - atol`. After `patience` averages
  without improvement the scale is multiplied by `factor` (not below `min_scale`),
  and the next `cooldown` averages are ignored. The updates are multiplied by the
  current scale, so chain this after the optimizer.

  Args:
    factor: the factor on the scale at each reduction, in (0, 1).
    patience: number of averages without improvement before a reduction.
    rtol: relative tolerance for a new best value, in [0, 1].
    atol: absolute tolerance for a new best value, >= 0.
    cooldown: number of averages ignored after each reduction.
    accumulation_size: number of values averaged before the plateau logic runs;
      1 for a validation value, more for minibatch losses.
    min_scale: the scale is never reduced below this.

  References:
    PyTorch's `torch.optim.lr_scheduler.ReduceLROnPlateau`,
    https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.reduce_on_plateau(factor=0.5, patience=2)
    >>> updates = jnp.array([1.0, -1.0])
    >>> state = tx.init(updates)
    >>> for value in [3.0, 2.0, 2.0, 2.0]:
    ...   scaled, state = tx.update(updates, state, value=value)
    >>> scaled
    Array([ 0.5, -0.5], dtype=float32)
  """
  check_in_range("factor", factor, 0.0, 1.0, low_inclusive=False)
  check_in_range("rtol", rtol, 0.0, 1.0, high_inclusive=True)
  check_non_negative("atol", atol)
  if is_number(rtol) and is_number(atol) and rtol == 0.0 and atol == 0.0:
    raise ValueError(
        f"At least one of rtol or atol must be positive, got rtol={rtol} and atol={atol}."
    )
  check_non_negative("patience", patience)
  check_non_negative("cooldown", cooldown)
  check_non_negative("min_scale", min_scale)
  check_in_range("accumulation_size", accumulation_size, 1, float("inf"))

  def init_fn(params):
    # The scale in the lowest dtype of the params, so that updates keep the params'
    # dtype; the monitored values in the highest.
    lowest_dtype = fo.tree.dtype(params, "lowest")
    highest_dtype = fo.tree.dtype(params, "highest")
    return ReduceLROnPlateauState(
        scale=jnp.asarray(1.0, dtype=lowest_dtype),
        best_value=jnp.asarray(float("inf"), dtype=highest_dtype),
        plateau_count=jnp.asarray(0, jnp.int32),
        cooldown_count=jnp.asarray(0, jnp.int32),
        count=jnp.asarray(0, jnp.int32),
        avg_value=jnp.asarray(0.0, highest_dtype),
    )

  def _update_scale(state):
    avg_value = state.avg_value
    has_improved = jnp.where(avg_value < (1 - rtol) * state.best_value - atol, 1, 0)
    new_best_value = jnp.where(
        has_improved, avg_value.astype(state.best_value.dtype), state.best_value
    )
    curr_plateau_count = jnp.where(has_improved, 0, fo.safe_increment(state.plateau_count))

    def in_cooldown():  # count the cooldown down and ignore the value
      return jnp.asarray(0, jnp.int32), state.scale, state.cooldown_count - 1

    def not_in_cooldown():
      reduce = curr_plateau_count == patience
      new_plateau_count = jnp.where(reduce, 0, curr_plateau_count)
      new_scale = jnp.maximum(jnp.where(reduce, state.scale * factor, state.scale), min_scale)
      new_cooldown_count = jnp.where(reduce, cooldown, 0).astype(jnp.int32)
      return new_plateau_count, new_scale, new_cooldown_count

    new_plateau_count, new_scale, new_cooldown_count = jax.lax.cond(
        state.cooldown_count > 0, in_cooldown, not_in_cooldown
    )
    return ReduceLROnPlateauState(
        scale=new_scale,
        best_value=new_best_value.astype(state.best_value.dtype),
        plateau_count=new_plateau_count,
        cooldown_count=new_cooldown_count,
        count=jnp.asarray(0, dtype=jnp.int32),
        avg_value=jnp.asarray(0.0, avg_value.dtype),
    )

  def update_fn(updates, state, params=None, *, value, **extra_args):
    del params, extra_args
    count = state.count
    new_count = fo.safe_increment(count)
    new_avg_value = (
        count * state.avg_value + jnp.astype(value, state.avg_value.dtype)
    ) / new_count
    new_state = state._replace(
        avg_value=new_avg_value.astype(state.avg_value.dtype), count=new_count
    )
    new_state = jax.lax.cond(new_count == accumulation_size, _update_scale, lambda x: x, new_state)
    updates = jax.tree.map(lambda g: new_state.scale * g, updates)
    return updates, new_state

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)
