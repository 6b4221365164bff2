"""Adafactor: scaling by a factored (row x column) estimate of the gradients' rms."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from .transforms._adding import add_decayed_weights
from ._base import ArrayTree
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import NO_PARAMS_MSG
from ._base import Params
from ._base import ScalarOrSchedule
from ._checks import check_in_range
from ._checks import check_non_negative
from ._checks import check_positive
from .transforms._clipping import clip_by_block_rms
from .transforms._combining import chain
from .transforms._accumulation import ema
from ._numerics import abs_sq
from ._numerics import safe_increment
from ._scaling import scale
from ._scaling import scale_by_learning_rate
from ._trust_ratio import scale_by_param_block_rms

__all__ = ["FactoredState", "adafactor", "scale_by_factored_rms"]


class FactoredState(NamedTuple):
  """State of `scale_by_factored_rms`.

  Each leaf of the params has one entry in each of `v_row`, `v_col` and `v`; the
  entries that a leaf does not use are zeros of shape (1,).
  """

  count: jax.Array  # shape=(), int32: number of updates so far
  v_row: ArrayTree  # factored leaves: shape without the largest axis; dtype of params
  v_col: ArrayTree  # factored leaves: shape without the 2nd-largest axis; dtype of params
  v: ArrayTree  # unfactored leaves: like params; EMA of |g|^2 + epsilon


def _decay_rate_pow(i: jax.typing.ArrayLike, exponent: jax.typing.ArrayLike = 0.8) -> jax.Array:
  """Adafactor's second-moment decay schedule `1 - (i + 1)**-exponent`."""
  t = jnp.array(i + 1, jnp.float32)
  return 1.0 - t ** (-exponent)


def _factored_dims(shape, factored: bool, min_dim_size_to_factor) -> Optional[tuple[int, int]]:
  """The (second-largest, largest) axes to factor over, or None to keep a full moment."""
  if not factored or len(shape) < 2:
    return None
  sorted_dims = np.argsort(shape)  # the same (unstable) sort as optax: ties pick the same axes
  if shape[sorted_dims[-2]] < min_dim_size_to_factor:
    return None
  return int(sorted_dims[-2]), int(sorted_dims[-1])


def _unzip(tree, tuples, n: int) -> tuple:
  """Splits a tree of n-tuples, shaped like `tree` above the tuples, into n trees."""
  outer = jax.tree.structure(tree)
  if outer.num_leaves == 0:  # no params (e.g. all masked out): n copies of the empty structure
    return (tuples,) * n
  return jax.tree.transpose(outer, jax.tree.structure((0,) * n), tuples)


def _zeros_without_axis(x, axis: int) -> jax.Array:
  # eval_shape keeps the sharding of the reduced array (sharding-in-types).
  return jnp.zeros_like(jax.eval_shape(lambda x: jnp.sum(x, axis=axis), x))


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: jax.typing.ArrayLike = 0.8,
    step_offset: jax.typing.ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: jax.typing.ArrayLike = 1e-30,
    decay_rate_fn: Callable[
        [jax.typing.ArrayLike, jax.typing.ArrayLike], jax.typing.ArrayLike
    ] = _decay_rate_pow,
) -> GradientTransformation:
  """Divides updates by a factored estimate of the root mean square of the gradients.

  For a leaf whose two largest axes both have at least `min_dim_size_to_factor`
  entries, the moving average of squared gradients is kept only as its means
  along each of those axes (a row and a column statistic), whose outer product
  estimates the full average: memory is sublinear in the leaf's size. Other
  leaves keep a full moving average. The decay at step t is
  `decay_rate_fn(t - step_offset, decay_rate)`, by default `1 - (t + 1)**-decay_rate`.

  Args:
    factored: whether to factor the statistics of leaves of rank >= 2.
    decay_rate: the parameter of `decay_rate_fn` (the exponent of the default
      schedule), >= 0.
    step_offset: subtracted from the step count in the decay schedule, e.g. the
      first step of a fine-tuning phase whose state continues the count.
    min_dim_size_to_factor: factor only if the two largest axes are at least
      this long.
    epsilon: added to the squared gradients, >= 0.
    decay_rate_fn: maps `(step, decay_rate)` to the decay of the moving averages.

  References:
    Shazeer and Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    https://arxiv.org/abs/1804.04235;
    Zhai et al., 2021, "Scaling Vision Transformers", https://arxiv.org/abs/2106.04560 (capped decay
    schedules)

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_factored_rms(min_dim_size_to_factor=2)
    >>> params = jnp.ones((2, 3))
    >>> state = tx.init(params)
    >>> state.v_row.shape, state.v_col.shape, state.v.shape
    ((2,), (3,), (1,))
    >>> tx.update(2 * params, state, params)[0]
    Array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
  """
  check_non_negative("decay_rate", decay_rate)
  check_non_negative("min_dim_size_to_factor", min_dim_size_to_factor)
  check_non_negative("epsilon", epsilon)

  def init_fn(params):
    def init_leaf(param):
      unused = lambda: jnp.zeros((1,), dtype=param.dtype)  # a new buffer per field: donatable
      dims = _factored_dims(param.shape, factored, min_dim_size_to_factor)
      if dims is None:
        return unused(), unused(), jnp.zeros_like(param)
      d1, d0 = dims
      return _zeros_without_axis(param, d0), _zeros_without_axis(param, d1), unused()

    v_row, v_col, v = _unzip(params, jax.tree.map(init_leaf, params), 3)
    return FactoredState(count=jnp.zeros([], jnp.int32), v_row=v_row, v_col=v_col, v=v)

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    decay_rate_t = decay_rate_fn(state.count - step_offset, decay_rate)

    def update_leaf(grad, v_row, v_col, v, param):
      dtype = param.dtype
      unused = jnp.zeros((1,), dtype=dtype)
      grad_sqr = abs_sq(grad) + epsilon
      dims = _factored_dims(param.shape, factored, min_dim_size_to_factor)
      if dims is None:
        new_v = (decay_rate_t * v + (1.0 - decay_rate_t) * grad_sqr).astype(dtype)
        return grad * new_v**-0.5, unused, unused, new_v
      d1, d0 = dims
      new_v_row = decay_rate_t * v_row + (1.0 - decay_rate_t) * jnp.mean(grad_sqr, axis=d0)
      new_v_col = decay_rate_t * v_col + (1.0 - decay_rate_t) * jnp.mean(grad_sqr, axis=d1)
      new_v_row, new_v_col = new_v_row.astype(dtype), new_v_col.astype(dtype)
      # v_row lost axis d0, so axis d1 of the leaf is d1 - 1 of v_row when d1 > d0.
      row_col_mean = jnp.mean(new_v_row, axis=d1 - 1 if d1 > d0 else d1, keepdims=True)
      row_factor = (new_v_row / row_col_mean) ** -0.5
      col_factor = new_v_col**-0.5
      update = grad * jnp.expand_dims(row_factor, axis=d0) * jnp.expand_dims(col_factor, axis=d1)
      return update, new_v_row, new_v_col, unused

    outputs = jax.tree.map(update_leaf, updates, state.v_row, state.v_col, state.v, params)
    updates, v_row, v_col, v = _unzip(updates, outputs, 4)
    new_state = FactoredState(count=safe_increment(state.count), v_row=v_row, v_col=v_col, v=v)
    return updates, new_state

  return GradientTransformation(init_fn, update_fn)


def adafactor(
    learning_rate: Optional[ScalarOrSchedule] = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: jax.typing.ArrayLike = 0.8,
    decay_offset: jax.typing.ArrayLike = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    momentum: Optional[jax.typing.ArrayLike] = None,
    dtype_momentum: jax.typing.DTypeLike = jnp.float32,
    weight_decay_rate: Optional[ScalarOrSchedule] = None,
    eps: jax.typing.ArrayLike = 1e-30,
    factored: bool = True,
    weight_decay_mask: Optional[Union[Any, Callable[[Params], Any]]] = None,
) -> GradientTransformationExtraArgs:
  """The Adafactor optimizer: factored rms scaling with optional clipping, momentum and decay.

  The chain is `scale_by_factored_rms`, then (each optional) `clip_by_block_rms`,
  the learning rate, `scale_by_param_block_rms`, an `ema` momentum and weight
  decay, and finally a sign flip. Adafactor's learning rates are on another scale
  than Adam's.

  Args:
    learning_rate: a scalar, a schedule of the step count, or None for no scaling.
    min_dim_size_to_factor: factor a leaf's statistics only if its two largest
      axes are at least this long.
    decay_rate: exponent of the second-moment decay schedule, >= 0.
    decay_offset: subtracted from the step count in that schedule (e.g. the first
      step of fine-tuning).
    multiply_by_parameter_scale: scale each leaf's update by the rms of the leaf
      (relative step sizes); if False the learning rate is an absolute step size.
    clipping_threshold: clip each leaf's update to this rms (> 0; the paper uses
      1), or None for no clipping.
    momentum: decay rate of an (unbiased) moving average of the updates, in
      [0, 1), or None for no momentum (saving its memory).
    dtype_momentum: dtype of the momentum buffer.
    weight_decay_rate: rate of the weight decay added after the scaling, >= 0,
      or None for none.
    eps: added to the squared gradients, >= 0.
    factored: whether to factor the second-moment statistics.
    weight_decay_mask: a tree of booleans (or a function of the params returning
      one) selecting the leaves to decay; None decays all.

  References:
    Shazeer and Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    https://arxiv.org/abs/1804.04235

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adafactor(learning_rate=0.1, multiply_by_parameter_scale=False)
    >>> params = jnp.ones(2)
    >>> tx.update(params, tx.init(params), params)[0]
    Array([-0.1, -0.1], dtype=float32)
  """
  check_non_negative("eps", eps)
  if clipping_threshold is not None:
    check_positive("clipping_threshold", clipping_threshold)
  if momentum is not None:
    check_in_range("momentum", momentum, 0.0, 1.0)
  if weight_decay_rate is not None:
    check_non_negative("weight_decay_rate", weight_decay_rate)

  transforms = [
      scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)
  ]
  if clipping_threshold is not None:
    transforms.append(clip_by_block_rms(clipping_threshold))
  if learning_rate is not None:
    transforms.append(scale_by_learning_rate(learning_rate, flip_sign=False))
  if multiply_by_parameter_scale:
    transforms.append(scale_by_param_block_rms())
  if momentum is not None:
    transforms.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
  if weight_decay_rate is not None:
    transforms.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
  transforms.append(scale(-1))
  return chain(*transforms)
