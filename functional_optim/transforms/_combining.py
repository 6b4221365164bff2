"""Combining transformations: `chain`, `named_chain`, and `partition` (one per label)."""

import collections
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple, Union

import jax

from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import PyTree
from .._base import with_extra_args_support
from ._masking import masked

__all__ = [
    "MultiTransformState",
    "PartitionState",
    "chain",
    "multi_transform",
    "named_chain",
    "partition",
]


def chain(*args: GradientTransformation) -> GradientTransformationExtraArgs:
  """Applies transformations one after the other.

  The state is the tuple of the states of `args`. Extra keyword arguments given to
  `update` reach every transformation of the chain that accepts them.

  Args:
    *args: the transformations, in the order they are applied.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.chain(fo.clip_by_global_norm(1.0), fo.scale(-0.5))
    >>> updates, _ = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
    >>> updates
    Array([-0.3, -0.4], dtype=float32)

  References:
    `optax.chain`, https://optax.readthedocs.io/en/latest/api/combining_optimizers.html
  """
  transforms = [with_extra_args_support(t) for t in args]

  def init_fn(params):
    return tuple(t.init(params) for t in transforms)

  def update_fn(updates, state, params=None, **extra_args):
    if len(state) != len(transforms):
      raise ValueError(
          f"chain has {len(transforms)} transformations but the state has "
          f"{len(state)} entries: was the state made by this chain's init?"
      )
    new_state = []
    for t, s in zip(transforms, state):
      updates, s = t.update(updates, s, params, **extra_args)
      new_state.append(s)
    return updates, tuple(new_state)

  return GradientTransformationExtraArgs(init_fn, update_fn)


def named_chain(
    *args: tuple[str, GradientTransformation],
) -> GradientTransformationExtraArgs:
  """Like `chain`, but the state is a dict keyed by the given names.

  Args:
    *args: `(name, transformation)` pairs, applied in order.

  Example:
    >>> import functional_optim as fo
    >>> tx = fo.named_chain(("clip", fo.clip(1.0)), ("sgd", fo.sgd(0.1)))
    >>> list(tx.init(0.0).keys())
    ['clip', 'sgd']

  References:
    `optax.named_chain`, https://optax.readthedocs.io/en/latest/api/combining_optimizers.html
  """
  names = [name for name, _ in args]
  if len(set(names)) != len(names):
    raise ValueError(f"named_chain names must be unique, got {names}")
  transforms = {name: with_extra_args_support(t) for name, t in args}

  # OrderedDict keeps the chain's order visible when the state is inspected
  # (plain dicts are key-sorted by pytree flattening), as optax does.
  def init_fn(params):
    return collections.OrderedDict((name, t.init(params)) for name, t in transforms.items())

  def update_fn(updates, state, params=None, **extra_args):
    new_state = collections.OrderedDict()
    for name, t in transforms.items():
      updates, new_state[name] = t.update(updates, state[name], params, **extra_args)
    return updates, new_state

  return GradientTransformationExtraArgs(init_fn, update_fn)


class PartitionState(NamedTuple):
  """State of `partition`."""

  inner_states: Mapping[Hashable, Any]  # label -> MaskedState of that label's transform


def _check_labels(labels: PyTree, transforms: Mapping[Hashable, Any]) -> None:
  label_set = set(jax.tree.leaves(labels))
  if not label_set.issubset(transforms.keys()):
    listed = lambda labels: ", ".join(sorted(map(repr, labels)))
    raise ValueError(
        f"param_labels has labels with no transformation: {listed(label_set - set(transforms))} "
        f"(labels: {listed(label_set)}; transforms: {listed(transforms)})"
    )


def partition(
    transforms: Mapping[Hashable, GradientTransformation],
    param_labels: Union[PyTree, Callable[[PyTree], PyTree]],
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
  """Applies `transforms[label]` to the parameters labelled `label`.

  Each transformation sees, and keeps state for, only its own group of leaves
  (through `masked`); the updates of all groups are then put back together.

  Args:
    transforms: maps each label to the transformation of that group.
    param_labels: a tree of labels with the structure of (or a prefix of) the
      params, or a function of the params (or updates) returning one. Every label
      must be a key of `transforms`.
    mask_compatible_extra_args: also mask extra keyword arguments whose tree
      structure is that of the updates, so each group sees only its own part.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
    >>> tx = fo.partition({"w": fo.scale(-1.0), "b": fo.set_to_zero()}, {"w": "w", "b": "b"})
    >>> updates, _ = tx.update(params, tx.init(params), params)
    >>> updates
    {'b': Array([0.], dtype=float32), 'w': Array([-1., -1.], dtype=float32)}

  References:
    `optax.partition` (formerly `optax.multi_transform`),
    https://optax.readthedocs.io/en/latest/api/combining_optimizers.html
  """
  # Labels are checked at init, not here: optax builds the transformation regardless
  # (its own tests construct one with an unknown label and expect init to raise).
  transforms = {label: with_extra_args_support(t) for label, t in transforms.items()}

  def labels_for(tree):
    return param_labels(tree) if callable(param_labels) else param_labels

  def masked_for(labels, label):
    mask = jax.tree.map(lambda leaf_label: leaf_label == label, labels)
    return masked(
        transforms[label], mask, mask_compatible_extra_args=mask_compatible_extra_args
    )

  def init_fn(params):
    labels = labels_for(params)
    _check_labels(labels, transforms)
    return PartitionState(
        inner_states={label: masked_for(labels, label).init(params) for label in transforms}
    )

  def update_fn(updates, state, params=None, **extra_args):
    labels = labels_for(updates)
    new_inner_states = {}
    for label in transforms:
      updates, new_inner_states[label] = masked_for(labels, label).update(
          updates, state.inner_states[label], params, **extra_args
      )
    return updates, PartitionState(inner_states=new_inner_states)

  return GradientTransformationExtraArgs(init_fn, update_fn)


multi_transform = partition  # optax's older name, kept for compatibility
MultiTransformState = PartitionState
