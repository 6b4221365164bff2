"""Clipping updates: element-wise, per block, by global norm, and relative to the params.

Complex updates are clipped by their modulus where a norm is involved.
"""

from typing import Optional, Union

import jax
import jax.numpy as jnp

from .. import tree as tree_lib
from .._base import EmptyState
from .._base import GradientTransformation
from .._base import NO_PARAMS_MSG
from .._base import PyTree
from .._base import init_empty_state
from .._checks import check_non_negative
from .._checks import check_positive
from .._numerics import abs_sq

__all__ = [
    "AdaptiveGradClipState",
    "ClipByGlobalNormState",
    "ClipState",
    "adaptive_grad_clip",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
]

AdaptiveGradClipState = EmptyState
ClipByGlobalNormState = EmptyState
ClipState = EmptyState


def clip(max_delta: jax.typing.ArrayLike) -> GradientTransformation:
  """Clips every element of the updates to `[-max_delta, max_delta]`.

  Real updates only: complex numbers are not ordered (use `clip_by_block_rms` or
  `clip_by_global_norm` for them).

  Args:
    max_delta: the largest absolute value of an element.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.clip(1.0)
    >>> tx.update(jnp.array([-3.0, 0.5, 2.0]), tx.init(None))[0]
    Array([-1. ,  0.5,  1. ], dtype=float32)

  References:
    Pascanu, Mikolov and Bengio, 2013, "On the difficulty of training recurrent neural
    networks", https://arxiv.org/abs/1211.5063
  """
  check_non_negative("max_delta", max_delta)

  def update_fn(updates, state, params=None):
    del params
    return tree_lib.clip(updates, -max_delta, max_delta), state

  return GradientTransformation(init_empty_state, update_fn)


def clip_by_block_rms(threshold: jax.typing.ArrayLike) -> GradientTransformation:
  """Scales each leaf of the updates down so that its root mean square is at most `threshold`.

  A block is a leaf of the tree (e.g. a layer's weight matrix).

  Args:
    threshold: the largest root mean square of a leaf, > 0.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.clip_by_block_rms(1.0)
    >>> tx.update(jnp.array([3.0, 4.0, 0.0, 0.0]), tx.init(None))[0]
    Array([1.2, 1.6, 0. , 0. ], dtype=float32)

  References:
    `optax.clip_by_block_rms`, https://optax.readthedocs.io/en/latest/api/transformations.html;
    Pascanu, Mikolov and Bengio, 2013, "On the difficulty of training recurrent neural
    networks", https://arxiv.org/abs/1211.5063
  """
  check_positive("threshold", threshold)

  def clip_leaf(u):
    clip_denom = jnp.maximum(1.0, jnp.sqrt(jnp.mean(abs_sq(u))) / threshold)
    return u / clip_denom

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(clip_leaf, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def clip_by_global_norm(max_norm: jax.typing.ArrayLike) -> GradientTransformation:
  """Scales the updates down so that their global L2 norm is at most `max_norm`.

  Args:
    max_norm: the largest global norm.

  References:
    Pascanu et al., 2012, "On the difficulty of training recurrent neural networks",
    https://arxiv.org/abs/1211.5063

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.clip_by_global_norm(1.0)
    >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]
    {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
  """
  check_non_negative("max_norm", max_norm)

  def update_fn(updates, state, params=None):
    del params
    g_norm = tree_lib.norm(updates)
    # `select` rather than a division by max(g_norm, max_norm): gradients through
    # the unclipped branch (e.g. meta-gradients) are then exactly the identity.
    trigger = jnp.squeeze(g_norm < max_norm)
    if trigger.ndim != 0:
      raise ValueError(f"clip_by_global_norm: max_norm must be a scalar, got shape {trigger.shape}")
    updates = jax.tree.map(
        lambda t: jax.lax.select(trigger, t, (t / g_norm.astype(t.dtype)) * max_norm), updates
    )
    return updates, state

  return GradientTransformation(init_empty_state, update_fn)


def _check_batch_dim(grads: PyTree, function_name: str) -> None:
  leaves = jax.tree.leaves(grads)
  batch_size = leaves[0].shape[0] if leaves and leaves[0].ndim else None
  if batch_size is None or not all(g.ndim >= 1 and g.shape[0] == batch_size for g in leaves):
    raise ValueError(
        f"{function_name} expects every array of `grads` to have the same batch "
        f"dimension on axis 0; got shapes {jax.tree.map(jnp.shape, grads)}"
    )


def per_example_global_norm_clip(
    grads: PyTree, l2_norm_clip: jax.typing.ArrayLike
) -> tuple[PyTree, jax.Array]:
  """Clips each example's gradient to global norm `l2_norm_clip`, then sums over examples.

  A function on per-example gradients (not a gradient transformation), as used in
  differentially private SGD.

  Args:
    grads: a tree of arrays with a leading batch axis, the same for all.
    l2_norm_clip: the largest global L2 norm of one example's gradient.

  Returns:
    The sum of the clipped gradients (without the batch axis) and the number of
    examples that were clipped.

  References:
    Abadi et al., 2016, "Deep Learning with Differential Privacy", https://arxiv.org/abs/1607.00133

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> grads = [jnp.array([[0.0, 0.0, 0.0], [0.0, 3.0, 4.0], [4.0, 0.0, 3.0]])]
    >>> fo.per_example_global_norm_clip(grads, 1.25)
    ([Array([1.  , 0.75, 1.75], dtype=float32)], Array(2, dtype=int32))
  """
  check_non_negative("l2_norm_clip", l2_norm_clip)
  _check_batch_dim(grads, "per_example_global_norm_clip")
  global_grad_norms = jax.vmap(tree_lib.norm)(grads)
  # A zero norm gives inf, or NaN with a zero bound: that example is not clipped.
  multipliers = jnp.nan_to_num(jnp.minimum(l2_norm_clip / global_grad_norms, 1.0), nan=1.0)
  num_clipped = jnp.sum(multipliers < 1.0)
  clipped_sum = jax.tree.map(lambda g: jnp.tensordot(multipliers, g, axes=1), grads)
  return clipped_sum, num_clipped


def per_example_layer_norm_clip(
    grads: PyTree,
    global_l2_norm_clip: jax.typing.ArrayLike,
    uniform: bool = True,
) -> tuple[PyTree, PyTree]:
  """Like `per_example_global_norm_clip`, but clips each leaf (layer) separately.

  With K leaves and a global bound C, leaf i is clipped to `C / sqrt(K)` if
  `uniform`, else to `C * sqrt(D_i / D)` (D_i: the leaf's size per example, D: the
  total), so that the clipped global norm is at most C either way.

  Args:
    grads: a tree of arrays with a leading batch axis, the same for all.
    global_l2_norm_clip: the overall bound C.
    uniform: split the bound equally between leaves, or in proportion to the
      square roots of their sizes.

  Returns:
    The tree of sums of the clipped gradients and the tree of the numbers of
    examples clipped per leaf.

  References:
    McMahan et al., 2017, "Learning Differentially Private Recurrent Language Models",
    https://arxiv.org/abs/1710.06963

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> grads = [jnp.array([[0.0, 3.0, 4.0], [4.0, 0.0, 3.0]])]
    >>> fo.per_example_layer_norm_clip(grads, 2.5)
    ([Array([2. , 1.5, 3.5], dtype=float32)], [Array(2, dtype=int32)])
  """
  check_non_negative("global_l2_norm_clip", global_l2_norm_clip)
  _check_batch_dim(grads, "per_example_layer_norm_clip")
  if uniform:
    num_layers = len(jax.tree.leaves(grads))
    layer_clip_norms = jax.tree.map(
        lambda _: global_l2_norm_clip * (1.0 / num_layers) ** 0.5, grads
    )
  else:
    total_params = jax.tree.reduce(lambda x, g: x + g[0].size, grads, 0)
    layer_clip_norms = jax.tree.map(
        lambda g: global_l2_norm_clip * (g[0].size / total_params) ** 0.5, grads
    )
  result = jax.tree.map(per_example_global_norm_clip, grads, layer_clip_norms)
  return jax.tree.transpose(
      outer_treedef=jax.tree.structure(grads),
      inner_treedef=jax.tree.structure((0, 0)),
      pytree_to_transpose=result,
  )


# Reduction axes of a "unit" by rank when no axis is given: dense kernels (in, out)
# and multi-head kernels reduce over axis 0, conv kernels over their spatial and
# input axes (HWIO, DHWIO).
_UNIT_AXES = {2: 0, 3: 0, 4: (0, 1, 2), 5: (0, 1, 2, 3)}


def unitwise_norm(
    x: jax.Array, axis: Optional[Union[int, tuple[int, ...]]] = None
) -> jax.Array:
  """The L2 norm of each unit of `x` (a slice along `axis`), broadcast to `x.shape`.

  Without `axis`, scalars and vectors (after squeezing) are one unit, and larger
  ranks use the layer conventions of `_UNIT_AXES`.
  """
  if axis is None and jnp.squeeze(x).ndim <= 1:
    squared_norm = jnp.sum(abs_sq(x), keepdims=True)
  else:
    if axis is None:
      if x.ndim not in _UNIT_AXES:
        raise ValueError(
            f"unitwise_norm: expected a parameter of rank 1 to 5, got shape {x.shape}; "
            "pass `axis` for other shapes"
        )
      axis = _UNIT_AXES[x.ndim]
    squared_norm = jnp.sum(abs_sq(x), axis=axis, keepdims=True)
  return jnp.broadcast_to(jnp.sqrt(squared_norm), x.shape)


def unitwise_clip(
    g_norm: jax.Array,
    max_norm: jax.Array,
    grad: jax.Array,
    div_eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
  """`grad` rescaled to norm `max_norm` where its unit norm `g_norm` exceeds `max_norm`."""
  if not g_norm.shape == max_norm.shape == grad.shape:
    raise ValueError(
        f"unitwise_clip: shapes differ: {g_norm.shape}, {max_norm.shape}, {grad.shape}"
    )
  # div_eps only guards the division; where it matters, the clipped value is unused.
  clipped_grad = grad * (max_norm / jnp.maximum(g_norm, div_eps))
  return jnp.where(g_norm < max_norm, grad, clipped_grad)


def adaptive_grad_clip(
    clipping: jax.typing.ArrayLike,
    eps: jax.typing.ArrayLike = 1e-3,
    axis: Optional[Union[int, tuple[int, ...]]] = None,
) -> GradientTransformation:
  """Clips each unit of the updates to norm `clipping * max(||params unit||, eps)`.

  A unit is, by default, an output unit of a layer: a column of a dense kernel,
  an output channel of a convolution kernel, a whole vector or scalar.

  Args:
    clipping: the largest ratio of update norm to parameter norm.
    eps: the smallest parameter norm, so that zero-initialized params can move.
    axis: the axis or axes to reduce over to compute unit norms; None infers them
      from the rank (1 to 5), as described above.

  References:
    Brock et al., 2021, "High-Performance Large-Scale Image Recognition Without Normalization",
    https://arxiv.org/abs/2102.06171

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adaptive_grad_clip(0.1)
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(jnp.array([1.0, 0.0]), tx.init(params), params)[0]
    Array([0.5, 0. ], dtype=float32)
  """
  check_non_negative("clipping", clipping)
  check_non_negative("eps", eps)

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    g_norm, p_norm = jax.tree.map(lambda x: unitwise_norm(x, axis=axis), (updates, params))
    max_norm = jax.tree.map(lambda x: clipping * jnp.maximum(x, eps), p_norm)
    return jax.tree.map(unitwise_clip, g_norm, max_norm, updates), state

  return GradientTransformation(init_empty_state, update_fn)
