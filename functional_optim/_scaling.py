"""Scaling updates by a constant, a learning rate, or a schedule of the step count."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from ._base import EmptyState
from ._base import GradientTransformation
from ._base import ScalarOrSchedule
from ._base import Schedule
from ._base import identity
from ._base import init_empty_state
from ._checks import check_non_negative
from ._numerics import safe_increment

__all__ = [
    "ScaleByScheduleState",
    "ScaleState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
]


ScaleState = EmptyState  # the state of `scale` (optax's name)


class ScaleByScheduleState(NamedTuple):
  """State of `scale_by_schedule`."""

  count: jax.Array  # shape=(), int32: number of updates so far


def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
  """Multiplies every update by the scalar `step_size`.

  Args:
    step_size: the factor.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale(0.5)
    >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
    Array([0.5, 0.5], dtype=float32)

  References:
    `optax.scale`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: step_size * g, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
  """Multiplies updates by `step_size_fn(count)`, `count` being the number of past updates.

  Args:
    step_size_fn: maps the (int32) update count to a scalar factor.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_schedule(lambda count: 1.0 / (count + 1))
    >>> state = tx.init(jnp.ones(1))
    >>> _, state = tx.update(jnp.ones(1), state)
    >>> tx.update(jnp.ones(1), state)[0]
    Array([0.5], dtype=float32)

  References:
    `optax.scale_by_schedule`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def init_fn(params):
    del params
    return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    step_size = step_size_fn(state.count)
    updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
    return updates, ScaleByScheduleState(count=safe_increment(state.count))

  return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: Optional[ScalarOrSchedule] = None,
    *,
    flip_sign: bool = True,
) -> GradientTransformation:
  """Multiplies updates by `-learning_rate` (or `+learning_rate` if not `flip_sign`).

  Args:
    learning_rate: a scalar, a schedule of the step count, or None for no scaling.
    flip_sign: negate the learning rate, turning gradients into descent steps.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_learning_rate(0.1)
    >>> tx.update(jnp.ones(1), tx.init(jnp.ones(1)))[0]
    Array([-0.1], dtype=float32)

  References:
    `optax.scale_by_learning_rate`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  if learning_rate is None:
    return identity()
  check_non_negative("learning_rate", learning_rate)
  sign = -1 if flip_sign else 1
  if callable(learning_rate):
    return scale_by_schedule(lambda count: sign * learning_rate(count))
  return scale(sign * learning_rate)


