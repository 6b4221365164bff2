"""Transformations that add to the updates: weight decay and gradient noise."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from .. import tree as tree_lib
from .._base import EmptyState
from .._base import GradientTransformation
from .._base import NO_PARAMS_MSG
from .._base import ScalarOrSchedule
from .._checks import check_non_negative
from ._masking import masked
from .._numerics import safe_increment

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "WeightDecaySchedule",
    "add_decayed_weights",
    "add_noise",
]


AddDecayedWeightsState = EmptyState  # the state of `add_decayed_weights` with a constant rate


class WeightDecaySchedule(NamedTuple):
  """State of `add_decayed_weights` when the weight decay is a schedule."""

  count: jax.Array  # shape=(), int32: number of updates so far


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
  """Adds `weight_decay * params` to the updates (decoupled weight decay before scaling).

  Args:
    weight_decay: the decay rate, a scalar or a schedule of the step count.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.add_decayed_weights(0.1)
    >>> tx.update(jnp.zeros(1), tx.init(jnp.ones(1)), jnp.ones(1))[0]
    Array([0.1], dtype=float32)
  """
  check_non_negative("weight_decay", weight_decay)
  return add_decayed_weights_unchecked(weight_decay, mask)


def add_decayed_weights_unchecked(
    weight_decay: ScalarOrSchedule,
    mask: Optional[Union[Any, Callable[[Any], Any]]] = None,
) -> GradientTransformation:
  """`add_decayed_weights` without validation, for internal negative rates.

  `fromage` shrinks the parameters through a negative weight decay, which the
  public factory rejects as a user error.
  """

  def init_fn(params):
    del params
    if callable(weight_decay):
      return WeightDecaySchedule(count=jnp.zeros([], jnp.int32))
    return EmptyState()

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    new_state = WeightDecaySchedule(safe_increment(state.count)) if callable(weight_decay) else state
    if isinstance(weight_decay, (int, float)) and weight_decay == 0.0:
      return updates, new_state
    rate = weight_decay(state.count) if callable(weight_decay) else weight_decay
    updates = jax.tree.map(
        lambda g, p: None if g is None else g + rate * p,
        updates,
        params,
        is_leaf=lambda x: x is None,
    )
    return updates, new_state

  tx = GradientTransformation(init_fn, update_fn)
  return tx if mask is None else masked(tx, mask)


class AddNoiseState(NamedTuple):
  """State of `add_noise`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  rng_key: jax.Array  # a typed PRNG key, shape=()


def _canonical_key(key_or_seed: Union[jax.Array, int]) -> jax.Array:
  if isinstance(key_or_seed, jax.Array) and jnp.issubdtype(key_or_seed.dtype, jax.dtypes.prng_key):
    return key_or_seed
  return jax.random.key(key_or_seed)


def add_noise(
    eta: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    key: Union[jax.Array, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformation:
  """Adds annealed Gaussian noise with variance `eta / (t + 1)**gamma` at step t.

  Args:
    eta: base variance of the noise.
    gamma: decay exponent of the variance.
    key: a PRNG key or an integer seed (default 0).
    seed: the older spelling of `key`; give at most one of the two.

  References:
    Neelakantan et al., 2015, "Adding Gradient Noise Improves Learning for Very Deep Networks",
    https://arxiv.org/abs/1511.06807

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.add_noise(eta=0.01, gamma=0.55, key=0)
    >>> tx.update(jnp.zeros(3), tx.init(jnp.zeros(3)))[0].shape
    (3,)
  """
  check_non_negative("eta", eta)
  check_non_negative("gamma", gamma)
  if seed is not None:
    if key is not None:
      raise ValueError("add_noise: give either key or seed, not both")
    key = seed
  if key is None:
    key = 0

  def init_fn(params):
    del params
    return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_canonical_key(key))

  def update_fn(updates, state, params=None):
    del params
    count_inc = safe_increment(state.count)
    standard_deviation = jnp.sqrt(eta / count_inc**gamma)
    rng_key, sample_key = jax.random.split(state.rng_key)
    noise = tree_lib.random_like(sample_key, updates, sampler=jax.random.normal)
    updates = tree_lib.add_scale(updates, standard_deviation, noise)
    return updates, AddNoiseState(count=count_inc, rng_key=rng_key)

  return GradientTransformation(init_fn, update_fn)
