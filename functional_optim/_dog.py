"""Distance over Gradients (DoG): a learning-rate-free step size, per parameter array."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import NO_PARAMS_MSG
from ._base import Params
from ._base import Updates
from ._checks import check_non_negative
from ._checks import check_positive
from ._numerics import abs_sq

__all__ = ["ScaleByDistanceOverGradientsState", "scale_by_distance_over_gradients"]


class ScaleByDistanceOverGradientsState(NamedTuple):
  """State of `scale_by_distance_over_gradients`; one scalar pair per parameter array."""

  max_dist: Updates  # per leaf, shape=(), real dtype of the param: largest distance from init
  grad_sum_of_squares: Updates  # per leaf, shape=(1,), float32: sum of squared gradient norms
  init_params: Params  # like params, dtype param_dtype: the initial parameters


def _distance(x, y=0.0):
  return jnp.sqrt(abs_sq(x - y).sum())


def scale_by_distance_over_gradients(
    reps_rel: jax.typing.ArrayLike = 1e-6,
    eps: jax.typing.ArrayLike = 1e-8,
    param_dtype: jax.typing.DTypeLike = jnp.float32,
    global_scale: jax.typing.ArrayLike = 1.0,
) -> GradientTransformation:
  """Scales each parameter array's gradient by `max_dist / sqrt(sum of ||g||^2 + eps)`.

  `max_dist` is the largest distance of the array from its initial value so far,
  started at `reps_rel * (1 + ||x_0||)` so that the first steps are not zero. This
  is layer-wise DoG (LDoG); the authors recommend averaging the iterates. `update`
  needs the current parameters.

  Complex parameters use the modulus in the norms (pass a complex `param_dtype`
  to store their initial values). A 0-d parameter gets a 0-d update, and the
  state keeps its dtypes from step to step (optax 0.2.8 does neither).

  Args:
    reps_rel: relative size of the initial distance (the paper suggests 1e-4 for
      models with batch norm, 1e-6 otherwise).
    eps: added to the sum of squared gradient norms, against division by zero.
    param_dtype: dtype in which the initial parameters are stored.
    global_scale: factor on every step size, typically 1.0 (or -1.0 to descend).

  References:
    Ivgi et al., 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size Schedule",
    https://arxiv.org/abs/2302.12022

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_distance_over_gradients(reps_rel=0.5, eps=0.0)
    >>> params = jnp.array([3.0, 4.0])  # norm 5: initial distance 0.5 * (1 + 5) = 3
    >>> tx.update(jnp.array([0.0, 2.0]), tx.init(params), params)[0]
    Array([0., 3.], dtype=float32)
  """
  check_positive("reps_rel", reps_rel)
  check_non_negative("eps", eps)

  def init_fn(params):
    return ScaleByDistanceOverGradientsState(
        max_dist=jax.tree.map(lambda x: reps_rel * (1 + _distance(x)), params),
        grad_sum_of_squares=jax.tree.map(lambda x: jnp.zeros(1), params),
        # A copy: a state holding the params' own buffers cannot be donated with them.
        init_params=jax.tree.map(jnp.copy, tree_lib.cast(params, param_dtype)),
    )

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    max_dist = jax.tree.map(
        lambda d, x, x0: jnp.maximum(d, _distance(x, x0)), state.max_dist, params, state.init_params
    )
    g_sos = jax.tree.map(
        lambda s, g: s + abs_sq(g).sum(), state.grad_sum_of_squares, updates
    )
    # g_sos[0]: a 0-d step size, so that a 0-d parameter keeps its shape.
    updates = jax.tree.map(
        lambda g, d, s: global_scale * (d / jnp.sqrt(s[0] + eps)) * g, updates, max_dist, g_sos
    )
    # The cast keeps the state's dtype fixed when params and param_dtype differ.
    max_dist = tree_lib.cast_like(max_dist, state.max_dist)
    return updates, ScaleByDistanceOverGradientsState(max_dist, g_sos, state.init_params)

  return GradientTransformation(init_fn, update_fn)
