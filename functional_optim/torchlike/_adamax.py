"""torch.optim.Adamax as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_betas, check_non_negative, is_zero

__all__ = ["ADAMAX_TORCH_STATE_KEYS", "AdamaxState", "adamax"]

# The fields of `AdamaxState` that torch's per-parameter state_dict holds.
ADAMAX_TORCH_STATE_KEYS = ("step", "exp_avg", "exp_inf")


class AdamaxState(NamedTuple):
  """State of `adamax`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero moments.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  exp_avg: Params  # like params: first moment
  exp_inf: Params  # like params: exponentially weighted infinity norm


def adamax(
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Adamax, step for step as `torch.optim.Adamax`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    betas: decay rates of the first moment and of the infinity norm.
    eps: added to the infinity norm.
    weight_decay: L2 penalty, added to the gradient.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Kingma and Ba, 2015 (section 7), "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    `torch.optim.Adamax`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adamax.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adamax(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.full(2, -2.0), tx.init(params), params)
    >>> state.exp_inf
    Array([2., 2.], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_betas(betas)
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  beta1, beta2 = betas
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, exp_avg, exp_inf):
    step = step + 1
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    exp_avg = rnd(_common.lerp(exp_avg, grad, 1 - beta1))
    exp_inf = jnp.maximum(rnd(exp_inf * beta2), rnd(jnp.abs(grad) + rnd(eps)))
    clr = lr / _common.one_minus_power(beta1, step)
    return (-clr * exp_avg) / exp_inf, step, exp_avg, exp_inf

  def init_fn(params: Params) -> AdamaxState:
    return AdamaxState(
        step=_common.scalar_like(params, 0.0),
        exp_avg=_common.zeros_like(params),
        exp_inf=_common.zeros_like(params),
    )

  def update_fn(
      updates: Updates, state: AdamaxState, params: Optional[Params] = None
  ) -> tuple[Updates, AdamaxState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, AdamaxState(*fields)

  return GradientTransformation(init_fn, update_fn)
