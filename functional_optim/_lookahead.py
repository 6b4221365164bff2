"""Lookahead: k fast steps forward, one slow step back."""

import logging
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import GradientTransformation
from ._base import NO_PARAMS_MSG
from ._base import Params
from ._checks import check_in_range
from ._checks import check_positive_int

__all__ = ["LookaheadParams", "LookaheadState", "lookahead"]


class LookaheadState(NamedTuple):
  """State of `lookahead`."""

  fast_state: Any  # the fast optimizer's state
  steps_since_sync: jax.Array  # shape=(), int32: fast steps since the last synchronization


class LookaheadParams(NamedTuple):
  """The fast and slow parameters that `lookahead` updates together.

  Compute gradients at `fast`; evaluate (infer, test) with `slow`.

  References:
    Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step back",
    https://arxiv.org/abs/1907.08610

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.LookaheadParams.init_synced(jnp.ones(1))
    LookaheadParams(fast=Array([1.], dtype=float32), slow=Array([1.], dtype=float32))
  """

  fast: Params  # where gradients are computed
  slow: Params  # the parameters to evaluate with

  # The one method in the library: optax's constructor, kept for compatibility.
  @classmethod
  def init_synced(cls, params: Params) -> "LookaheadParams":
    """Fast and slow parameters both equal to `params`.

    `slow` is a copy, in buffers of its own, so that the pair can be donated to `jax.jit`.
    """
    return cls(fast=params, slow=jax.tree.map(jnp.copy, params))


def _lookahead_updates(updates, sync_next, params, slow_step_size):
  """Updates of `LookaheadParams` for one step.

  A synchronization step is a last fast step `fast + updates` followed by
  `slow += slow_step_size * (fast + updates - slow)` and `fast = slow`; merged
  into a single update, with `diff = fast + updates - slow`, that is
  `slow_update = slow_step_size * diff` and
  `fast_update = updates - (1 - slow_step_size) * diff`. Other steps move only
  the fast parameters.
  """
  diff = jax.tree.map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)
  slow_updates = jax.tree.map(lambda d: slow_step_size * sync_next * d, diff)
  fast_updates = jax.tree.map(
      lambda u, d: u - sync_next * (1 - slow_step_size) * d, updates, diff
  )
  return LookaheadParams(fast=fast_updates, slow=slow_updates)


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: jax.typing.ArrayLike,
    slow_step_size: jax.typing.ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
  """Runs `fast_optimizer` and every `sync_period` steps pulls it towards slow weights.

  Parameters are `LookaheadParams(fast, slow)`: give `update` the gradients at
  `params.fast` and apply its updates (unchanged) to the whole `LookaheadParams`.
  After every `sync_period` fast steps, `slow` moves by `slow_step_size` of the way
  to `fast`, and `fast` is reset to the new `slow`.

  Args:
    fast_optimizer: the inner optimizer.
    sync_period: fast steps between synchronizations (>= 1).
    slow_step_size: how far `slow` moves towards `fast` at a synchronization.
    reset_state: re-initialize the fast optimizer's state at each synchronization.

  References:
    Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step back",
    https://arxiv.org/abs/1907.08610

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.lookahead(fo.scale(-1.0), sync_period=2, slow_step_size=0.5)
    >>> params = fo.LookaheadParams.init_synced(jnp.zeros(1))
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(jnp.ones(1), state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> params
    LookaheadParams(fast=Array([-1.], dtype=float32), slow=Array([-1.], dtype=float32))
  """
  if isinstance(sync_period, numbers.Number):
    check_positive_int("sync_period", sync_period)
  check_in_range("slow_step_size", slow_step_size, 0.0, 1.0, high_inclusive=True)

  def init_fn(params):
    fast_params = getattr(params, "fast", None)
    if fast_params is None:
      logging.getLogger(__name__).warning(
          "lookahead: `params` has no `fast` attribute; using it as the fast parameters."
      )
      fast_params = params
    return LookaheadState(
        fast_state=fast_optimizer.init(fast_params),
        steps_since_sync=jnp.zeros([], jnp.int32),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
    sync_next = state.steps_since_sync == (sync_period - 1)
    updates = _lookahead_updates(updates, sync_next, params, slow_step_size)
    if reset_state:
      initial_state = fast_optimizer.init(params.fast)
      fast_state = jax.tree.map(
          lambda current, init: (1 - sync_next) * current + sync_next * init,
          fast_state,
          initial_state,
      )
    steps_since_sync = (state.steps_since_sync + 1) % sync_period
    return updates, LookaheadState(fast_state, steps_since_sync)

  return GradientTransformation(init_fn, update_fn)
