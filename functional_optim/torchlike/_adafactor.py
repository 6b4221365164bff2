"""torch.optim.Adafactor as a pure transformation."""

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import NO_PARAMS_MSG, GradientTransformation, Params, Updates
from . import _common
from ._checks import check_type, is_number, is_zero

__all__ = ["ADAFACTOR_TORCH_STATE_KEYS", "AdafactorState", "adafactor"]

# The fields of `AdafactorState` that torch's per-parameter state_dict holds (when not None).
ADAFACTOR_TORCH_STATE_KEYS = ("step", "row_var", "col_var", "variance")


class AdafactorState(NamedTuple):
  """State of `adafactor`, field for field torch's per-parameter state.

  Parameters of two or more dimensions keep factored second moments (`row_var`,
  `col_var`; `variance` is None for them), the others the full `variance` (and
  None `row_var`, `col_var`), as torch does. A parameter without torch state
  (never stepped) has `step == 0` and zero moments.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  row_var: Params  # per >=2-D parameter, shape[:-1] + (1,), its dtype: row means of g**2
  col_var: Params  # per >=2-D parameter, shape[:-2] + (1, shape[-1]), its dtype: column means
  variance: Params  # per <2-D parameter, like it: mean of g**2


def _norm(x, axis=None):
  return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=axis is not None))



def _python_max(first, second):
  """torch's Python `max(first, x.item())`: `first` unless `second > first`, so a NaN gives `first`."""
  return jnp.where(second > first, second, first)


def adafactor(
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[Optional[float], float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Adafactor, step for step as `torch.optim.Adafactor`.

  torch's variant: no first moment, the second-moment decay is `1 - step **
  beta2_decay`, the step size is `min(lr, 1 / sqrt(step))` times the parameter's
  RMS (at least `eps[1]`), and weight decay is decoupled. `eps[0] = None` means
  the machine epsilon of the dtype of the first parameter (torch sets it from the
  first parameter of the group that has a gradient, and then keeps it for the
  whole group). `weight_decay != 0` decides the structure of the computation, as
  in torch; a traced (array) value counts as nonzero. Complex parameters raise
  RuntimeError, as in torch.

  Args:
    lr: learning rate, the upper bound of the relative step size.
    beta2_decay: the decay rate of the second moment at step `t` is `1 - t **
      beta2_decay`; at most 0.
    eps: `(eps1, eps2)`: eps1 bounds the second moment from below (squared) and
      the row means of factored ones; eps2 bounds the parameter's RMS from below.
    d: clipping threshold: the update's RMS is clipped to `d`.
    weight_decay: each step multiplies the parameters by `1 - lr * weight_decay`.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Shazeer and Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    https://arxiv.org/abs/1804.04235;
    `torch.optim.Adafactor`,
    https://docs.pytorch.org/docs/stable/generated/torch.optim.Adafactor.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> from functional_optim import torchlike
    >>> tx = torchlike.adafactor(lr=0.1)
    >>> params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    >>> state = tx.init(params)
    >>> state.row_var["w"].shape, state.col_var["w"].shape, state.variance["w"]
    ((2, 1), (1, 3), None)
    >>> updates, state = tx.update({"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, state, params)
    >>> fo.apply_updates(params, updates)["w"]
    Array([[0.9, 0.9, 0.9],
           [0.9, 0.9, 0.9]], dtype=float32)
  """
  eps1, eps2 = eps
  for value, name in ((lr, "Learning rate"), (beta2_decay, "beta2_decay"), (d, "Clipping threshold d"),
                      (weight_decay, "weight_decay")):
    check_type(value, f"{name}: {value}")
  if is_number(lr) and not 0.0 <= lr:
    raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
  if is_number(beta2_decay) and not 0.0 >= beta2_decay:
    raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
  if is_number(eps1) and not 0.0 <= eps1:
    raise ValueError(f"epsilon1 should be >= 0 but is: {eps1}")
  if is_number(eps2) and not 0.0 <= eps2:
    raise ValueError(f"epsilon2 should be >= 0 but is: {eps2}")
  if is_number(d) and not 1.0 <= d:
    raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
  if is_number(weight_decay) and not 0.0 <= weight_decay:
    raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
  use_weight_decay = not is_zero(weight_decay)

  def make_kernel(eps1):
    def kernel(rnd, param, grad, step, row_var, col_var, variance):
      if maximize:
        grad = -grad
      step = step + 1
      # torch computes these scalars from `step.item()` and `.item()`s in float64.
      one_minus_beta2_t = jnp.exp(beta2_decay * jnp.log(step))  # step ** beta2_decay
      rho_t = jnp.minimum(lr, 1 / jnp.sqrt(step))
      alpha = _python_max(eps2, rnd(_norm(param)) / math.sqrt(param.size)) * rho_t
      decayed = rnd(param * (1 - lr * weight_decay)) if use_weight_decay else param
      if grad.ndim > 1:
        row_mean = rnd(rnd(rnd(_norm(grad, -1)) ** 2) / grad.shape[-1])
        row_var = rnd(_common.lerp(row_var, row_mean, one_minus_beta2_t))
        col_mean = rnd(rnd(rnd(_norm(grad, -2)) ** 2) / grad.shape[-2])
        col_var = rnd(_common.lerp(col_var, col_mean, one_minus_beta2_t))
        row_var_mean = rnd(jnp.mean(row_var, axis=-2, keepdims=True))
        var_estimate = rnd(rnd(row_var * col_var) / jnp.maximum(row_var_mean, rnd(eps1)))
      else:
        variance = rnd(_common.lerp(variance, rnd(grad * grad), one_minus_beta2_t))
        var_estimate = variance
      update = rnd(1 / jnp.sqrt(jnp.maximum(var_estimate, rnd(eps1 * eps1))))
      update = rnd(update * grad)
      denom = _python_max(1.0, rnd(_norm(update)) / (math.sqrt(update.size) * d))
      new_param = rnd(decayed + rnd(-alpha / denom) * update)
      return new_param - param, step, row_var, col_var, variance

    return kernel

  def init_fn(params: Params) -> AdafactorState:
    def fields(p):
      p = jnp.asarray(p)
      if jnp.issubdtype(p.dtype, jnp.complexfloating):
        raise RuntimeError("Adafactor does not support complex parameters")
      if p.ndim > 1:
        return (jnp.zeros(p.shape[:-1] + (1,), p.dtype),
                jnp.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype), None)
      return None, None, jnp.zeros_like(p)

    leaves, treedef = jax.tree.flatten(params)
    row_var, col_var, variance = zip(*map(fields, leaves)) if leaves else ((), (), ())
    return AdafactorState(
        step=_common.scalar_like(params, 0.0),
        row_var=treedef.unflatten(row_var),
        col_var=treedef.unflatten(col_var),
        variance=treedef.unflatten(variance),
    )

  def update_fn(
      updates: Updates, state: AdafactorState, params: Optional[Params] = None
  ) -> tuple[Updates, AdafactorState]:
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    leaves = jax.tree.leaves(params)
    kernel_eps1 = eps1
    if eps1 is None and leaves:
      kernel_eps1 = float(jnp.finfo(jnp.asarray(leaves[0]).dtype).eps)
    updates, fields = _common.map_params(make_kernel(kernel_eps1), params, updates, *state)
    return updates, AdafactorState(*fields)

  return GradientTransformation(init_fn, update_fn)
