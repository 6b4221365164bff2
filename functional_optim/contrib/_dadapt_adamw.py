"""D-Adaptation, AdamW variant: AdamW whose base learning rate estimates itself."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_number
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive

__all__ = ["DAdaptAdamWState", "dadapt_adamw"]


class DAdaptAdamWState(NamedTuple):
  """State of `dadapt_adamw`."""

  exp_avg: _base.Updates  # like params: EMA of the gradients, scaled by the step size
  exp_avg_sq: _base.Updates  # like params: EMA of the squared gradients
  grad_sum: _base.Updates  # like params: EMA (decay sqrt(b2)) of the scaled gradients
  estim_lr: jax.typing.ArrayLike  # shape=(), lowest dtype of params: distance estimate d
  numerator_weighted: jax.typing.ArrayLike  # shape=(), lowest dtype of params
  count: jax.typing.ArrayLike  # shape=(), int32: number of updates so far


def dadapt_adamw(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
    eps: jax.typing.ArrayLike = 1e-8,
    estim_lr0: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
) -> _base.GradientTransformationExtraArgs:
  """Learning-rate-free AdamW by D-Adaptation.

  AdamW whose base step size `d` is estimated on the fly, from a lower bound on the
  initial distance to the solution in the infinity norm; `d` never decreases. It
  works best with a schedule that treats 1.0 as its base (maximum) value. `update`
  needs the current parameters; extra keyword arguments are ignored.

  Args:
    learning_rate: a schedule factor on the estimated step size; a linear decay
      from 1.0 to 0 with a 0-20% warmup is recommended.
    betas: the decay rates `(b1, b2)` of AdamW's two moments.
    eps: added to the root of the second moment.
    estim_lr0: initial (under-)estimate of the step size `d`.
    weight_decay: AdamW-style decoupled weight decay (scaled by the step size);
      chain `add_decayed_weights` for Adam-style decay.

  References:
    Defazio & Mishchenko, 2023, "Learning-Rate-Free Learning by D-Adaptation",
    https://arxiv.org/abs/2301.07733

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.dadapt_adamw()
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(2 * params, state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{state.estim_lr:.2e}")  # the step size estimate grows from estim_lr0
    9.19e-06
  """
  beta1, beta2 = betas
  check_number("learning_rate", learning_rate)
  check_in_range("betas[0]", beta1, 0.0, 1.0)
  check_in_range("betas[1]", beta2, 0.0, 1.0)
  check_non_negative("eps", eps)
  check_positive("estim_lr0", estim_lr0)
  check_non_negative("weight_decay", weight_decay)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    return DAdaptAdamWState(
        exp_avg=fo.tree.zeros_like(params),
        exp_avg_sq=fo.tree.zeros_like(params),
        grad_sum=fo.tree.zeros_like(params),
        estim_lr=jnp.asarray(estim_lr0, dtype=params_dtype),
        numerator_weighted=jnp.zeros([], dtype=params_dtype),
        count=jnp.zeros([], jnp.int32),
    )

  def update_fn(updates, state, params: Optional[_base.Params] = None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    count = state.count
    sb2 = beta2**0.5
    sched = learning_rate(count) if callable(learning_rate) else learning_rate
    count_inc = fo.safe_increment(count)
    bc = ((1 - beta2**count_inc) ** 0.5) / (1 - beta1**count_inc)
    dlr = (state.estim_lr * sched * bc).astype(state.numerator_weighted.dtype)
    s_weighted = jax.tree.map(
        lambda sk, eas: sk / (jnp.sqrt(eas) + eps), state.grad_sum, state.exp_avg_sq
    )
    numerator_acum = fo.tree.vdot(updates, s_weighted)
    exp_avg = jax.tree.map(lambda ea, g: beta1 * ea + (1 - beta1) * dlr * g, state.exp_avg, updates)
    exp_avg_sq = jax.tree.map(
        lambda eas, g: beta2 * eas + (1 - beta2) * g * g, state.exp_avg_sq, updates
    )
    grad_sum = jax.tree.map(lambda sk, g: sb2 * sk + (1 - sb2) * dlr * g, state.grad_sum, updates)
    grad_sum_l1 = fo.tree.sum(jax.tree.map(jnp.abs, grad_sum))
    numerator_weighted = sb2 * state.numerator_weighted + (1 - sb2) * dlr * numerator_acum
    d_estimate = numerator_weighted / ((1 - sb2) * grad_sum_l1)
    estim_lr = jnp.maximum(state.estim_lr, d_estimate)
    p_update = jax.tree.map(
        lambda ea, eas, p: -weight_decay * dlr * p - ea / (jnp.sqrt(eas) + eps),
        exp_avg, exp_avg_sq, params,
    )
    return p_update, DAdaptAdamWState(
        exp_avg, exp_avg_sq, grad_sum, estim_lr, numerator_weighted, count_inc
    )

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)
