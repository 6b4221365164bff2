"""torch.optim.NAdam as a pure transformation."""

import math
from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_betas, check_non_negative, is_zero

__all__ = ["NADAM_TORCH_STATE_KEYS", "NAdamState", "nadam"]

# The fields of `NAdamState` that torch's per-parameter state_dict holds.
NADAM_TORCH_STATE_KEYS = ("step", "mu_product", "exp_avg", "exp_avg_sq")

_LOG_096 = math.log(0.96)  # torch's momentum schedule decays with 0.96 ** (step * momentum_decay)


class NAdamState(NamedTuple):
  """State of `nadam`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0`,
  `mu_product == 1` and zero moments.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  mu_product: Params  # per parameter, shape=(), float32: product of the momentum coefficients
  exp_avg: Params  # like params: first moment
  exp_avg_sq: Params  # like params: second moment


def nadam(
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """NAdam, step for step as `torch.optim.NAdam`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    betas: decay rates of the first and second moments.
    eps: added to the denominator.
    weight_decay: L2 penalty added to the gradient, or, with
      `decoupled_weight_decay`, the rate of decay of the parameters (NAdamW).
    momentum_decay: the momentum coefficient at step `t` is
      `beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`.
    decoupled_weight_decay: decay the parameters by `lr * weight_decay` per step
      instead of adding `weight_decay * params` to the gradient.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ;
    `torch.optim.NAdam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.NAdam.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.nadam(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> round(float(state.mu_product), 4)
    0.4501
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_betas(betas)
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  check_non_negative(momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
  beta1, beta2 = betas
  use_weight_decay = not is_zero(weight_decay)

  def momentum_coefficient(step):
    return beta1 * (1.0 - 0.5 * jnp.exp(step * momentum_decay * _LOG_096))

  def kernel(rnd, param, grad, step, mu_product, exp_avg, exp_avg_sq):
    step = step + 1
    if maximize:
      grad = -grad
    bias_correction2 = _common.one_minus_power(beta2, step)
    decay = 0.0
    if use_weight_decay:
      if decoupled_weight_decay:
        decay = _common.decay_increment(rnd, param, lr, weight_decay)
      else:
        grad = rnd(grad + rnd(weight_decay) * param)
    mu = momentum_coefficient(step)
    mu_next = momentum_coefficient(step + 1)
    mu_product = mu_product * mu
    exp_avg = rnd(_common.lerp(exp_avg, grad, 1 - beta1))
    exp_avg_sq = rnd(rnd(exp_avg_sq * beta2) + (1 - beta2) * grad * grad)
    denom = rnd(rnd(jnp.sqrt(rnd(exp_avg_sq / bias_correction2))) + rnd(eps))
    grad_coefficient = -lr * (1.0 - mu) / (1.0 - mu_product)
    exp_avg_coefficient = (-lr * mu_next) / (1.0 - mu_product * mu_next)
    # torch steps the parameter twice (two addcdiv_), rounding in between: the
    # first step contributes the exact change it makes, like `decay_increment`.
    first_step = rnd(param + decay + (grad_coefficient * grad) / denom) - param
    increment = first_step + (exp_avg_coefficient * exp_avg) / denom
    return increment, step, mu_product, exp_avg, exp_avg_sq

  def init_fn(params: Params) -> NAdamState:
    return NAdamState(
        step=_common.scalar_like(params, 0.0),
        mu_product=_common.scalar_like(params, 1.0),
        exp_avg=_common.zeros_like(params),
        exp_avg_sq=_common.zeros_like(params),
    )

  def update_fn(
      updates: Updates, state: NAdamState, params: Optional[Params] = None
  ) -> tuple[Updates, NAdamState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, NAdamState(*fields)

  return GradientTransformation(init_fn, update_fn)
