"""torch.optim.Rprop as a pure transformation."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_number

__all__ = ["RPROP_TORCH_STATE_KEYS", "RpropState", "rprop"]

# The fields of `RpropState` that torch's per-parameter state_dict holds.
RPROP_TORCH_STATE_KEYS = ("step", "prev", "step_size")


class RpropState(NamedTuple):
  """State of `rprop`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0`; its
  `step_size` is (re)filled with the learning rate of its first step, as torch
  creates it then.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  prev: Params  # like params: the previous step's gradient (0 where its sign flipped)
  step_size: Params  # like params: per-element step sizes (complex: lr in both parts)



def _torch_sign(x):
  """torch's `sign`, `(0 < x) - (x < 0)`: 0 for NaN, where `jnp.sign` gives NaN."""
  return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


def rprop(
    lr: float = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Resilient backpropagation, step for step as `torch.optim.Rprop`.

  Each element moves by its own step size against the sign of its gradient; the
  step size grows by `etaplus` while the gradient keeps its sign and shrinks by
  `etaminus` when it flips (and that element then skips one step).

  Args:
    lr: the initial step size.
    etas: `(etaminus, etaplus)`, the factors that shrink and grow the step sizes.
    step_sizes: `(min, max)`, the bounds of the step sizes.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Riedmiller and Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
    RPROP Algorithm", https://doi.org/10.1109/ICNN.1993.298623;
    `torch.optim.Rprop`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Rprop.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.rprop(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.array([1.0, -2.0]), tx.init(params), params)
    >>> updates
    Array([-0.1,  0.1], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  etaminus, etaplus = etas
  if is_number(etaminus) and is_number(etaplus) and not 0.0 < etaminus < 1.0 < etaplus:
    raise ValueError(f"Invalid eta values: {etaminus}, {etaplus}")
  step_size_min, step_size_max = step_sizes

  def kernel(rnd, param, grad, step, prev, step_size):
    del param
    step_size = jnp.where(step == 0, rnd(lr), step_size)  # torch creates it at the first step
    step = step + 1
    if maximize:
      grad = -grad
    # torch overwrites the signs in place, in this order, in the parameter's dtype.
    factor = _torch_sign(rnd(grad * prev))
    factor = jnp.where(factor > 0, rnd(etaplus), factor)
    factor = jnp.where(factor < 0, rnd(etaminus), factor)
    factor = jnp.where(factor == 0, 1.0, factor)
    step_size = jnp.clip(rnd(step_size * factor), rnd(step_size_min), rnd(step_size_max))
    grad = jnp.where(factor == rnd(etaminus), 0.0, grad)
    return -_torch_sign(grad) * step_size, step, grad, step_size

  def init_fn(params: Params) -> RpropState:
    def initial_step_size(p):
      p = jnp.asarray(p)
      fill = lr * (1 + 1j) if jnp.issubdtype(p.dtype, jnp.complexfloating) else lr
      return jnp.full(p.shape, fill, p.dtype)

    return RpropState(
        step=_common.scalar_like(params, 0.0),
        prev=_common.zeros_like(params),
        step_size=jax.tree.map(initial_step_size, params),
    )

  def update_fn(
      updates: Updates, state: RpropState, params: Optional[Params] = None
  ) -> tuple[Updates, RpropState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, RpropState(*fields)

  return GradientTransformation(init_fn, update_fn)
