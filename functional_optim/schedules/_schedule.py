"""Schedules: pure functions of the (int32, possibly traced) step count.

Each factory returns `schedule(count) -> value`, usable as a learning rate (or any
other hyperparameter) under `jit` and `vmap`.

Non-positive `transition_steps` (polynomial, linear, exponential) and a zero
`decay_rate` give a constant schedule, as in optax; arguments with no meaningful
value (negative warmup, a cosine decay of no steps, mismatched boundaries, ...)
raise a `ValueError` naming them.
"""

from collections.abc import Iterable
from typing import Optional

import jax
import jax.numpy as jnp

from .._base import Schedule
from .._checks import check_in_range
from .._checks import check_non_negative
from .._checks import check_positive
from ._join import join_schedules

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


def constant_schedule(value: jax.typing.ArrayLike) -> Schedule:
  """Returns `value` at every step.

  Args:
    value: the value held throughout.

  Example:
    >>> import functional_optim as fo
    >>> fo.constant_schedule(5)(100)
    5

  References:
    `optax.constant_schedule`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  return lambda count: value


def polynomial_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    power: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
  """Goes from `init_value` to `end_value` along a polynomial of degree `power`.

  The value is `init_value` before step `B = transition_begin`, then
  `(init_value - end_value) * (1 - (count - B) / transition_steps) ** power + end_value`
  up to step `B + transition_steps`, and `end_value` after.

  Args:
    init_value: the value before and at the start of the transition.
    end_value: the value at and after the end of the transition.
    power: the degree of the polynomial.
    transition_steps: length of the transition; if <= 0 the schedule is the constant
      `init_value` (as in optax).
    transition_begin: steps to hold `init_value` first; negative means 0.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.polynomial_schedule(1.0, end_value=0.0, power=2, transition_steps=10)
    >>> [round(float(sched(c)), 4) for c in (0, 5, 10, 20)]
    [1.0, 0.25, 0.0, 0.0]

  References:
    `optax.polynomial_schedule`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  if transition_steps <= 0:
    return constant_schedule(init_value)
  transition_begin = max(transition_begin, 0)

  def schedule(count):
    count = jnp.clip(count - transition_begin, 0, transition_steps)
    frac = 1 - count / transition_steps
    return (init_value - end_value) * (frac**power) + end_value

  return schedule


def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
  """Goes linearly from `init_value` to `end_value`: `polynomial_schedule` with `power=1`.

  Args:
    init_value: the value before and at the start of the transition.
    end_value: the value at and after the end of the transition.
    transition_steps: length of the transition; if <= 0 the schedule is the constant
      `init_value` (as in optax).
    transition_begin: steps to hold `init_value` first; negative means 0.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.linear_schedule(init_value=1.0, end_value=0.0, transition_steps=10)
    >>> [float(sched(c)) for c in (0, 5, 10, 20)]
    [1.0, 0.5, 0.0, 0.0]

  References:
    `optax.linear_schedule`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  return polynomial_schedule(
      init_value=init_value,
      end_value=end_value,
      power=1,
      transition_steps=transition_steps,
      transition_begin=transition_begin,
  )


def piecewise_constant_schedule(
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> Schedule:
  """Multiplies `init_value` by `scale` from each `{step: scale}` boundary on.

  Args:
    init_value: the value before the first boundary.
    boundaries_and_scales: `{step: scale}`, the non-negative factors and the steps at
      which they start to apply.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})
    >>> [round(float(sched(c)), 4) for c in (50, 150, 250)]
    [1.0, 0.1, 0.01]

  References:
    `optax.piecewise_constant_schedule`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html;
    He, Zhang, Ren and Sun, 2016, "Deep Residual Learning for Image Recognition" (the
    step decay of the learning rate), https://arxiv.org/abs/1512.03385
  """
  if boundaries_and_scales is not None:
    _check_scales(boundaries_and_scales.values())

  def schedule(count):
    value = init_value
    if boundaries_and_scales is not None:
      for threshold, scale in sorted(boundaries_and_scales.items()):
        indicator = jnp.maximum(0.0, jnp.sign(threshold - count))
        value = value * indicator + (1 - indicator) * scale * value
    return value

  return schedule


def _check_scales(scales: Iterable[float]) -> None:
  if not all(scale >= 0.0 for scale in scales):
    raise ValueError(
        f"boundaries_and_scales must have non-negative scales, got scales={list(scales)!r}"
    )


def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[jax.typing.ArrayLike] = None,
) -> Schedule:
  """Multiplies `init_value` by `decay_rate` every `transition_steps` steps, continuously.

  From step `B = transition_begin` on, the value is
  `init_value * decay_rate ** ((count - B) / transition_steps)` (the exponent rounded
  down if `staircase`), then clipped to `end_value`.

  Args:
    init_value: the value up to step `transition_begin`.
    transition_steps: steps per factor of `decay_rate`; if <= 0 the schedule is the
      constant `init_value` (as in optax).
    decay_rate: the factor; 0 gives the constant `init_value` (as in optax).
    transition_begin: steps to hold `init_value` first; negative means 0.
    staircase: decay at discrete intervals (integer exponent).
    end_value: a lower bound if `decay_rate < 1`, an upper bound otherwise.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
    >>> [float(sched(c)) for c in (0, 10, 20)]
    [1.0, 0.5, 0.25]

  References:
    `optax.exponential_decay`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  if transition_steps <= 0 or decay_rate == 0:
    return constant_schedule(init_value)
  transition_begin = max(transition_begin, 0)
  if end_value is not None:
    clip_fn = jnp.maximum if decay_rate < 1.0 else jnp.minimum

  def schedule(count):
    decreased_count = count - transition_begin
    p = decreased_count / transition_steps
    if staircase:
      p = jnp.floor(p)
    decayed = jnp.where(
        decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p)
    )
    return decayed if end_value is None else clip_fn(decayed, end_value)

  return schedule


def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
  """Cosine decay from `init_value` to `alpha * init_value` over `decay_steps` steps.

  The value is `init_value * ((1 - alpha) * c ** exponent + alpha)` with
  `c = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2`.

  Args:
    init_value: the value at step 0.
    decay_steps: the positive length of the decay.
    alpha: the final value, as a fraction of `init_value`.
    exponent: the power applied to the cosine factor `c`.

  Reference: Loshchilov and Hutter, SGDR: Stochastic Gradient Descent with Warm
  Restarts, 2017, https://arxiv.org/abs/1608.03983

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.cosine_decay_schedule(1.0, decay_steps=100, alpha=0.1)
    >>> [round(float(sched(c)), 4) for c in (0, 50, 100, 200)]
    [1.0, 0.55, 0.1, 0.1]
  """
  if not decay_steps > 0:
    raise ValueError(f"decay_steps must be > 0, got decay_steps={decay_steps!r}")
  # Python ints become floats so that large counts do not overflow int32 under jit.
  decay_steps = float(decay_steps) if isinstance(decay_steps, int) else decay_steps

  def schedule(count):
    count = float(count) if isinstance(count, int) else count
    count = jnp.minimum(count, decay_steps)
    cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / decay_steps))
    decayed = (1 - alpha) * cosine_decay**exponent + alpha
    return init_value * decayed

  return schedule


def _linear_interpolate(start, end, pct):
  return (end - start) * pct + start


def _cosine_interpolate(start, end, pct):
  return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Optional[dict[int, float]] = None,
) -> Schedule:
  """Interpolates between the values reached at each boundary.

  The value at boundary `b_i` is `init_value` times every scale up to and including
  `b_i`'s; between boundaries (and from step 0 to the first) it moves linearly or
  along a half cosine; after the last boundary it stays put.

  Args:
    interpolate_type: `"linear"` or `"cosine"`.
    init_value: the value at step 0.
    boundaries_and_scales: `{step: scale}` with non-negative scales.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.piecewise_interpolate_schedule("linear", 1.0, {4: 0.5, 8: 0.5})
    >>> [float(sched(c)) for c in (0, 2, 4, 6, 8, 10)]
    [1.0, 0.75, 0.5, 0.375, 0.25, 0.25]

  References:
    `optax.piecewise_interpolate_schedule`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  if interpolate_type == "linear":
    interpolate_fn = _linear_interpolate
  elif interpolate_type == "cosine":
    interpolate_fn = _cosine_interpolate
  else:
    raise ValueError(
        f"interpolate_type must be 'linear' or 'cosine', got interpolate_type={interpolate_type!r}"
    )
  if boundaries_and_scales:
    boundaries, scales = zip(*sorted(boundaries_and_scales.items()))
    _check_scales(scales)
  else:
    boundaries, scales = (), ()

  def schedule(count):
    bounds = jnp.stack((0,) + boundaries)
    values = jnp.cumprod(jnp.stack((init_value,) + scales))
    interval_sizes = jnp.maximum(bounds[1:] - bounds[:-1], 1)
    indicator = jnp.logical_and(bounds[:-1] <= count, count < bounds[1:])
    pct = (count - bounds[:-1]) / interval_sizes
    interp_vals = interpolate_fn(values[:-1], values[1:], pct)
    return indicator.dot(interp_vals) + (bounds[-1] <= count) * values[-1]

  return schedule


def _check_onecycle(transition_steps, pct_start, div_factor, final_div_factor) -> None:
  check_positive("transition_steps", transition_steps)
  check_in_range("pct_start", pct_start, 0.0, 1.0, high_inclusive=True)
  check_positive("div_factor", div_factor)
  check_positive("final_div_factor", final_div_factor)


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
  """One cycle in three linear phases.

  Up from `peak_value / div_factor` to `peak_value` over the first `pct_start` of
  `transition_steps`, back down to `peak_value / div_factor` by `pct_final`, then down
  to `peak_value / div_factor / final_div_factor` at `transition_steps`.

  Args:
    transition_steps: the positive length of the cycle.
    peak_value: the maximum value, reached at `pct_start * transition_steps`.
    pct_start: the fraction of the cycle spent increasing, in [0, 1].
    pct_final: the fraction of the cycle at which the decrease ends, in
      (`pct_start`, 1].
    div_factor: the initial value is `peak_value / div_factor`.
    final_div_factor: the final value is `peak_value / div_factor / final_div_factor`.

  Reference: Smith and Topin, Super-Convergence: Very Fast Training of Neural
  Networks Using Large Learning Rates, 2017, https://arxiv.org/abs/1708.07120

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.linear_onecycle_schedule(100, peak_value=1.0, div_factor=10.0)
    >>> [round(float(sched(c)), 4) for c in (0, 30, 85)]
    [0.1, 1.0, 0.1]
  """
  _check_onecycle(transition_steps, pct_start, div_factor, final_div_factor)
  check_in_range("pct_final", pct_final, pct_start, 1.0, low_inclusive=False, high_inclusive=True)
  return piecewise_interpolate_schedule(
      "linear",
      peak_value / div_factor,
      {
          int(pct_start * transition_steps): div_factor,
          int(pct_final * transition_steps): 1.0 / div_factor,
          transition_steps: 1.0 / final_div_factor,
      },
  )


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
  """One cycle: cosine up to `peak_value`, then cosine down.

  Up from `peak_value / div_factor` to `peak_value` over the first `pct_start` of
  `transition_steps`, then down to `peak_value / div_factor / final_div_factor`.

  Args:
    transition_steps: the positive length of the cycle.
    peak_value: the maximum value, reached at `pct_start * transition_steps`.
    pct_start: the fraction of the cycle spent increasing, in [0, 1].
    div_factor: the initial value is `peak_value / div_factor`.
    final_div_factor: the final value is `peak_value / div_factor / final_div_factor`.

  Reference: Smith and Topin, Super-Convergence: Very Fast Training of Neural
  Networks Using Large Learning Rates, 2017, https://arxiv.org/abs/1708.07120

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.cosine_onecycle_schedule(100, peak_value=1.0, div_factor=10.0)
    >>> [round(float(sched(c)), 4) for c in (0, 15, 30)]
    [0.1, 0.55, 1.0]
  """
  _check_onecycle(transition_steps, pct_start, div_factor, final_div_factor)
  return piecewise_interpolate_schedule(
      "cosine",
      peak_value / div_factor,
      {
          int(pct_start * transition_steps): div_factor,
          int(transition_steps): 1.0 / (div_factor * final_div_factor),
      },
  )


def warmup_constant_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
) -> Schedule:
  """Linear warmup from `init_value` to `peak_value`, then constant.

  As in optax, `warmup_steps=0` gives the constant `init_value`.

  Args:
    init_value: the value at step 0.
    peak_value: the value from `warmup_steps` on.
    warmup_steps: the non-negative length of the warmup.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
    >>> [float(sched(c)) for c in (0, 2, 4, 100)]
    [0.0, 0.5, 1.0, 1.0]

  References:
    Goyal et al., 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour"
    (linear warmup), https://arxiv.org/abs/1706.02677
  """
  check_non_negative("warmup_steps", warmup_steps)
  return linear_schedule(init_value=init_value, end_value=peak_value, transition_steps=warmup_steps)


def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
  """Linear warmup to `peak_value`, then cosine decay to `end_value`.

  Args:
    init_value: the value at step 0.
    peak_value: the value at the end of the warmup.
    warmup_steps: the non-negative length of the warmup.
    decay_steps: the total length of the schedule, warmup included; must exceed
      `warmup_steps`.
    end_value: the value from `decay_steps` on.
    exponent: the power applied to the cosine factor (see `cosine_decay_schedule`).

  Reference: Loshchilov and Hutter, SGDR: Stochastic Gradient Descent with Warm
  Restarts, 2017, https://arxiv.org/abs/1608.03983

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
    >>> [round(float(sched(c)), 4) for c in (0, 5, 10, 60, 110)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
  """
  check_non_negative("warmup_steps", warmup_steps)
  if not decay_steps - warmup_steps > 0:
    raise ValueError(
        f"decay_steps must be > warmup_steps={warmup_steps!r}, got decay_steps={decay_steps!r}"
    )
  alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
  return join_schedules(
      [
          linear_schedule(
              init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
          ),
          cosine_decay_schedule(
              init_value=peak_value,
              decay_steps=decay_steps - warmup_steps,
              alpha=alpha,
              exponent=exponent,
          ),
      ],
      [warmup_steps],
  )


def warmup_exponential_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: Optional[jax.typing.ArrayLike] = None,
) -> Schedule:
  """Linear warmup to `peak_value`, then `exponential_decay` from it.

  Args:
    init_value: the value at step 0.
    peak_value: the value at the end of the warmup.
    warmup_steps: the non-negative length of the warmup.
    transition_steps: steps per factor of `decay_rate` (see `exponential_decay`).
    decay_rate: the decay factor.
    transition_begin: steps after the warmup to hold `peak_value`.
    staircase: decay at discrete intervals.
    end_value: a lower bound if `decay_rate < 1`, an upper bound otherwise.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.warmup_exponential_decay_schedule(0.0, 1.0, 2, 10, 0.5)
    >>> [float(sched(c)) for c in (0, 1, 2, 12, 22)]
    [0.0, 0.5, 1.0, 0.5, 0.25]

  References:
    `optax.warmup_exponential_decay_schedule`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html;
    Goyal et al., 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour"
    (linear warmup), https://arxiv.org/abs/1706.02677
  """
  check_non_negative("warmup_steps", warmup_steps)
  return join_schedules(
      [
          linear_schedule(
              init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
          ),
          exponential_decay(
              init_value=peak_value,
              transition_steps=transition_steps,
              decay_rate=decay_rate,
              transition_begin=transition_begin,
              staircase=staircase,
              end_value=end_value,
          ),
      ],
      [warmup_steps],
  )


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, jax.typing.ArrayLike]]) -> Schedule:
  """SGD with warm restarts: `warmup_cosine_decay_schedule` cycles, one after another.

  Args:
    cosine_kwargs: one dict of `warmup_cosine_decay_schedule` arguments per cycle;
      each cycle lasts its `decay_steps`.

  Reference: Loshchilov and Hutter, SGDR: Stochastic Gradient Descent with Warm
  Restarts, 2017, https://arxiv.org/abs/1608.03983

  Example:
    >>> import functional_optim as fo
    >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=10)
    >>> sched = fo.sgdr_schedule([cycle, cycle])
    >>> [round(float(sched(c)), 4) for c in (0, 5, 10, 15)]
    [0.0, 1.0, 0.0, 1.0]
  """
  schedules, boundaries, step = [], [], 0
  for kwargs in cosine_kwargs:
    schedules.append(warmup_cosine_decay_schedule(**kwargs))
    step += kwargs["decay_steps"]
    boundaries.append(step)
  return join_schedules(schedules, boundaries[:-1])
