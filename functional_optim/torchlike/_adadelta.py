"""torch.optim.Adadelta as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_number, is_zero

__all__ = ["ADADELTA_TORCH_STATE_KEYS", "AdadeltaState", "adadelta"]

# The fields of `AdadeltaState` that torch's per-parameter state_dict holds.
ADADELTA_TORCH_STATE_KEYS = ("step", "square_avg", "acc_delta")


class AdadeltaState(NamedTuple):
  """State of `adadelta`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero averages.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  square_avg: Params  # like params: average of squared gradients
  acc_delta: Params  # like params: average of squared updates


def adadelta(
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Adadelta, step for step as `torch.optim.Adadelta`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate, scaling the update.
    rho: decay rate of the averages, in [0, 1].
    eps: added inside both square roots.
    weight_decay: L2 penalty, added to the gradient.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method", https://arxiv.org/abs/1212.5701;
    `torch.optim.Adadelta`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adadelta.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adadelta(rho=0.75, eps=0.25)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> [round(u, 4) for u in updates.tolist()]
    [-0.7071, -0.7071]
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  if is_number(rho) and not 0.0 <= rho <= 1.0:
    raise ValueError(f"Invalid rho value: {rho}")
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, square_avg, acc_delta):
    step = step + 1
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    square_avg = rnd(rnd(square_avg * rho) + (1 - rho) * grad * grad)
    std = rnd(jnp.sqrt(rnd(square_avg + rnd(eps))))
    delta = rnd(jnp.sqrt(rnd(acc_delta + rnd(eps))))
    delta = rnd(rnd(delta / std) * grad)
    acc_delta = rnd(rnd(acc_delta * rho) + (1 - rho) * delta * delta)
    return -rnd(lr) * delta, step, square_avg, acc_delta

  def init_fn(params: Params) -> AdadeltaState:
    return AdadeltaState(
        step=_common.scalar_like(params, 0.0),
        square_avg=_common.zeros_like(params),
        acc_delta=_common.zeros_like(params),
    )

  def update_fn(
      updates: Updates, state: AdadeltaState, params: Optional[Params] = None
  ) -> tuple[Updates, AdadeltaState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, AdadeltaState(*fields)

  return GradientTransformation(init_fn, update_fn)
