"""torch.optim.RMSprop as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_number, is_zero

__all__ = ["RMSPROP_TORCH_STATE_KEYS", "RMSpropState", "rmsprop"]

# The fields of `RMSpropState` that torch's per-parameter state_dict holds (when not None).
RMSPROP_TORCH_STATE_KEYS = ("step", "square_avg", "momentum_buffer", "grad_avg")


class RMSpropState(NamedTuple):
  """State of `rmsprop`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero averages.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  square_avg: Params  # like params: average of squared gradients
  momentum_buffer: Optional[Params]  # like params; None unless momentum > 0
  grad_avg: Optional[Params]  # like params: average of gradients; None unless centered


def rmsprop(
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0,
    momentum: float = 0,
    centered: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """RMSprop, step for step as `torch.optim.RMSprop`.

  torch takes `maximize` positionally after its runtime flags `capturable` and
  `foreach`, which a pure transformation has no use for, so it is keyword-only here.
  `momentum > 0` and `weight_decay != 0` decide the structure of the computation
  (and of the state), as in torch; a traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    alpha: smoothing constant of the averages.
    eps: added to the denominator.
    weight_decay: L2 penalty, added to the gradient.
    momentum: momentum factor.
    centered: normalize by an estimate of the gradient's variance instead of its
      second moment.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Hinton, 2012, "Neural Networks for Machine Learning, Lecture 6e: rmsprop",
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf;
    `torch.optim.RMSprop`, https://docs.pytorch.org/docs/stable/generated/torch.optim.RMSprop.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.rmsprop(lr=0.01, alpha=0.75)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> updates
    Array([-0.02, -0.02], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_non_negative(momentum, f"Invalid momentum value: {momentum}")
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  check_non_negative(alpha, f"Invalid alpha value: {alpha}")
  use_momentum = not (is_number(momentum) and momentum <= 0)
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, square_avg, momentum_buffer, grad_avg):
    step = step + 1
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    square_avg = rnd(rnd(square_avg * alpha) + (1 - alpha) * grad * grad)
    if centered:
      grad_avg = rnd(_common.lerp(grad_avg, grad, 1 - alpha))
      avg = rnd(jnp.sqrt(rnd(square_avg + -1.0 * grad_avg * grad_avg)))
    else:
      avg = rnd(jnp.sqrt(square_avg))
    avg = rnd(avg + rnd(eps))
    if use_momentum:
      momentum_buffer = rnd(rnd(momentum_buffer * momentum) + grad / avg)
      increment = -rnd(lr) * momentum_buffer
    else:
      increment = (-lr * grad) / avg
    return increment, step, square_avg, momentum_buffer, grad_avg

  def init_fn(params: Params) -> RMSpropState:
    return RMSpropState(
        step=_common.scalar_like(params, 0.0),
        square_avg=_common.zeros_like(params),
        momentum_buffer=_common.zeros_like(params) if use_momentum else None,
        grad_avg=_common.zeros_like(params) if centered else None,
    )

  def update_fn(
      updates: Updates, state: RMSpropState, params: Optional[Params] = None
  ) -> tuple[Updates, RMSpropState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, RMSpropState(*fields)

  return GradientTransformation(init_fn, update_fn)
