"""Schedule-Free: interpolation and averaging in place of momentum and a decaying schedule."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive

__all__ = [
    "ScheduleFreeState",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
]


class ScheduleFreeState(NamedTuple):
  """State of `schedule_free`."""

  b1: jax.typing.ArrayLike  # shape=(), lowest dtype of the params: interpolation weight
  weight_sum: jax.typing.ArrayLike  # shape=(), lowest dtype of the params: sum of averaging weights
  step_count: jax.typing.ArrayLike  # shape=(), int32: starts at 1
  max_lr: jax.typing.ArrayLike  # shape=(), lowest dtype of the params: largest learning rate so far
  base_optimizer_state: _base.OptState  # state of the base optimizer
  z: _base.Params  # like params (dtype state_dtype if given): the base optimizer's iterates


def schedule_free_eval_params(state: _base.OptState, params: _base.Params):
  """The averaged iterate `x = (y - (1 - b1) z) / b1`, where the loss should be evaluated.

  Args:
    state: a `ScheduleFreeState` (as returned by a schedule-free `update`).
    params: the current (training) parameters `y`.

  Returns:
    The evaluation parameters `x`, like `params`.

  References:
    Defazio et al., 2024, "The Road Less Scheduled", https://arxiv.org/abs/2405.15682

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.schedule_free_sgd(learning_rate=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(params, state, params)  # gradient of |p|^2 / 2
    >>> fo.contrib.schedule_free_eval_params(state, fo.apply_updates(params, updates))
    Array([ 0.5, -1. ], dtype=float32)
  """
  b1 = getattr(state, "b1")
  z = getattr(state, "z")
  if b1 is None or z is None:
    raise ValueError("schedule_free_eval_params requires a ScheduleFreeState as input.")
  return jax.tree.map(lambda yi, zi: (yi - (1.0 - b1) * zi) / b1, params, z)


def schedule_free(
    base_optimizer: _base.GradientTransformation,
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> _base.GradientTransformationExtraArgs:
  r"""Makes `base_optimizer` schedule-free.

  The base optimizer's updates move a sequence `z`; the parameters seen by the
  loss are `y = (1 - b1) z + b1 x`, where `x` is a weighted average of the `z`s
  (weights `max_lr**weight_lr_power`):

    y_t = (1 - b1) z_t + b1 x_t,   z_{t+1} = z_t + base_update(grad f(y_t)),
    x_{t+1} = (1 - c_t) x_t + c_t z_{t+1}.

  Evaluate the loss at `x`, given by `schedule_free_eval_params(state, params)`.
  Switch off the base optimizer's momentum (e.g. `adam(..., b1=0.0)`) and use a
  learning rate with warmup but no decay. `b1` must be strictly positive.

  Args:
    base_optimizer: the optimizer whose updates move `z`.
    learning_rate: the base optimizer's learning rate (a scalar or a schedule,
      warmup but no decay), used for the averaging weights.
    b1: interpolation weight of `x` in `y`, in (0, 1].
    weight_lr_power: power of the learning rate in the averaging weights (down-
      weights the warmup steps).
    state_dtype: dtype of `z`; None keeps the params' dtype.

  Returns:
    A `GradientTransformationExtraArgs`; `update` needs the params.

  References:
    Defazio et al., 2024, "The Road Less Scheduled", https://arxiv.org/abs/2405.15682

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.schedule_free(fo.sgd(0.5), learning_rate=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(params, tx.init(params), params)
    >>> updates  # the first step averages nothing in: y = z = params - 0.5 g
    Array([-0.5,  1. ], dtype=float32)
  """
  check_non_negative("learning_rate", learning_rate)
  check_positive("b1", b1)
  check_in_range("b1", b1, 0.0, 1.0, high_inclusive=True)
  base_optimizer = fo.with_extra_args_support(base_optimizer)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that no update is promoted.
    params_dtype = fo.tree.dtype(params, "lowest")
    z = fo.tree.cast(params, state_dtype) if state_dtype is not None else params
    # A distinct copy, so that params and state can both be donated to jit.
    z = jax.tree.map(lambda t: t.copy(), z)
    return ScheduleFreeState(
        b1=jnp.asarray(b1, dtype=params_dtype),
        weight_sum=jnp.zeros([], dtype=params_dtype),
        step_count=jnp.ones([], dtype=jnp.int32),
        max_lr=jnp.zeros([], dtype=params_dtype),
        base_optimizer_state=base_optimizer.init(params),
        z=z,
    )

  def update_fn(grads, state, params=None, **extra_args):
    lr = learning_rate
    if callable(learning_rate):
      lr = jnp.asarray(learning_rate(state.step_count), dtype=state.max_lr.dtype)
    max_lr = jnp.maximum(state.max_lr, lr)
    weight = max_lr**weight_lr_power
    next_total_weight = state.weight_sum + weight
    # 0/0 (a zero learning rate so far) averages nothing; a NaN stays visible.
    ck = jnp.where(
        jnp.logical_or(jnp.isnan(weight), jnp.isnan(next_total_weight)),
        jnp.full(weight.shape, jnp.nan),
        jnp.nan_to_num(weight / next_total_weight, nan=0.0, posinf=jnp.inf),
    )
    base_updates, base_state = base_optimizer.update(
        grads, state.base_optimizer_state, params, **extra_args
    )
    z = jax.tree.map(
        lambda zi, ui: jnp.asarray(zi + ui).astype(jnp.asarray(zi).dtype), state.z, base_updates
    )
    # x is recomputed from y and z rather than stored: same memory as the base
    # optimizer, and exact even if another transform modified y.
    prev_x = jax.tree.map(lambda yi, zi: (yi - (1.0 - b1) * zi) / b1, params, state.z)
    x = jax.tree.map(lambda xi, zi: (1.0 - ck) * xi + ck * zi, prev_x, z)
    new_params = jax.tree.map(lambda xi, zi: b1 * xi + (1.0 - b1) * zi, x, z)
    updates = jax.tree.map(lambda npi, pi: npi - pi, new_params, params)
    return updates, ScheduleFreeState(
        b1=state.b1,
        weight_sum=next_total_weight,
        step_count=fo.safe_increment(state.step_count),
        max_lr=max_lr,
        base_optimizer_state=base_state,
        z=z,
    )

  return fo.GradientTransformationExtraArgs(init_fn, update_fn)


def _with_warmup(learning_rate, warmup_steps):
  if warmup_steps is None:
    return learning_rate
  return fo.warmup_constant_schedule(
      init_value=0, peak_value=learning_rate, warmup_steps=warmup_steps
  )


def schedule_free_sgd(
    learning_rate: jax.typing.ArrayLike = 1.0,
    warmup_steps: Optional[int] = None,
    b1: jax.typing.ArrayLike = 0.9,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> _base.GradientTransformationExtraArgs:
  """Schedule-free SGD: `schedule_free` around `sgd` (with optional weight decay).

  Args:
    learning_rate: SGD learning rate.
    warmup_steps: length of a linear warmup from 0; None for no warmup.
    b1: interpolation weight of the averaged iterate, in (0, 1].
    weight_decay: weight decay rate, multiplied by the learning rate (as in
      PyTorch); None for no weight decay.
    weight_lr_power: power of the learning rate in the averaging weights.
    state_dtype: dtype of the `z` sequence; None keeps the params' dtype.

  Returns:
    A `GradientTransformationExtraArgs`; evaluate at `schedule_free_eval_params`.

  References:
    Defazio et al., 2024, "The Road Less Scheduled", https://arxiv.org/abs/2405.15682

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.schedule_free_sgd()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(fo.contrib.schedule_free_eval_params(state, params)):.2E}")
    1.40E+01
    1.75E-14
    9.96E-01
  """
  if weight_decay is not None:
    check_non_negative("weight_decay", weight_decay)
  learning_rate = _with_warmup(learning_rate, warmup_steps)
  optimizer = fo.sgd(learning_rate)
  if weight_decay is not None:
    optimizer = fo.chain(fo.add_decayed_weights(weight_decay), optimizer)
  return schedule_free(
      optimizer,
      learning_rate=learning_rate,
      b1=b1,
      weight_lr_power=weight_lr_power,
      state_dtype=state_dtype,
  )


def schedule_free_adamw(
    learning_rate: jax.typing.ArrayLike = 0.0025,
    warmup_steps: Optional[int] = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_lr_power: jax.typing.ArrayLike = 2.0,
    state_dtype: Optional[jax.typing.DTypeLike] = None,
) -> _base.GradientTransformationExtraArgs:
  """Schedule-free AdamW: `schedule_free` around AdamW without momentum.

  The base optimizer is `scale_by_rms(b2, eps, eps_in_sqrt=False,
  bias_correction=True)` (Adam with `b1=0`, without storing a zero first
  moment), decoupled weight decay, then the learning rate.

  Args:
    learning_rate: AdamW learning rate.
    warmup_steps: length of a linear warmup from 0; None for no warmup.
    b1: interpolation weight of the averaged iterate, in (0, 1].
    b2: decay rate of the second moment.
    eps: added to the denominator, outside the square root.
    weight_decay: decoupled weight decay rate.
    weight_lr_power: power of the learning rate in the averaging weights.
    state_dtype: dtype of the `z` sequence; None keeps the params' dtype.

  Returns:
    A `GradientTransformationExtraArgs`; evaluate at `schedule_free_eval_params`.

  References:
    Defazio et al., 2024, "The Road Less Scheduled", https://arxiv.org/abs/2405.15682

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.schedule_free_adamw(1.0)
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(fo.contrib.schedule_free_eval_params(state, params)):.2E}")
    5.00E+00
    3.05E+00
    1.73E+00
  """
  check_in_range("b2", b2, 0.0, 1.0)
  check_non_negative("eps", eps)
  check_non_negative("weight_decay", weight_decay)
  learning_rate = _with_warmup(learning_rate, warmup_steps)
  optimizer = fo.chain(
      fo.scale_by_rms(decay=b2, eps=eps, eps_in_sqrt=False, bias_correction=True),
      fo.add_decayed_weights(weight_decay),
      fo.scale_by_learning_rate(learning_rate),
  )
  return schedule_free(
      optimizer,
      learning_rate=learning_rate,
      b1=b1,
      weight_lr_power=weight_lr_power,
      state_dtype=state_dtype,
  )
