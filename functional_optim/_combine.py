"""Composition of transformations: `chain` and `named_chain`."""

import collections

from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import with_extra_args_support


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
