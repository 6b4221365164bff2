"""SM3: memory-efficient Adagrad with one accumulator per slice along each axis."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleBySM3State", "scale_by_sm3", "sm3"]


class ScaleBySM3State(NamedTuple):
  """State of `scale_by_sm3`."""

  # Per leaf, a list with one accumulator per axis: entry i has shape
  # (leaf.shape[i],) and the leaf's dtype. Leaves of rank < 2 keep a single
  # accumulator shaped like the leaf (rank 0 included; optax keeps none there).
  mu: Updates
  nu: Updates  # like params: EMA of the preconditioned gradients (the updates)


def _reject_complex(params) -> None:
  if any(jnp.iscomplexobj(x) for x in jax.tree.leaves(params)):
    raise ValueError("scale_by_sm3 does not support complex parameters.")


def _zeros_along_axis(x, axis: int) -> jax.Array:
  # eval_shape keeps the sharding of the reduced array (sharding-in-types).
  other_axes = tuple(i for i in range(x.ndim) if i != axis)
  return jnp.zeros_like(jax.eval_shape(lambda x: jnp.sum(x, axis=other_axes), x))


def _broadcastable(accumulator: jax.Array, shape: tuple[int, ...], axis: int) -> jax.Array:
  """Reshapes the accumulator of `axis` to `[1, .., shape[axis], .., 1]`."""
  return jnp.reshape(accumulator, [1] * axis + [shape[axis]] + [1] * (len(shape) - axis - 1))


def _gradient_weight(b2):
  """`1 - b2`, except 1 when `b2 == 1` (sums instead of moving averages)."""
  if isinstance(b2, (int, float)):
    return 1.0 if b2 == 1.0 else 1.0 - b2
  return jnp.where(b2 == 1.0, 1.0, 1.0 - b2)  # an array or tracer, e.g. injected


def scale_by_sm3(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
  """Scales updates by SM3, then takes their exponential moving average.

  For a leaf of rank >= 2, SM3 keeps one accumulator per slice along each axis
  (memory: the sum of the sides instead of their product). An entry's second
  moment is `b2 * (the min of its slices' accumulators) + (1 - b2) * g^2`, or
  `accumulator + g^2` when `b2 == 1` (SM3-II's cumulative sums); each slice's
  accumulator then becomes the max of that moment over the slice. Leaves of rank
  < 2 keep the second moment itself. The gradient divided by the root of the
  moment (0 where the moment is 0) is averaged with decay `b1`.

  Args:
    b1: decay rate of the moving average of the scaled gradients, in [0, 1).
    b2: decay rate of the second moments, in [0, 1]; 1 accumulates sums.
    eps: added to the second moment inside the square root, >= 0.

  References:
    Anil et al., 2019, "Memory-Efficient Adaptive Optimization", https://arxiv.org/abs/1901.11150

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_sm3(b1=0.0, eps=0.0)
    >>> params = jnp.zeros((2, 2))
    >>> tx.update(jnp.array([[3.0, 0.0], [-4.0, 1.0]]), tx.init(params))[0]
    Array([[ 1.,  0.],
           [-1.,  1.]], dtype=float32)
  """
  check_in_range("b1", b1, 0.0, 1.0)
  check_in_range("b2", b2, 0.0, 1.0, high_inclusive=True)
  check_non_negative("eps", eps)

  def init_fn(params):
    _reject_complex(params)

    def init_leaf(p):
      if p.ndim < 2:
        return [jnp.zeros_like(p)]
      return [_zeros_along_axis(p, i) for i in range(p.ndim)]

    return ScaleBySM3State(mu=jax.tree.map(init_leaf, params), nu=tree_lib.zeros_like(params))

  def second_moment(g, mu):
    if g.ndim < 2:
      previous = jnp.reshape(mu[0], g.shape)
    else:
      previous = functools.reduce(
          jnp.minimum, [_broadcastable(m, g.shape, i) for i, m in enumerate(mu)]
      )
    return _gradient_weight(b2) * g**2 + b2 * previous

  def slice_maxima(moment):
    if moment.ndim < 2:
      return [moment]
    axes = range(moment.ndim)
    return [jnp.max(moment, axis=[j for j in axes if j != i]) for i in axes]

  def update_fn(updates, state, params=None):
    del params
    # The mu lists are internal nodes: mapping over `updates` stops at its leaves.
    moments = jax.tree.map(second_moment, updates, state.mu)
    scaled = jax.tree.map(
        lambda g, v: g * jnp.where(v > 0, jax.lax.rsqrt(v + eps), 0.0), updates, moments
    )
    nu = tree_lib.update_moment(scaled, state.nu, b1, 1)
    mu = jax.tree.map(slice_maxima, moments)
    return nu, ScaleBySM3State(mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def sm3(
    learning_rate: ScalarOrSchedule,
    momentum: jax.typing.ArrayLike = 0.9,
) -> GradientTransformationExtraArgs:
  """The SM3 optimizer: `scale_by_sm3` with `b1=momentum`, then the learning rate.

  Args:
    learning_rate: the step size (a schedule of the step count also works here,
      while optax's `sm3` accepts only a scalar).
    momentum: decay rate of the moving average of the scaled gradients, in [0, 1).

  References:
    Anil et al., 2019, "Memory-Efficient Adaptive Optimization", https://arxiv.org/abs/1901.11150

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.sm3(learning_rate=0.1, momentum=0.0)
    >>> tx.update(jnp.array([2.0, -3.0]), tx.init(jnp.zeros(2)))[0]
    Array([-0.1,  0.1], dtype=float32)
  """
  check_in_range("momentum", momentum, 0.0, 1.0)
  return chain(scale_by_sm3(momentum), scale_by_learning_rate(learning_rate))
