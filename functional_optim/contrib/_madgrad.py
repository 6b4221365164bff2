"""MADGRAD: momentumized, adaptive, dual-averaged gradient method."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative

__all__ = ["MadgradState", "madgrad", "scale_by_madgrad"]


class MadgradState(NamedTuple):
  """State of `scale_by_madgrad`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  grad_sum_sq: _base.Updates  # like params: weighted sum of squared gradients G_k
  s: _base.Updates  # like params: weighted sum of gradients s_k
  x0: _base.Params  # like params: the initial parameters x_0


def scale_by_madgrad(
    learning_rate: _base.ScalarOrSchedule,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> _base.GradientTransformation:
  """Rescales updates by the MADGRAD algorithm; the result is the parameter step.

  With `lamb = (lr + eps) * sqrt(k + 1)`, it accumulates `G += lamb * g^2` and
  `s += lamb * g`, forms the dual-averaging iterate `z = x_0 - s / (cbrt(G) + eps)`
  and moves to `(1 - momentum) * z + momentum * x`. The learning rate is applied
  here (the update is the full step, already sign-flipped). `update` needs the
  current parameters.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    momentum: the momentum (averaging) parameter, in [0, 1).
    eps: added to the learning rate and to the denominator, for stability.

  References:
    Defazio & Jelassi, 2021, "Adaptivity without Compromise: A Momentumized,
    Adaptive, Dual Averaged Gradient Method for Stochastic Optimization",
    https://arxiv.org/abs/2101.11075

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_madgrad(learning_rate=0.1, momentum=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, _ = tx.update(jnp.array([1.0, -8.0]), tx.init(params), params)
    >>> [round(x, 4) for x in updates.tolist()]
    [-0.2154, 0.4309]
  """
  check_non_negative("learning_rate", learning_rate)
  check_in_range("momentum", momentum, 0.0, 1.0)
  check_non_negative("eps", eps)

  def init_fn(params):
    return MadgradState(
        count=jnp.zeros([], jnp.int32),
        grad_sum_sq=fo.tree.zeros_like(params),
        s=fo.tree.zeros_like(params),
        x0=jax.tree.map(jnp.copy, params),  # own buffers: donatable with params
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    count = state.count
    lr = learning_rate(count) if callable(learning_rate) else learning_rate
    # eps on the learning rate too, as in the authors' PyTorch implementation.
    lamb = (lr + eps) * jnp.sqrt(count + 1)
    # Cast the increments to the gradient's dtype: a float32 `lamb` must not promote a
    # bfloat16 accumulator.
    grad_sum_sq = jax.tree.map(
        lambda g_sq, g: g_sq + (lamb * g**2).astype(g.dtype), state.grad_sum_sq, updates
    )
    s = jax.tree.map(lambda s_k, g: s_k + (lamb * g).astype(g.dtype), state.s, updates)
    z = jax.tree.map(
        lambda x0, s_k, g_sq: x0 - s_k / (jnp.cbrt(g_sq) + eps), state.x0, s, grad_sum_sq
    )
    new_updates = jax.tree.map(
        lambda z_k, x: ((1 - momentum) * z_k + momentum * x) - x, z, params
    )
    return new_updates, MadgradState(fo.safe_increment(count), grad_sum_sq, s, state.x0)

  return _base.GradientTransformation(init_fn, update_fn)


def madgrad(
    learning_rate: _base.ScalarOrSchedule,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
) -> _base.GradientTransformation:
  """The MADGRAD optimizer: L2 weight decay on the gradients, then `scale_by_madgrad`.

  A dual-averaging method with cube-root adaptivity and momentum, which matches
  SGD with momentum on vision tasks and Adam on language tasks. `update` needs the
  current parameters.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    momentum: the momentum (averaging) parameter, in [0, 1).
    weight_decay: L2 penalty added to the gradients.
    eps: added to the learning rate and to the denominator, for stability.

  References:
    Defazio & Jelassi, 2021, "Adaptivity without Compromise: A Momentumized,
    Adaptive, Dual Averaged Gradient Method for Stochastic Optimization",
    https://arxiv.org/abs/2101.11075

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.madgrad(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(2 * params, state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> [round(x, 4) for x in params.tolist()]
    [0.8652, -1.8296]
  """
  check_non_negative("weight_decay", weight_decay)
  return fo.chain(
      fo.add_decayed_weights(weight_decay),
      scale_by_madgrad(learning_rate=learning_rate, momentum=momentum, eps=eps),
  )
