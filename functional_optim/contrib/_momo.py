"""MoMo: momentum models with a Polyak-type adaptive learning rate (SGD and Adam variants)."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative

__all__ = ["MomoAdamState", "MomoState", "momo", "momo_adam"]

_NO_VALUE_MSG = (
    "You need to pass the latest loss value to Momo as `value=`; use `jax.value_and_grad` for this."
)


class MomoState(NamedTuple):
  """State of `momo`."""

  exp_avg: _base.Updates  # like params: EMA of the gradients
  barf: jax.typing.ArrayLike  # shape=(), lowest dtype of params: EMA of the loss values
  gamma: jax.typing.ArrayLike  # shape=(), lowest dtype of params: EMA of <g, x>
  lb: jax.typing.ArrayLike  # shape=(), lowest dtype of params: lower bound of the loss
  count: jax.typing.ArrayLike  # shape=(), int32: number of updates so far


def _check_common(learning_rate, weight_decay):
  check_non_negative("learning_rate", learning_rate)
  check_non_negative("weight_decay", weight_decay)


def momo(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    beta: jax.typing.ArrayLike = 0.9,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> _base.GradientTransformationExtraArgs:
  """MoMo: SGD with momentum and an adaptive, Polyak-type learning rate.

  The step size is `min(learning_rate, t)`, with `t` computed from a model of the
  loss built from EMAs of the losses, gradients and `<g, x>`, and a known lower bound
  of the loss (zero is a good choice for most tasks, and often close to the final
  loss). `learning_rate` needs less tuning than in SGD and can be large. `update`
  needs the current parameters and the latest (batch) loss as `value=`.

  Args:
    learning_rate: the largest step size (a scalar or a schedule).
    beta: decay rate of the EMAs.
    lower_bound: a lower bound of the loss.
    weight_decay: decoupled weight decay.
    adapt_lower_bound: estimate the lower bound on the fly, starting from
      `lower_bound`, when no good guess is available.

  References:
    Schaipp et al., 2023, "MoMo: Momentum Models for Adaptive Learning Rates",
    https://arxiv.org/abs/2305.07583

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.momo()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   value, grad = jax.value_and_grad(f)(params)
    ...   updates, state = tx.update(grad, state, params, value=value)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(params):.4f}")
    3.5000
    3.3182
  """
  check_in_range("beta", beta, 0.0, 1.0, high_inclusive=True)
  _check_common(learning_rate, weight_decay)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    return MomoState(
        exp_avg=fo.tree.zeros_like(params),
        barf=jnp.zeros([], dtype=params_dtype),
        gamma=jnp.zeros([], dtype=params_dtype),
        lb=jnp.array(lower_bound, dtype=params_dtype),
        count=jnp.zeros([], jnp.int32),
    )

  def update_fn(updates, state, params: Optional[_base.Params] = None, *, value=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    if value is None:
      raise ValueError(_NO_VALUE_MSG)
    count = state.count
    # The EMAs start at the first gradient and loss.
    bt = jnp.where(count == 0, 0.0, beta)
    barf = bt * state.barf + (1 - bt) * jnp.asarray(value, dtype=state.barf.dtype)
    exp_avg = jax.tree.map(lambda ea, g: bt * ea + (1 - bt) * g, state.exp_avg, updates)
    gamma = bt * state.gamma + (1 - bt) * fo.tree.vdot(updates, params)
    exp_avg_norm = fo.tree.norm(exp_avg, squared=True)
    iprod = fo.tree.vdot(exp_avg, params)
    alpha = learning_rate(count) if callable(learning_rate) else learning_rate
    decay = 1 + alpha * weight_decay
    if adapt_lower_bound:
      cap = decay * (barf - gamma) + iprod
      this_lb = jax.lax.cond(
          cap < decay * state.lb,
          lambda: jnp.maximum(cap / (2 * decay), lower_bound),
          lambda: state.lb,
      )
    else:
      this_lb = state.lb
    t1 = jnp.maximum(decay * (barf - this_lb - gamma) + iprod, 0.0) / exp_avg_norm
    t1 = jnp.where(exp_avg_norm <= jnp.finfo(float).eps, 0.0, t1)  # no step on a zero model
    tau = jnp.minimum(alpha, t1)
    p_update = jax.tree.map(
        lambda ea, p: -(alpha * weight_decay) / decay * p - tau * ea, exp_avg, params
    )
    if adapt_lower_bound:
      new_lb = jnp.maximum((barf + iprod - gamma) - (1 / 2) * tau * exp_avg_norm, lower_bound)
    else:
      new_lb = state.lb
    return p_update, MomoState(exp_avg, barf, gamma, new_lb, fo.safe_increment(count))

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)


class MomoAdamState(NamedTuple):
  """State of `momo_adam`."""

  exp_avg: _base.Updates  # like params: EMA of the gradients
  exp_avg_sq: _base.Updates  # like params: EMA of the squared gradients
  barf: jax.typing.ArrayLike  # shape=(), lowest dtype of params: EMA of the loss values
  gamma: jax.typing.ArrayLike  # shape=(), lowest dtype of params: EMA of <g, x>
  lb: jax.typing.ArrayLike  # shape=(), lowest dtype of params: lower bound of the loss
  count: jax.typing.ArrayLike  # shape=(), int32: number of updates so far


def momo_adam(
    learning_rate: _base.ScalarOrSchedule = 1e-2,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    lower_bound: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    adapt_lower_bound: bool = False,
) -> _base.GradientTransformationExtraArgs:
  """MoMo-Adam: Adam(W) with an adaptive, Polyak-type learning rate.

  As `momo`, with Adam's preconditioner: the step size is `min(learning_rate, t)`
  (bias-corrected), `t` coming from a model of the loss and a known lower bound of
  it. `update` needs the current parameters and the latest (batch) loss as
  `value=`.

  Args:
    learning_rate: the largest step size (a scalar or a schedule).
    b1: decay rate of the first moment (and of the loss EMAs).
    b2: decay rate of the second moment.
    eps: added to the root of the second moment.
    lower_bound: a lower bound of the loss.
    weight_decay: decoupled weight decay, as in AdamW.
    adapt_lower_bound: estimate the lower bound on the fly, starting from
      `lower_bound`, when no good guess is available.

  References:
    Schaipp et al., 2023, "MoMo: Momentum Models for Adaptive Learning Rates",
    https://arxiv.org/abs/2305.07583

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.momo_adam()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> value, grad = jax.value_and_grad(f)(params)
    >>> updates, state = tx.update(grad, state, params, value=value)
    >>> print(f"{f(fo.apply_updates(params, updates)):.4f}")
    13.8803
  """
  check_in_range("b1", b1, 0.0, 1.0)
  check_in_range("b2", b2, 0.0, 1.0)
  check_non_negative("eps", eps)
  _check_common(learning_rate, weight_decay)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    return MomoAdamState(
        exp_avg=fo.tree.zeros_like(params),
        exp_avg_sq=fo.tree.zeros_like(params),
        barf=jnp.zeros([], dtype=params_dtype),
        gamma=jnp.zeros([], dtype=params_dtype),
        lb=jnp.array(lower_bound, dtype=params_dtype),
        count=jnp.zeros([], jnp.int32),
    )

  def update_fn(updates, state, params: Optional[_base.Params] = None, *, value=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    if value is None:
      raise ValueError(_NO_VALUE_MSG)
    count = state.count
    count_inc = fo.safe_increment(count)
    barf = b1 * state.barf + (1 - b1) * jnp.asarray(value, dtype=state.barf.dtype)
    exp_avg = jax.tree.map(lambda ea, g: b1 * ea + (1 - b1) * g, state.exp_avg, updates)
    exp_avg_sq = jax.tree.map(
        lambda eas, g: b2 * eas + (1 - b2) * g * g, state.exp_avg_sq, updates
    )
    bc2 = jnp.asarray(1 - b2**count_inc, dtype=barf.dtype)
    precond = jax.tree.map(lambda eas: eps + jnp.sqrt(eas / bc2), exp_avg_sq)
    exp_avg_weighted = jax.tree.map(lambda ea, prec: ea / prec, exp_avg, precond)
    exp_avg_norm = fo.tree.vdot(exp_avg, exp_avg_weighted)
    gamma = b1 * state.gamma + (1 - b1) * fo.tree.vdot(updates, params)
    iprod = fo.tree.vdot(exp_avg, params)
    alpha = learning_rate(count) if callable(learning_rate) else learning_rate
    bc1 = jnp.asarray(1 - b1**count_inc, dtype=barf.dtype)
    decay = 1 + alpha * weight_decay
    if adapt_lower_bound:
      cap = decay * (barf - gamma) + iprod
      this_lb = jnp.where(
          cap < decay * bc1 * state.lb,
          jnp.maximum(cap / (2 * bc1 * decay), lower_bound),
          state.lb,
      )
    else:
      this_lb = state.lb
    t1 = jnp.maximum(decay * (barf - bc1 * this_lb - gamma) + iprod, 0.0) / exp_avg_norm
    t1 = jnp.where(exp_avg_norm <= jnp.finfo(float).eps, 0.0, t1)  # no step on a zero model
    tau = jnp.minimum(alpha / bc1, t1)
    p_update = jax.tree.map(
        lambda ea, prec, p: -(alpha * weight_decay) / decay * p - tau * ea / prec,
        exp_avg, precond, params,
    )
    if adapt_lower_bound:
      new_lb = ((barf + iprod - gamma) - (1 / 2) * tau * exp_avg_norm) / bc1
      new_lb = jnp.maximum(new_lb, lower_bound)
    else:
      new_lb = state.lb
    return p_update, MomoAdamState(exp_avg, exp_avg_sq, barf, gamma, new_lb, count_inc)

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)
