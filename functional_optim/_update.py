"""Applying updates to parameters, and slow (target) copies of parameters."""

import jax
import jax.numpy as jnp

from ._base import Params, Updates


def apply_updates(params: Params, updates: Updates) -> Params:
  """Returns `params + updates`, keeping each parameter's dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.apply_updates({"w": jnp.ones(2)}, {"w": jnp.full(2, -0.5)})
    {'w': Array([0.5, 0.5], dtype=float32)}

  References:
    `optax.apply_updates`, https://optax.readthedocs.io/en/latest/api/apply_updates.html
  """
  return jax.tree.map(
      lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
      params,
      updates,
      is_leaf=lambda x: x is None,
  )


def incremental_update(
    new_tensors: Params, old_tensors: Params, step_size: jax.typing.ArrayLike
) -> Params:
  """Polyak averaging: `step_size * new + (1 - step_size) * old`.

  References:
    Polyak and Juditsky, 1992, "Acceleration of Stochastic Approximation by Averaging",
    https://epubs.siam.org/doi/10.1137/0330046

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.incremental_update(jnp.ones(1), jnp.zeros(1), 0.25)
    Array([0.25], dtype=float32)
  """
  return jax.tree.map(
      lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
      new_tensors,
      old_tensors,
      is_leaf=lambda x: x is None,
  )


def periodic_update(
    new_tensors: Params,
    old_tensors: Params,
    steps: jax.typing.ArrayLike,
    update_period: jax.typing.ArrayLike,
) -> Params:
  """Returns `new_tensors` every `update_period` steps, else `old_tensors`.

  References:
    Mnih et al., 2015, "Human-level control through deep reinforcement learning",
    https://www.nature.com/articles/nature14236

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.periodic_update(jnp.ones(1), jnp.zeros(1), steps=4, update_period=2)
    Array([1.], dtype=float32)
  """
  return jax.lax.cond(
      jnp.mod(steps, update_period) == 0,
      lambda _: new_tensors,
      lambda _: old_tensors,
      None,
  )
