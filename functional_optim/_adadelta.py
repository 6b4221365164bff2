"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from .transforms._adding import add_decayed_weights
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByAdaDeltaState", "adadelta", "scale_by_adadelta"]


class ScaleByAdaDeltaState(NamedTuple):
  """State of `scale_by_adadelta`."""

  e_g: Updates  # like params: EMA of |g|^2
  e_x: Updates  # like params: EMA of |update|^2


def scale_by_adadelta(
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
) -> GradientTransformation:
  """Scales updates by `sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps)` (Adadelta).

  `E[g^2]` includes the current gradient, `E[dx^2]` only the past updates. For
  complex parameters the squares are squared magnitudes `|g|^2`, so the scale is
  real and positive (optax squares complex numbers, rotating the updates).

  Args:
    rho: decay rate of both moving averages, in [0, 1).
    eps: added inside both square roots, >= 0.

  References:
    Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method", https://arxiv.org/abs/1212.5701

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_adadelta(rho=0.0, eps=1.0)
    >>> tx.update(jnp.array([0.75, -0.75]), tx.init(jnp.zeros(2)))[0]
    Array([ 0.6, -0.6], dtype=float32)
  """
  check_in_range("rho", rho, 0.0, 1.0)
  check_non_negative("eps", eps)

  def init_fn(params):
    return ScaleByAdaDeltaState(e_g=tree_lib.zeros_like(params), e_x=tree_lib.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    # |g|^2 rather than optax's g**2, which is not a square magnitude for complex g.
    e_g = tree_lib.update_moment_per_elem_norm(updates, state.e_g, rho, 2)
    updates = jax.tree.map(
        lambda g, cur_e_g, prev_e_x: (jnp.sqrt(prev_e_x + eps) / jnp.sqrt(cur_e_g + eps)) * g,
        updates,
        e_g,
        state.e_x,
    )
    e_x = tree_lib.update_moment_per_elem_norm(updates, state.e_x, rho, 2)
    return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

  return GradientTransformation(init_fn, update_fn)


def adadelta(
    learning_rate: Optional[ScalarOrSchedule] = None,
    rho: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[Params], Any]]] = None,
) -> GradientTransformationExtraArgs:
  """The Adadelta optimizer: weight decay, then `scale_by_adadelta`, then the learning rate.

  Args:
    learning_rate: a scalar, a schedule of the step count, or None for no
      scaling. As in optax, None also skips the sign flip, so the updates then
      point along the gradient.
    rho: decay rate of the moving averages, in [0, 1).
    eps: added inside both square roots, >= 0.
    weight_decay: rate of the weight decay added to the gradients, >= 0.
    weight_decay_mask: a tree of booleans (or a function of the params returning
      one) selecting the leaves to decay; None decays all.

  References:
    Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method", https://arxiv.org/abs/1212.5701

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adadelta(learning_rate=1.0, rho=0.0, eps=1.0)
    >>> params = jnp.zeros(2)
    >>> tx.update(jnp.array([0.75, -0.75]), tx.init(params), params)[0]
    Array([-0.6,  0.6], dtype=float32)
  """
  return chain(
      add_decayed_weights(weight_decay, mask=weight_decay_mask),
      scale_by_adadelta(rho=rho, eps=eps),
      scale_by_learning_rate(learning_rate),
  )
