"""Mechanic: a wrapper that learns the scale (learning rate) of another optimizer's updates.

The memory-efficient variant of the paper: one extra copy of the parameters (the
initial ones) and a handful of O(d) operations per step.
"""

from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive
from functional_optim._checks import check_positive_int

__all__ = ["MechanicState", "mechanize"]


class MechanicState(NamedTuple):
  """State of `mechanize`."""

  base_optimizer_state: _base.OptState  # the wrapped optimizer's state
  count: jax.typing.ArrayLike  # shape=(), int32: number of updates so far
  r: jax.typing.ArrayLike  # shape=(num_betas,), lowest dtype of params: rewards
  m: jax.typing.ArrayLike  # shape=(num_betas,), lowest dtype of params: max |h|
  v: jax.typing.ArrayLike  # shape=(num_betas,), lowest dtype of params: sum of h^2
  s: jax.typing.ArrayLike  # shape=(num_betas,), lowest dtype of params: the scales
  x0: _base.Updates  # like params: the parameters at the first update


def mechanize(
    base_optimizer: Union[_base.GradientTransformation, _base.GradientTransformationExtraArgs],
    weight_decay: jax.typing.ArrayLike = 1e-2,
    eps: jax.typing.ArrayLike = 1e-8,
    s_init: jax.typing.ArrayLike = 1e-6,
    num_betas: int = 6,
) -> _base.GradientTransformationExtraArgs:
  """Mechanic: learns the scale of `base_optimizer`'s updates, a black-box learning-rate tuner.

  The parameters become `x_0 + sum(s) * (sum of the base optimizer's updates)`, with
  the scale `s` learned on the fly by `num_betas` coin-betting accumulators, one per
  decay `beta_i = 1 - 0.1**i`. A learning rate schedule is still useful: keep it,
  with its base value set to 1.0, and Mechanic learns the factor. Tested by the
  authors with SGD, momentum, Adam and Lion inside; not meant for normalized
  methods such as LARS or LAMB. `x_0` is taken at the first update, not at `init`,
  so that parameters replaced after `init` (pre-trained weights) count. `update`
  needs the current parameters; extra keyword arguments go to the base optimizer.

  Args:
    base_optimizer: the optimizer whose updates are scaled.
    weight_decay: Mechanic's own weight decay on the raw gradients (not the base
      optimizer's); it reduces the variance between runs; the default rarely
      needs tuning.
    eps: for numerical stability.
    s_init: initial scale.
    num_betas: number of accumulators (decays 0.9, 0.99, ... up to `1 - 0.1**num_betas`).

  References:
    Cutkosky, Defazio & Mehta, 2023, "Mechanic: A Learning Rate Tuner",
    https://arxiv.org/abs/2306.00144

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.mechanize(fo.sgd(learning_rate=1.0))
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> for _ in range(20):
    ...   updates, state = tx.update(2 * params, state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> [round(x, 4) for x in params.tolist()]
    [0.9937, -1.9873]
  """
  check_non_negative("weight_decay", weight_decay)
  check_non_negative("eps", eps)
  check_positive("s_init", s_init)
  check_positive_int("num_betas", num_betas)
  base_optimizer = fo.with_extra_args_support(base_optimizer)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    return MechanicState(
        base_optimizer_state=base_optimizer.init(params),
        count=jnp.zeros([], jnp.int32),
        r=jnp.zeros([num_betas], dtype=params_dtype),
        m=jnp.zeros([num_betas], dtype=params_dtype),
        v=jnp.zeros([num_betas], dtype=params_dtype),
        s=jnp.ones([num_betas], dtype=params_dtype) * s_init,
        x0=jax.tree.map(jnp.copy, params),  # own buffers: donatable with params
    )

  def update_fn(updates, state, params: Optional[_base.Params] = None, **extra_args: Any):
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    new_neg_updates, base_optimizer_state = base_optimizer.update(
        updates, state.base_optimizer_state, params, **extra_args
    )
    x0 = jax.lax.cond(state.count == 0, lambda: params, lambda: state.x0)

    # Weight decay on the raw gradients, apart from any in the base optimizer.
    s_sum = jnp.sum(state.s)
    grad_norm = fo.tree.norm(updates)
    param_norm = fo.tree.norm(params)
    updates = jax.tree.map(
        lambda g, p: g + weight_decay * s_sum * grad_norm / (param_norm + eps) * p,
        updates, params,
    )
    # Delta (the sum of the base updates) is recomputed from x - x0 each step.
    delta_prev = jax.tree.map(lambda x, x0_i: (x0_i - x) / (s_sum + eps), params, x0)
    # The base updates are negative gradients in optax's convention: subtract them.
    delta = jax.tree.map(lambda d, u: d - u, delta_prev, new_neg_updates)

    h = fo.tree.vdot(updates, delta_prev)
    # Clipping h to [-m, m] came after the paper.
    clipped_h = jax.lax.clamp(-state.m, jnp.ones_like(state.m) * h, state.m)
    betas = jnp.array([1.0 - 0.1**i for i in range(1, num_betas + 1)], dtype=state.s.dtype)
    m = jnp.maximum(betas * state.m, jnp.abs(h) + eps)
    v = (betas**2) * state.v + h**2
    r = betas * state.r + clipped_h * state.s
    wealth = (s_init / jnp.size(betas)) * m + jnp.maximum(0.0, r)
    s = wealth / (jnp.sqrt(v) + eps)

    new_params = jax.tree.map(lambda x0_i, d: x0_i - jnp.sum(s) * d, x0, delta)
    new_neg_updates = jax.tree.map(lambda new, old: new - old, new_params, params)
    return new_neg_updates, MechanicState(
        base_optimizer_state=base_optimizer_state,
        count=fo.safe_increment(state.count),
        r=r,
        m=m,
        v=v,
        s=s,
        x0=x0,
    )

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)
