"""torch.optim.ASGD as a pure transformation."""

from typing import NamedTuple, Optional

import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, is_zero

__all__ = ["ASGD_TORCH_STATE_KEYS", "ASGDState", "asgd"]

# The fields of `ASGDState` that torch's per-parameter state_dict holds.
ASGD_TORCH_STATE_KEYS = ("step", "eta", "mu", "ax")


class ASGDState(NamedTuple):
  """State of `asgd`, field for field torch's per-parameter state.

  A parameter without torch state (never stepped) has `step == 0`, `mu == 1` and
  zero `ax`; its `eta` is (re)set to the learning rate of its first step, as torch
  creates it then.
  """

  step: Params  # per parameter, shape=(), float32: number of steps taken
  eta: Params  # per parameter, shape=(), float32: the step size of the next step
  mu: Params  # per parameter, shape=(), float32: the averaging weight of the next step
  ax: Params  # like params: the averaged parameters


def asgd(
    lr: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0,
    *,
    maximize: bool = False,
) -> GradientTransformation:
  """Averaged stochastic gradient descent, step for step as `torch.optim.ASGD`.

  At step `t` the parameters decay by `1 - lambd * eta` and move by `-eta * grad`,
  with `eta = lr / (1 + lambd * lr * (t - 1)) ** alpha`; `ax` averages the
  parameters from step `t0` on. The parameters themselves are not replaced by the
  average (read it from the state's `ax`). torch takes `maximize` positionally
  after its runtime flag `foreach`, so it is keyword-only here. `weight_decay != 0`
  decides the structure of the computation, as in torch; a traced (array) value
  counts as nonzero.

  Args:
    lr: learning rate.
    lambd: decay term.
    alpha: power of the step-size decay.
    t0: the step from which the parameters are averaged.
    weight_decay: L2 penalty, added to the gradient.
    maximize: maximize the objective instead of minimizing it.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Polyak and Juditsky, 1992, "Acceleration of Stochastic Approximation by Averaging",
    https://doi.org/10.1137/0330046;
    `torch.optim.ASGD`, https://docs.pytorch.org/docs/stable/generated/torch.optim.ASGD.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> from functional_optim import torchlike
    >>> tx = torchlike.asgd(lr=0.1, lambd=0.0, t0=0.0)
    >>> params = jnp.ones(2)
    >>> updates, state = tx.update(jnp.ones(2), tx.init(params), params)
    >>> fo.apply_updates(params, updates), state.ax
    (Array([0.9, 0.9], dtype=float32), Array([0.9, 0.9], dtype=float32))
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_non_negative(weight_decay, f"Invalid weight_decay value: {weight_decay}")
  use_weight_decay = not is_zero(weight_decay)

  def kernel(rnd, param, grad, step, eta, mu, ax):
    eta = jnp.where(step == 0, jnp.float32(lr), eta)  # torch creates it at the first step
    step = step + 1
    if maximize:
      grad = -grad
    if use_weight_decay:
      grad = rnd(grad + rnd(weight_decay) * param)
    new_param = rnd(rnd(param * (1 - lambd * eta)) + rnd(-eta) * grad)
    # torch copies the parameters while mu == 1 (a float test on the stored mu).
    ax = jnp.where(mu != 1, rnd(ax + rnd(rnd(new_param - ax) * mu)), new_param)
    # torch computes these in float64 from the new step and stores them as float32.
    new_eta = lr * jnp.exp(-alpha * jnp.log1p(lambd * lr * step))
    new_mu = 1 / jnp.maximum(1.0, step - t0)
    return new_param - param, step, new_eta, new_mu, ax

  def init_fn(params: Params) -> ASGDState:
    return ASGDState(
        step=_common.scalar_like(params, 0.0),
        eta=_common.scalar_like(params, lr),
        mu=_common.scalar_like(params, 1.0),
        ax=_common.zeros_like(params),
    )

  def update_fn(
      updates: Updates, state: ASGDState, params: Optional[Params] = None
  ) -> tuple[Updates, ASGDState]:
    updates, fields = _common.map_params(kernel, params, updates, *state)
    return updates, ASGDState(*fields)

  return GradientTransformation(init_fn, update_fn)
