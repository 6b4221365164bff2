"""torch.optim.Adagrad as a pure transformation."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_zero

__all__ = ["ADAGRAD_TORCH_STATE_KEYS", "AdagradState", "adagrad"]

# The fields of `AdagradState` that torch's per-parameter state_dict holds.
ADAGRAD_TORCH_STATE_KEYS = ("step", "sum")


class AdagradState(NamedTuple):
  """State of `adagrad`, field for field torch's per-parameter state.

  torch creates this state for every parameter when the optimizer is built.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  sum: Params  # like params: sum of squared gradients, from initial_accumulator_value


def adagrad(
    lr: float = 1e-2,
    lr_decay: float = 0,
    weight_decay: float = 0,
    initial_accumulator_value: float = 0,
    eps: float = 1e-10,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Adagrad, step for step as `torch.optim.Adagrad`.

  `weight_decay != 0` decides the structure of the computation, as in torch; a
  traced (array) value counts as nonzero.

  Args:
    lr: learning rate.
    lr_decay: the learning rate at step `t` is `lr / (1 + (t - 1) * lr_decay)`.
    weight_decay: L2 penalty, added to the gradient.
    initial_accumulator_value: initial value of the sum of squared gradients (for
      complex parameters, of both its real and imaginary parts).
    eps: added to the denominator.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Duchi et al., 2011, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", https://jmlr.org/papers/v12/duchi11a.html;
    `torch.optim.Adagrad`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adagrad.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adagrad(lr=0.1)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.full(2, 2.0), tx.init(params), params)
    >>> updates
    Array([-0.1, -0.1], dtype=float32)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(lr_decay, f"Invalid lr_decay value: {lr_decay}")
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  check_non_negative(
      initial_accumulator_value,
      f"Invalid initial_accumulator_value value: {initial_accumulator_value}",
  )
  check_non_negative(eps, f"Invalid epsilon value: {eps}")
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, state_sum):
    step = step + 1
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    wide = jax.dtypes.canonicalize_dtype(jnp.float64)  # torch's Python float, in 64-bit mode
    clr = lr / (1 + (jnp.asarray(step, wide) - 1) * lr_decay)
    state_sum = rnd(state_sum + grad * grad)
    std = rnd(rnd(jnp.sqrt(state_sum)) + rnd(eps))
    return (-clr * grad) / std, step, state_sum

  def init_fn(params: Params) -> AdagradState:
    def full(p):
      # torch fills complex sums with `complex(value, value)`.
      complex_value = initial_accumulator_value * (1 + 1j)
      return jnp.full_like(p, complex_value if jnp.iscomplexobj(p) else initial_accumulator_value)

    return AdagradState(step=_common.scalar_like(params, 0.0), sum=jax.tree.map(full, params))

  def update_fn(
      updates: Updates, state: AdagradState, params: Optional[Params] = None
  ) -> tuple[Updates, AdagradState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, AdagradState(*fields)

  return GradientTransformation(init_fn, update_fn)
