"""torch.optim.SparseAdam as a pure transformation over dense gradients and masks."""

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import GradientTransformationExtraArgs, Params, Updates
from . import _common
from ._checks import check_betas, check_type, is_number

__all__ = ["SPARSE_ADAM_TORCH_STATE_KEYS", "SparseAdamState", "sparse_adam"]

# The fields of `SparseAdamState` that torch's per-parameter state_dict holds.
SPARSE_ADAM_TORCH_STATE_KEYS = ("step", "exp_avg", "exp_avg_sq")


class SparseAdamState(NamedTuple):
  """State of `sparse_adam`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0` and zero moments.
  """

  step: Params  # per parameter, shape=(), int32: steps taken (a Python int in torch)
  exp_avg: Params  # like params: first moment
  exp_avg_sq: Params  # like params: second moment


def _check_positive(value, message: str) -> None:
  check_type(value, message)
  if is_number(value) and not 0.0 < value:
    raise ValueError(message)


def sparse_adam(
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    *,
    maximize: bool = False,
) -> GradientTransformationExtraArgs:
  """SparseAdam, step for step as `torch.optim.SparseAdam`.

  torch's SparseAdam takes sparse gradients and updates only the entries they
  hold. Here the gradient is dense and the keyword argument `grad_mask` of
  `update` (a tree like the gradients, of bools) says which entries a sparse
  gradient would hold: only those update `exp_avg`, `exp_avg_sq` and the
  parameter, even where their gradient is 0 (an entry held with value 0 still
  decays its moments); every other entry keeps its value. `step` counts every
  update. Without `grad_mask` every entry is held, which is Adam with torch's
  SparseAdam arithmetic (e.g. `eps` is added before the bias correction).
  The entries of a coalesced `torch.sparse_coo_tensor` gradient `g` are
  `g.to_dense()` with mask `g.indices()` set to True (duplicate indices summed).

  Args:
    lr: learning rate, > 0.
    betas: decay rates of the first and second moments, in [0, 1).
    eps: added to the denominator, > 0.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformationExtraArgs` whose `update(grads, state, params,
    grad_mask=None)` needs `params` (real arrays only, like torch's).

  References:
    Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    `torch.optim.SparseAdam`,
    https://docs.pytorch.org/docs/stable/generated/torch.optim.SparseAdam.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.sparse_adam(lr=0.1)
    >>> params = jnp.ones(3)
    >>> mask = jnp.array([True, True, False])
    >>> updates, state = tx.update(jnp.array([1.0, 0.0, 1.0]), tx.init(params), params,
    ...                            grad_mask=mask)
    >>> [round(u, 4) for u in updates.tolist()]  # the masked-out third entry is not updated
    [-0.1, -0.0, 0.0]
    >>> state.step
    Array(1, dtype=int32)
  """
  _check_positive(lr, f"Invalid learning rate: {lr}")
  _check_positive(eps, f"Invalid epsilon value: {eps}")
  check_betas(betas)
  beta1, beta2 = betas

  def kernel(rnd, param, grad, step, exp_avg, exp_avg_sq, held):
    del param
    step = step + 1
    if maximize:
      grad = -grad
    # torch's order: `update = (new - old) * (1 - b)`, `old += update`, and the
    # numerator and denominator use `update + old` again.
    exp_avg_update = rnd(rnd(grad - exp_avg) * (1 - beta1))
    exp_avg_sq_update = rnd(rnd(rnd(grad * grad) - exp_avg_sq) * (1 - beta2))
    new_exp_avg = rnd(exp_avg + exp_avg_update)
    new_exp_avg_sq = rnd(exp_avg_sq + exp_avg_sq_update)
    denom = rnd(rnd(jnp.sqrt(new_exp_avg_sq)) + rnd(eps))
    bias_correction1 = _common.one_minus_power(beta1, step.astype(_common.STEP_DTYPE))
    bias_correction2 = _common.one_minus_power(beta2, step.astype(_common.STEP_DTYPE))
    step_size = lr * jnp.sqrt(bias_correction2) / bias_correction1
    increment = rnd(-step_size * rnd(new_exp_avg / denom))
    if held is not None:
      increment = jnp.where(held, increment, jnp.zeros_like(increment))
      new_exp_avg = jnp.where(held, new_exp_avg, exp_avg)
      new_exp_avg_sq = jnp.where(held, new_exp_avg_sq, exp_avg_sq)
    return increment, step, new_exp_avg, new_exp_avg_sq, held

  def init_fn(params: Params) -> SparseAdamState:
    return SparseAdamState(
        _common.scalar_like(params, 0, jnp.int32),
        _common.zeros_like(params),
        _common.zeros_like(params),
    )

  def update_fn(
      updates: Updates,
      state: SparseAdamState,
      params: Optional[Params] = None,
      *,
      grad_mask: Optional[Any] = None,
      **extra_args: Any,
  ) -> tuple[Updates, SparseAdamState]:
    del extra_args
    if params is not None and any(jnp.iscomplexobj(p) for p in jax.tree.leaves(params)):
      raise ValueError("SparseAdam does not support complex parameters")
    updates, (step, exp_avg, exp_avg_sq, _) = _common.map_params(
        kernel, params, updates, *state, grad_mask
    )
    return updates, SparseAdamState(step, exp_avg, exp_avg_sq)

  return GradientTransformationExtraArgs(init_fn, update_fn)
