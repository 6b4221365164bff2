"""Running a transformation on all parameters concatenated into one vector."""

import jax
import jax.numpy as jnp
import numpy as np

from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import with_extra_args_support

__all__ = ["flatten"]


def _flatten(tree):
  return jnp.concatenate([jnp.reshape(leaf, [-1]) for leaf in jax.tree.leaves(tree)])


def _unflatten_like(tree, flat):
  leaves, treedef = jax.tree.flatten(tree)
  split_points = np.cumsum([np.size(leaf) for leaf in leaves])[:-1]
  pieces = jnp.split(flat, split_points)
  return jax.tree.unflatten(
      treedef, [jnp.reshape(piece, leaf.shape) for piece, leaf in zip(pieces, leaves)]
  )


def flatten(inner: GradientTransformation) -> GradientTransformationExtraArgs:
  """Runs `inner` on the concatenation of all leaves, flattened, as a single vector.

  One big vector can be cheaper to process than many small arrays, at the cost
  of a copy. Leaves of mixed dtypes are promoted to a common one.

  Args:
    inner: the transformation to run on the flat vector.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.flatten(fo.scale(2.0))
    >>> grads = {"a": jnp.ones((2, 2)), "b": jnp.ones(1)}
    >>> tx.update(grads, tx.init(grads))[0]["a"]
    Array([[2., 2.],
           [2., 2.]], dtype=float32)

  References:
    `optax.flatten`, https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
  """
  inner = with_extra_args_support(inner)

  def init_fn(params):
    return inner.init(_flatten(params))

  def update_fn(updates, state, params=None, **extra_args):
    flat_params = None if params is None else _flatten(params)
    flat_updates, state = inner.update(_flatten(updates), state, flat_params, **extra_args)
    return _unflatten_like(updates, flat_updates), state

  return GradientTransformationExtraArgs(init_fn, update_fn)
