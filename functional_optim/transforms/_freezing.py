"""Freezing parameters: zero their updates, or optimize only the others."""

from typing import Union

import jax

from .._base import ArrayTree
from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import set_to_zero
from ._masking import masked
from ._combining import partition

__all__ = ["freeze", "selective_transform"]


def freeze(mask: Union[bool, ArrayTree]) -> GradientTransformationExtraArgs:
  """Zeros the updates of the parameters where `mask` is True, so they stay fixed.

  The other updates pass through unchanged.

  Args:
    mask: a static boolean, freezing everything (True) or nothing (False), or a tree
      of booleans with the structure of (or a prefix of) the params.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.freeze({"a": True, "b": False})
    >>> grads = {"a": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(grads, tx.init(grads))[0]
    {'a': Array([0.], dtype=float32), 'b': Array([1.], dtype=float32)}

  References:
    `optax.transforms.freeze`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  return masked(set_to_zero(), mask)


def selective_transform(
    optimizer: GradientTransformation,
    *,
    freeze_mask: Union[bool, ArrayTree],
) -> GradientTransformationExtraArgs:
  """Applies `optimizer` to the parameters where `freeze_mask` is False; zeros the rest.

  Unlike `chain(optimizer, freeze(mask))`, `optimizer` keeps no state for the
  frozen parameters and never sees their gradients.

  Args:
    optimizer: the optimizer of the trainable parameters.
    freeze_mask: a static boolean (True freezes everything) or a tree of booleans
      with the structure of (or a prefix of) the params, True where frozen.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.selective_transform(fo.scale(-0.1), freeze_mask={"a": True, "b": False})
    >>> grads = {"a": jnp.ones(1), "b": jnp.ones(1)}
    >>> tx.update(grads, tx.init(grads))[0]
    {'a': Array([0.], dtype=float32), 'b': Array([-0.1], dtype=float32)}

  References:
    `optax.transforms.selective_transform`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def label_fn(params):
    del params
    return jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)

  return partition({"train": optimizer, "freeze": set_to_zero()}, param_labels=label_fn)
