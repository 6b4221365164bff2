"""torch.optim.RAdam as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_betas, check_non_negative, is_zero

__all__ = ["RADAM_TORCH_STATE_KEYS", "RAdamState", "radam"]

# The fields of `RAdamState` that torch's per-parameter state_dict holds.
RADAM_TORCH_STATE_KEYS = ("step", "exp_avg", "exp_avg_sq")


class RAdamState(NamedTuple):
  """State of `radam`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero moments.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  exp_avg: Params  # like params: first moment
  exp_avg_sq: Params  # like params: second moment


def _series(x, coefficients):
  """`sum(c * x**k for k, c in enumerate(coefficients))`, by Horner's rule."""
  total = 0.0
  for c in reversed(coefficients):
    total = total * x + c
  return total


def _rho(beta2, step):
  """RAdam's `rho_inf` and `rho_t`, without the cancellation of torch's formula.

  torch computes `rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)` in float64; for
  beta2 near 1 both terms are about `2 / (1 - beta2)` while `rho_t` is about `t`,
  so float32 would lose most digits. With `l = -log(beta2)`, `rho_inf = coth(l/2)`
  and `rho_t = (coth(l/2) - 2/l) + (2/l) (1 - t l / expm1(t l))`, whose brackets
  are evaluated by their Taylor series near 0.
  """
  l = -_common.log(beta2)
  half = jnp.asarray(l / 2, jnp.float32)
  coth_minus_inverse = jnp.where(
      half < 0.5,
      half * _series(half * half, (1 / 3, -1 / 45, 2 / 945, -1 / 4725, 2 / 93555)),
      1 / jnp.tanh(half) - 1 / half,
  )
  y = jnp.minimum(step * l, 100.0)  # beyond 100, 1 - y / expm1(y) == 1 in float32
  one_minus_ratio = jnp.where(
      y < 0.5,
      y * _series(y, (1 / 2, -1 / 12, 0.0, 1 / 720, 0.0, -1 / 30240, 0.0, 1 / 1209600)),
      1 - y / jnp.expm1(y),
  )
  rho_inf = 1 / jnp.tanh(half)
  rho_t = coth_minus_inverse + (2 / l) * one_minus_ratio
  return rho_inf, rho_t


def radam(
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    decoupled_weight_decay: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """RAdam, step for step as `torch.optim.RAdam`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    betas: decay rates of the first and second moments.
    eps: added to the denominator.
    weight_decay: L2 penalty added to the gradient, or, with
      `decoupled_weight_decay`, the rate of decay of the parameters.
    decoupled_weight_decay: decay the parameters by `lr * weight_decay` per step
      instead of adding `weight_decay * params` to the gradient.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
    https://arxiv.org/abs/1908.03265;
    `torch.optim.RAdam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.RAdam.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.radam(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> state.exp_avg
    Array([0.1, 0.1], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_betas(betas)
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  beta1, beta2 = betas
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, exp_avg, exp_avg_sq):
    step = step + 1
    if maximize:
      grad = -grad
    decay = 0.0
    if use_weight_decay:
      if decoupled_weight_decay:
        decay = _common.decay_increment(rnd, param, lr, weight_decay)
      else:
        grad = rnd(grad + rnd(weight_decay) * param)
    exp_avg = rnd(_common.lerp(exp_avg, grad, 1 - beta1))
    exp_avg_sq = rnd(rnd(exp_avg_sq * beta2) + (1 - beta2) * grad * grad)
    bias_correction1 = _common.one_minus_power(beta1, step)
    bias_correction2 = _common.one_minus_power(beta2, step)
    scaled_exp_avg = rnd(rnd(exp_avg / bias_correction1) * lr)
    rho_inf, rho_t = _rho(beta2, step)
    rect = jnp.sqrt(
        (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    )
    # torch divides the scalar by the tensor as `tensor.reciprocal() * scalar`.
    adaptive_lr = rnd(
        rnd(1 / rnd(rnd(jnp.sqrt(exp_avg_sq)) + rnd(eps))) * jnp.sqrt(bias_correction2)
    )
    rectified = rnd(rnd(scaled_exp_avg * adaptive_lr) * rect)
    increment = decay - jnp.where(rho_t > 5.0, rectified, scaled_exp_avg)
    return increment, step, exp_avg, exp_avg_sq

  def init_fn(params: Params) -> RAdamState:
    return RAdamState(
        step=_common.scalar_like(params, 0.0),
        exp_avg=_common.zeros_like(params),
        exp_avg_sq=_common.zeros_like(params),
    )

  def update_fn(
      updates: Updates, state: RAdamState, params: Optional[Params] = None
  ) -> tuple[Updates, RAdamState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, RAdamState(*fields)

  return GradientTransformation(init_fn, update_fn)
