"""Constraints on parameters and updates: non-negative parameters, no NaN updates."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._base import EmptyState
from .._base import GradientTransformation
from .._base import NO_PARAMS_MSG

__all__ = [
    "NonNegativeParamsState",
    "ZeroNansState",
    "keep_params_nonnegative",
    "zero_nans",
]

NonNegativeParamsState = EmptyState


def keep_params_nonnegative() -> GradientTransformation:
  """Changes the updates so that the updated parameters are >= 0.

  Where `params + updates` would be negative the update becomes `-params`, moving
  that parameter to 0. Use it last in a chain, on non-negative parameters (a
  negative parameter is moved to 0 as well).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.keep_params_nonnegative()
    >>> params = jnp.array([1.0, 2.0])
    >>> tx.update(jnp.array([-3.0, -1.0]), tx.init(params), params)[0]
    Array([-1., -1.], dtype=float32)

  References:
    `optax.keep_params_nonnegative`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def init_fn(params):
    del params
    return NonNegativeParamsState()

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    updates = jax.tree.map(
        lambda p, u: None if p is None else jnp.where((p + u) < 0.0, -p, u),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )
    return updates, state

  return GradientTransformation(init_fn, update_fn)


class ZeroNansState(NamedTuple):
  """State of `zero_nans`."""

  found_nan: Any  # like params, one bool of shape=() per leaf: NaNs in the last updates


def zero_nans() -> GradientTransformation:
  """Replaces NaNs in the updates by zeros, and records in the state which leaves had any.

  The state is only informative; the transformation does not read it.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.zero_nans()
    >>> updates, state = tx.update(jnp.array([1.0, jnp.nan]), tx.init(jnp.zeros(2)))
    >>> updates, state.found_nan
    (Array([1., 0.], dtype=float32), Array(True, dtype=bool))

  References:
    `optax.zero_nans`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def init_fn(params):
    return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.array(False, dtype=jnp.bool_), params))

  def update_fn(updates, state, params=None):
    del state, params
    found_nan = jax.tree.map(lambda u: jnp.any(jnp.isnan(u)), updates)
    updates = jax.tree.map(lambda u: jnp.where(jnp.isnan(u), jnp.zeros_like(u), u), updates)
    return updates, ZeroNansState(found_nan=found_nan)

  return GradientTransformation(init_fn, update_fn)
