"""Prodigy: D-Adaptation AdamW with a faster, recency-weighted estimate of the step size."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_number
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive

__all__ = ["ProdigyState", "prodigy"]


class ProdigyState(NamedTuple):
  """State of `prodigy`."""

  exp_avg: _base.Updates  # like params: EMA of the scaled gradients d * g
  exp_avg_sq: _base.Updates  # like params: EMA of the squared scaled gradients
  grad_sum: _base.Updates  # like params: weighted sum of the scaled gradients
  params0: _base.Updates  # like params: the initial point
  estim_lr: jax.typing.ArrayLike  # shape=(), lowest dtype of the params: the step size estimate d
  numerator_weighted: jax.typing.ArrayLike  # shape=(), lowest dtype of the params
  count: jax.typing.ArrayLike  # shape=(), int32: number of updates so far


def prodigy(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    beta3: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    estim_lr_coef: jax.typing.ArrayLike = 1.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    safeguard_warmup: bool = False,
) -> _base.GradientTransformationExtraArgs:
  """Learning-rate-free AdamW with Prodigy.

  AdamW on the gradients scaled by `d`, an estimate of the distance to the
  solution that only grows, computed from the correlation of the gradients with
  `params0 - params`, recent gradients weighted more (`beta3`). `learning_rate`
  multiplies `d`: keep it at 1.0, or a schedule with 1.0 as its peak.

  Args:
    learning_rate: multiplier of the estimated step size (a scalar or a schedule).
    betas: `(b1, b2)` of the underlying AdamW.
    beta3: decay of the weighted sums that estimate `d`; None is `sqrt(b2)`.
    eps: AdamW's eps (multiplied by `d`).
    estim_lr0: initial (under-)estimate `d_0` of the step size.
    estim_lr_coef: multiplier of the estimates of `d`.
    weight_decay: AdamW-style decoupled weight decay.
    safeguard_warmup: leave the learning rate out of the denominator of the
      estimate (avoids problems during warmup).

  Returns:
    A `GradientTransformationExtraArgs`; `update` needs the params.

  References:
    Mishchenko and Defazio, 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner", https://arxiv.org/abs/2306.06101

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.prodigy()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(5):  # the step size estimate grows from estim_lr0
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{state.estim_lr:.2E}")
    1.00E-06
    1.00E-06
    1.00E-06
    1.22E-06
    1.79E-06
  """
  beta1, beta2 = betas
  check_number("learning_rate", learning_rate)
  check_in_range("betas[0]", beta1, 0.0, 1.0)
  check_in_range("betas[1]", beta2, 0.0, 1.0)
  if beta3 is not None:
    check_in_range("beta3", beta3, 0.0, 1.0, high_inclusive=True)
  check_non_negative("eps", eps)
  check_positive("estim_lr0", estim_lr0)
  check_non_negative("estim_lr_coef", estim_lr_coef)
  check_non_negative("weight_decay", weight_decay)
  if beta3 is None:
    beta3 = beta2**0.5

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that no update is promoted.
    params_dtype = fo.tree.dtype(params, "lowest")
    return ProdigyState(
        exp_avg=fo.tree.zeros_like(params),
        exp_avg_sq=fo.tree.zeros_like(params),
        grad_sum=fo.tree.zeros_like(params),
        params0=jax.tree.map(jnp.copy, params),  # own buffers: donatable with params
        estim_lr=jnp.asarray(estim_lr0, dtype=params_dtype),
        numerator_weighted=jnp.zeros((), dtype=params_dtype),
        count=jnp.zeros((), jnp.int32),
    )

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    count_inc = fo.safe_increment(state.count)
    sched = learning_rate(state.count) if callable(learning_rate) else learning_rate
    estim_lr = state.estim_lr
    bc = ((1 - beta2**count_inc) ** 0.5) / (1 - beta1**count_inc)
    dlr = jnp.asarray(estim_lr * sched * bc, dtype=estim_lr.dtype)
    dg = jax.tree.map(lambda g: estim_lr * g, updates)
    param_diff = jax.tree.map(lambda p0, p: p0 - p, state.params0, params)
    numerator_acum = fo.tree.vdot(updates, param_diff)
    exp_avg = jax.tree.map(lambda ea, dgk: beta1 * ea + (1 - beta1) * dgk, state.exp_avg, dg)
    exp_avg_sq = jax.tree.map(
        lambda eas, dgk: beta2 * eas + (1 - beta2) * dgk * dgk, state.exp_avg_sq, dg
    )
    grad_scale = estim_lr if safeguard_warmup else dlr
    grad_sum = jax.tree.map(
        lambda sk, dgk: beta3 * sk + grad_scale * dgk / estim_lr0, state.grad_sum, dg
    )
    numerator_weighted = beta3 * state.numerator_weighted
    numerator_weighted += (estim_lr / estim_lr0) * dlr * numerator_acum
    denominator = fo.tree.sum(jax.tree.map(jnp.abs, grad_sum))
    lr_estimate = estim_lr_coef * numerator_weighted / denominator
    # Sums over leaves of several dtypes come out in the highest one; the scalars stay in
    # the params' lowest dtype (optax promotes them, and with them the updates).
    numerator_weighted = numerator_weighted.astype(state.numerator_weighted.dtype)
    new_estim_lr = jnp.maximum(estim_lr, lr_estimate).astype(estim_lr.dtype)
    p_update = jax.tree.map(
        lambda ea, eas, p: (
            -weight_decay * dlr * p - dlr * ea / (jnp.sqrt(eas) + new_estim_lr * eps)
        ),
        exp_avg,
        exp_avg_sq,
        params,
    )
    return p_update, ProdigyState(
        exp_avg=exp_avg,
        exp_avg_sq=exp_avg_sq,
        grad_sum=grad_sum,
        params0=state.params0,
        estim_lr=new_estim_lr,
        numerator_weighted=numerator_weighted,
        count=count_inc,
    )

  return fo.GradientTransformationExtraArgs(init_fn, update_fn)
