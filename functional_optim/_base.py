"""Core types: gradient transformations and the simplest stateless ones."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Optional, Protocol, Union, runtime_checkable

import jax
import jax.numpy as jnp

PyTree = Any
ArrayTree = Union[jax.typing.ArrayLike, Iterable["ArrayTree"], Mapping[Any, "ArrayTree"]]
OptState = ArrayTree
Params = ArrayTree
Updates = Params
Schedule = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]
ScalarOrSchedule = Union[float, jax.Array, Schedule]

ScheduleState = Any


@runtime_checkable
class StatefulSchedule(Protocol):
  """A schedule with a state: `init() -> state`, `update(state, **extra_args) -> state`,
  and `schedule(state, **extra_args) -> value`.

  `inject_stateful_hyperparams` accepts these as hyperparameters; `WrappedSchedule`
  turns a plain `count -> value` schedule into one.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.schedules.WrappedSchedule(lambda count: 2 * count)
    >>> isinstance(sched, fo.schedules.StatefulSchedule)
    True
    >>> state = sched.update(sched.init())
    >>> int(sched(state))
    2

  References:
    `optax.schedules.StatefulSchedule`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """

  def init(self) -> ScheduleState:
    """The schedule's initial state."""

  def update(self, state: ScheduleState, **extra_args) -> ScheduleState:
    """The state after one more step."""

  def __call__(self, state: ScheduleState, **extra_args) -> jax.typing.ArrayLike:
    """The value at `state`."""


NO_PARAMS_MSG = (
    "This transformation needs the current parameters: pass `params` to `update`."
)


class TransformInitFn(Protocol):
  """`init(params) -> state`.

  Any function `params -> state`, such as the `init` of a `GradientTransformation`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> init: fo.TransformInitFn = fo.trace(decay=0.9).init
    >>> init(jnp.ones(2)).trace.tolist()
    [0.0, 0.0]

  References:
    `optax.TransformInitFn`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def __call__(self, params: Params) -> OptState:
    ...


class TransformUpdateFn(Protocol):
  """`update(updates, state, params=None) -> (updates, state)`.

  Any function with the signature of a `GradientTransformation`'s `update`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale(-0.1)
    >>> update: fo.TransformUpdateFn = tx.update
    >>> [round(u, 4) for u in update(jnp.array([1.0, -2.0]), tx.init(jnp.ones(2)))[0].tolist()]
    [-0.1, 0.2]

  References:
    `optax.TransformUpdateFn`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def __call__(
      self, updates: Updates, state: OptState, params: Optional[Params] = None
  ) -> tuple[Updates, OptState]:
    ...


class TransformUpdateExtraArgsFn(Protocol):
  """`update(updates, state, params=None, **extra_args) -> (updates, state)`.

  An `update` that also accepts extra keyword arguments (such as `value` for line
  searches), which it may use or ignore.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.chain(fo.scale(2.0))
    >>> update: fo.TransformUpdateExtraArgsFn = tx.update
    >>> update(jnp.ones(1), tx.init(jnp.ones(1)), value=3.0)[0].tolist()
    [2.0]

  References:
    `optax.TransformUpdateExtraArgsFn`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def __call__(
      self,
      updates: Updates,
      state: OptState,
      params: Optional[Params] = None,
      **extra_args: Any,
  ) -> tuple[Updates, OptState]:
    ...


class GradientTransformation(NamedTuple):
  """A pair of pure functions `(init, update)` that transforms gradients.

  `init(params)` builds the state; `update(updates, state, params=None)` returns
  the transformed updates and the next state. All optimizer memory lives in the
  state, so both functions are pure and can be jit-compiled, vmapped and sharded.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale(-0.1)
    >>> state = tx.init({"w": jnp.ones(2)})
    >>> updates, state = tx.update({"w": jnp.ones(2)}, state)
    >>> updates["w"]
    Array([-0.1, -0.1], dtype=float32)
  """

  init: TransformInitFn
  update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
  """A `GradientTransformation` whose `update` accepts `**extra_args`.

  Extra keyword arguments (e.g. `value=loss` for line searches and Polyak steps)
  are forwarded to every transformation that wants them; others ignore them.
  """

  update: TransformUpdateExtraArgsFn


class EmptyState(NamedTuple):
  """The state of a transformation that keeps none."""


def init_empty_state(params: Params) -> EmptyState:
  """`init` function for a stateless transformation.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.init_empty_state({"w": jnp.ones(2)})
    EmptyState()

  References:
    `optax.init_empty_state`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  del params
  return EmptyState()


def identity() -> GradientTransformation:
  """Leaves the updates unchanged.

  Not to be confused with `set_to_zero`, which leaves the *parameters* unchanged.

  Example:
    >>> import functional_optim as fo
    >>> tx = fo.identity()
    >>> tx.update(1.0, tx.init(0.0))[0]
    1.0

  References:
    `optax.identity`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def update_fn(updates, state, params=None):
    del params
    return updates, state

  return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
  """Maps every update to zero, so that applying it leaves parameters as they are.

  Useful with `masked` or `multi_transform` to freeze part of a model.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.set_to_zero()
    >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
    Array([0., 0.], dtype=float32)

  References:
    `optax.set_to_zero`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(jnp.zeros_like, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def stateless(
    f: Callable[[Updates, Optional[Params]], Updates],
) -> GradientTransformation:
  """Builds a stateless transformation from `f(updates, params) -> updates`.

  Args:
    f: maps a tree of updates and the (possibly None) parameters to new updates.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.stateless(lambda u, p: jax.tree.map(lambda x: 2 * x, u))
    >>> tx.update(jnp.ones(1), tx.init(None))[0]
    Array([2.], dtype=float32)

  References:
    `optax.stateless`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def update_fn(updates, state, params=None):
    del state
    return f(updates, params), EmptyState()

  return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(
    f: Callable[[jax.typing.ArrayLike, Optional[jax.typing.ArrayLike]], jax.typing.ArrayLike],
) -> GradientTransformation:
  """Builds a stateless transformation from a per-leaf `f(update, param) -> update`.

  `param` is None when `update` is called without parameters.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.stateless_with_tree_map(lambda g, p: -g)
    >>> tx.update(jnp.ones(1), tx.init(None))[0]
    Array([-1.], dtype=float32)

  References:
    `optax.stateless_with_tree_map`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def update_fn(updates, state, params=None):
    del state
    if params is None:
      return jax.tree.map(lambda u: f(u, None), updates), EmptyState()
    return jax.tree.map(f, updates, params), EmptyState()

  return GradientTransformation(init_empty_state, update_fn)


def with_extra_args_support(tx: GradientTransformation) -> GradientTransformationExtraArgs:
  """Wraps `tx` so that its `update` accepts, and ignores, extra keyword args.

  Example:
    >>> import functional_optim as fo
    >>> tx = fo.with_extra_args_support(fo.identity())
    >>> tx.update(1.0, tx.init(0.0), value=3.0)[0]
    1.0

  References:
    `optax.with_extra_args_support`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  if isinstance(tx, GradientTransformationExtraArgs):
    return tx

  def update_fn(updates, state, params=None, **extra_args):
    del extra_args
    return tx.update(updates, state, params)

  return GradientTransformationExtraArgs(tx.init, update_fn)
