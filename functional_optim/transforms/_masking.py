"""Applying a transformation to only part of the parameters."""

from collections.abc import Callable
from typing import Any, NamedTuple, Union

import jax

from .._base import GradientTransformationExtraArgs
from .._base import GradientTransformation
from .._base import PyTree
from .._base import with_extra_args_support
from ..tree_utils._state_utils import _ParamsPlaceholder

__all__ = ["MaskedNode", "MaskedState", "masked"]


class MaskedState(NamedTuple):
  """State of `masked`."""

  inner_state: Any  # the inner transformation's state, over the masked-in leaves only


class MaskedNode(NamedTuple):
  """Stands in for a masked-out leaf: a childless node that tree maps skip."""


def _is_mask_fn(mask) -> bool:
  callable_leaves = jax.tree.leaves(jax.tree.map(callable, mask))
  return len(callable_leaves) > 0 and all(callable_leaves)


def masked(
    inner: GradientTransformation,
    mask: Union[PyTree, Callable[[PyTree], PyTree]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
  """Applies `inner` only where `mask` is True; other updates pass through unchanged.

  `inner` keeps state only for the masked-in leaves.

  Args:
    inner: the transformation to apply to the selected leaves.
    mask: a tree of booleans with the structure of (or a prefix of) the params, or a
      function of the params returning one. It must be static under `jit`.
    mask_compatible_extra_args: also mask extra keyword arguments whose tree
      structure is that of the updates.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    >>> decay = fo.masked(fo.add_decayed_weights(0.1), lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
    >>> updates, _ = decay.update(jax.tree.map(jnp.zeros_like, params), decay.init(params), params)
    >>> updates["b"], updates["w"][0]
    (Array([0., 0.], dtype=float32), Array([0.1, 0.1], dtype=float32))

  References:
    `optax.masked`, https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
  """
  inner = with_extra_args_support(inner)

  def mask_tree_for(tree):
    return mask(tree) if _is_mask_fn(mask) else mask

  def apply_mask(tree, mask_tree):
    return jax.tree.map(lambda m, x: x if m else MaskedNode(), mask_tree, tree)

  def mask_extra_args(extra_args, updates, mask_tree):
    structure = jax.tree.structure(updates)
    return {
        name: apply_mask(value, mask_tree)
        if mask_compatible_extra_args and jax.tree.structure(value) == structure
        else value
        for name, value in extra_args.items()
    }

  def init_fn(params):
    if isinstance(params, _ParamsPlaceholder):
      # `tree_map_params` finds the params-shaped parts of a state by running init on
      # a placeholder, which no mask fits: pass it through unmasked (as optax does).
      return MaskedState(inner_state=inner.init(params))
    return MaskedState(inner_state=inner.init(apply_mask(params, mask_tree_for(params))))

  def update_fn(updates, state, params=None, **extra_args):
    mask_tree = mask_tree_for(updates)
    new_masked_updates, new_inner_state = inner.update(
        apply_mask(updates, mask_tree),
        state.inner_state,
        None if params is None else apply_mask(params, mask_tree),
        **mask_extra_args(extra_args, updates, mask_tree),
    )
    new_updates = jax.tree.map(
        lambda m, new, old: new if m else old, mask_tree, new_masked_updates, updates
    )
    return new_updates, MaskedState(inner_state=new_inner_state)

  return GradientTransformationExtraArgs(init_fn, update_fn)
