"""Joining schedules one after another (optax's `schedules/_join.py`)."""

from collections.abc import Sequence

import jax.numpy as jnp

from .._base import Schedule

__all__ = ["join_schedules"]


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
  """Runs `schedules` one after another, switching at `boundaries`.

  From `boundaries[i - 1]` on, the value is `schedules[i](count - boundaries[i - 1])`:
  each schedule sees the number of steps since it took over.

  Args:
    schedules: the schedules, in order.
    boundaries: `len(schedules) - 1` step counts at which the next schedule starts.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.join_schedules([fo.constant_schedule(1.0), lambda c: 10.0 * c], [5])
    >>> [float(sched(c)) for c in (4, 5, 7)]
    [1.0, 0.0, 20.0]

  References:
    `optax.join_schedules`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  schedules, boundaries = tuple(schedules), tuple(boundaries)
  if not schedules:
    raise ValueError("schedules must hold at least one schedule, got schedules=()")
  if len(boundaries) != len(schedules) - 1:
    raise ValueError(
        f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
        f"got boundaries={boundaries!r}"
    )

  def schedule(count):
    value = schedules[0](count)
    for boundary, next_schedule in zip(boundaries, schedules[1:]):
      value = jnp.where(count < boundary, value, next_schedule(count - boundary))
    return value

  return schedule
