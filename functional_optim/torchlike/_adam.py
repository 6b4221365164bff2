"""torch.optim.Adam and torch.optim.AdamW as pure transformations."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_betas, check_non_negative, is_zero

__all__ = [
    "ADAMW_TORCH_STATE_KEYS",
    "ADAM_TORCH_STATE_KEYS",
    "AdamState",
    "adam",
    "adamw",
]

# The fields of `AdamState` that torch's per-parameter state_dict holds (when not None).
ADAM_TORCH_STATE_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
ADAMW_TORCH_STATE_KEYS = ADAM_TORCH_STATE_KEYS


class AdamState(NamedTuple):
  """State of `adam` and `adamw`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero moments.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  exp_avg: Params  # like params: first moment
  exp_avg_sq: Params  # like params: second moment
  max_exp_avg_sq: Optional[Params]  # like params: running max of exp_avg_sq; None unless amsgrad


def adam(
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
  """Adam, step for step as `torch.optim.Adam`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    betas: decay rates of the first and second moments.
    eps: added to the denominator.
    weight_decay: L2 penalty added to the gradient, or, with
      `decoupled_weight_decay`, the rate of decay of the parameters (AdamW).
    amsgrad: use the running maximum of the second moment (AMSGrad).
    maximize: maximize the objective instead of minimizing it.
    decoupled_weight_decay: decay the parameters by `lr * weight_decay` per step
      instead of adding `weight_decay * params` to the gradient.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    Reddi et al., 2018, "On the Convergence of Adam and Beyond",
    https://openreview.net/forum?id=ryQu7f-RZ (AMSGrad);
    `torch.optim.Adam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adam.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adam(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> updates
    Array([-0.1, -0.1], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_betas(betas)
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  beta1, beta2 = betas
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, exp_avg, exp_avg_sq, max_exp_avg_sq):
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
    step_size = lr / _common.one_minus_power(beta1, step)
    bias_correction2_sqrt = jnp.sqrt(_common.one_minus_power(beta2, step))
    if amsgrad:
      max_exp_avg_sq = jnp.maximum(max_exp_avg_sq, exp_avg_sq)
      second_moment = max_exp_avg_sq
    else:
      second_moment = exp_avg_sq
    denom = rnd(rnd(rnd(jnp.sqrt(second_moment)) / bias_correction2_sqrt) + rnd(eps))
    increment = decay + (-step_size * exp_avg) / denom
    return increment, step, exp_avg, exp_avg_sq, max_exp_avg_sq

  def init_fn(params: Params) -> AdamState:
    return AdamState(
        step=_common.scalar_like(params, 0.0),
        exp_avg=_common.zeros_like(params),
        exp_avg_sq=_common.zeros_like(params),
        max_exp_avg_sq=_common.zeros_like(params) if amsgrad else None,
    )

  def update_fn(
      updates: Updates, state: AdamState, params: Optional[Params] = None
  ) -> tuple[Updates, AdamState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, AdamState(*fields)

  return GradientTransformation(init_fn, update_fn)


def adamw(
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """AdamW, step for step as `torch.optim.AdamW`: `adam` with decoupled weight decay.

  Args:
    lr: learning rate.
    betas: decay rates of the first and second moments.
    eps: added to the denominator.
    weight_decay: each step multiplies the parameters by `1 - lr * weight_decay`.
    amsgrad: use the running maximum of the second moment (AMSGrad).
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101;
    `torch.optim.AdamW`, https://docs.pytorch.org/docs/stable/generated/torch.optim.AdamW.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adamw(lr=0.1, weight_decay=0.5)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> updates
    Array([-0.15, -0.15], dtype=float32)
  """
  return adam(
      lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True
  )
