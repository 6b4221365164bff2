"""Adan: adaptive Nesterov momentum estimated from gradient differences."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import MaskOrFn
from ._adam import check_decay_rates
from .transforms._adding import add_decayed_weights
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByAdanState", "adan", "scale_by_adan"]


class ScaleByAdanState(NamedTuple):
  """State of `scale_by_adan`."""

  m: Updates  # like params: EMA of the gradients
  v: Updates  # like params: EMA of the gradient differences g_t - g_{t-1}
  n: Updates  # like params: EMA of |g_t + (1 - b2)(g_t - g_{t-1})|^2
  g: Updates  # like params: the previous gradient
  t: jax.Array  # shape=(), int32: number of updates so far


def scale_by_adan(
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
  """Rescales updates by Adan (Algorithm 1 of the paper, with bias correction).

  With `d_t = g_t - g_{t-1}` (0 at the first step), `m`, `v` and `n` are EMAs of
  `g_t`, `d_t` and `|g_t + (1 - b2) d_t|^2`; the update is
  `(m_hat + (1 - b2) v_hat) / (sqrt(n_hat + eps_root) + eps)`.

  Args:
    b1: decay rate of the EMA of the gradients, in [0, 1).
    b2: decay rate of the EMA of the gradient differences, in [0, 1).
    b3: decay rate of the EMA of the squared term, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.

  References:
    Xie et al., 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
    Models", https://arxiv.org/abs/2208.06677

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_adan()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.0, -1.0]
  """
  check_decay_rates(b1=b1, b2=b2, b3=b3)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)

  def init_fn(params):
    return ScaleByAdanState(
        m=tree_lib.zeros_like(params),
        v=tree_lib.zeros_like(params),
        n=tree_lib.zeros_like(params),
        g=tree_lib.zeros_like(params),
        t=jnp.zeros([], jnp.int32),
    )

  def update_fn(updates, state, params=None):
    del params
    g = updates
    diff = tree_lib.where(state.t == 0, tree_lib.zeros_like(g), tree_lib.sub(g, state.g))
    m = tree_lib.update_moment(g, state.m, b1, 1)
    v = tree_lib.update_moment(diff, state.v, b2, 1)
    n = tree_lib.update_moment_per_elem_norm(tree_lib.add_scale(g, 1 - b2, diff), state.n, b3, 2)
    t = safe_increment(state.t)
    m_hat = tree_lib.bias_correction(m, b1, t)
    v_hat = tree_lib.bias_correction(v, b2, t)
    n_hat = tree_lib.bias_correction(n, b3, t)
    denom = jax.tree.map(lambda x: jnp.sqrt(x + eps_root) + eps, n_hat)
    updates = tree_lib.div(tree_lib.add_scale(m_hat, 1 - b2, v_hat), denom)
    return updates, ScaleByAdanState(m=m, v=v, n=n, g=g, t=t)

  return GradientTransformation(init_fn, update_fn)


def adan(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.98,
    b2: jax.typing.ArrayLike = 0.92,
    b3: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformationExtraArgs:
  """The Adan optimizer: `scale_by_adan`, `add_decayed_weights`, learning rate.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the EMA of the gradients, in [0, 1).
    b2: decay rate of the EMA of the gradient differences, in [0, 1).
    b3: decay rate of the EMA of the squared term, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    weight_decay: strength of the (decoupled) weight decay, a scalar or a schedule.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay.

  References:
    Xie et al., 2022, "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
    Models", https://arxiv.org/abs/2208.06677

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adan(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params), params)
    >>> [round(float(u), 3) for u in updates]
    [-0.1, 0.1]
  """
  return chain(
      scale_by_adan(b1=b1, b2=b2, b3=b3, eps=eps, eps_root=eps_root),
      add_decayed_weights(weight_decay, mask),
      scale_by_learning_rate(learning_rate),
  )
