"""torch.optim.SGD as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_number, is_zero

__all__ = ["SGD_TORCH_STATE_KEYS", "SGDState", "sgd"]

# The fields of `SGDState` that torch's per-parameter state_dict holds (when not None).
SGD_TORCH_STATE_KEYS = ("momentum_buffer",)


class SGDState(NamedTuple):
  """State of `sgd`: torch's per-parameter state plus one flag.

  Both fields are None when `momentum == 0` (torch keeps no state then).
  """

  momentum_buffer: Optional[Params]  # like params: torch's `momentum_buffer`
  # Per parameter, shape=(), bool: True iff torch's state has `momentum_buffer`.
  # torch creates the buffer on a parameter's first step as a copy of the gradient
  # (undamped), so the first step differs from later ones.
  has_momentum_buffer: Optional[Params]


def sgd(
    lr: float = 1e-3,
    momentum: float = 0,
    dampening: float = 0,
    weight_decay: float = 0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Stochastic gradient descent with momentum, step for step as `torch.optim.SGD`.

  `momentum != 0` and `weight_decay != 0` decide the structure of the computation,
  as in torch; a traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    momentum: momentum factor.
    dampening: dampening of the momentum.
    weight_decay: L2 penalty, added to the gradient.
    nesterov: use Nesterov momentum.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Sutskever et al., 2013, "On the importance of initialization and momentum in deep learning",
    http://proceedings.mlr.press/v28/sutskever13.html;
    `torch.optim.SGD`, https://docs.pytorch.org/docs/stable/generated/torch.optim.SGD.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.sgd(lr=0.1, momentum=0.9)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> updates
    Array([-0.1, -0.1], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(momentum, f"Invalid momentum value: {momentum}")
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  if nesterov and (
      (is_number(momentum) and momentum <= 0) or (is_number(dampening) and dampening != 0)
  ):
    raise ValueError("Nesterov momentum requires a momentum and zero dampening")
  use_momentum = not is_zero(momentum)
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, buf, has_buf):
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    if use_momentum:
      has = has_buf
      if 0 < jnp.ndim(has) < jnp.ndim(buf):  # flat form, complex: buf is the (..., 2) real view
        has = has[..., None]
      buf = jnp.where(has, rnd(rnd(buf * momentum) + rnd(1 - dampening) * grad), grad)
      has_buf = jnp.ones_like(has_buf)
      grad = rnd(grad + rnd(momentum) * buf) if nesterov else buf
    return -rnd(lr) * grad, buf, has_buf

  def init_fn(params: Params) -> SGDState:
    if not use_momentum:
      return SGDState(None, None)
    return SGDState(_common.zeros_like(params), _common.scalar_like(params, False, jnp.bool_))

  def update_fn(
      updates: Updates, state: SGDState, params: Optional[Params] = None
  ) -> tuple[Updates, SGDState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, SGDState(*fields)

  return GradientTransformation(init_fn, update_fn)

