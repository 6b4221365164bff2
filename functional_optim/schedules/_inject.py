"""Hyperparameters as state: schedules and manual changes without rebuilding the optimizer.

`inject_hyperparams(factory)(**hyperparams)` builds a transformation whose numeric
hyperparameters live in `state.hyperparams`, so they can be scheduled, or changed
between steps (`state.hyperparams["learning_rate"] = 0.01`) with no recompilation.
"""

from collections.abc import Callable, Iterable
import functools
import inspect
from typing import Any, NamedTuple, Optional, Union
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import OptState
from .._base import Schedule
from .._base import with_extra_args_support
from .._numerics import safe_increment

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "WrappedSchedule",
    "inject_hyperparams",
    "inject_stateful_hyperparams",
]


class InjectHyperparamsState(NamedTuple):
  """Former state of `inject_hyperparams`, kept for compatibility (optax deprecated it in 0.1.9).

  `inject_hyperparams` now returns an `InjectStatefulHyperparamsState`.
  """

  count: jax.Array  # shape=(), int32: number of updates so far
  hyperparams: dict[str, jax.typing.ArrayLike]  # name -> scalar array, the current values
  inner_state: OptState  # the wrapped transformation's state


class InjectStatefulHyperparamsState(NamedTuple):
  """State of `inject_hyperparams`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  hyperparams: dict[str, jax.typing.ArrayLike]  # name -> scalar array, the values used last
  hyperparams_states: dict[str, Any]  # scheduled name -> that schedule's state
  inner_state: OptState  # the wrapped transformation's state


class WrappedScheduleState(NamedTuple):
  """State of a `WrappedSchedule`."""

  count: jax.Array  # shape=(), int32: number of updates so far


class WrappedSchedule:
  """A stateful schedule (`init`, `update`, `__call__`) made from `schedule_fn(count)`.

  `inject_hyperparams` accepts stateful schedules: objects with `init() -> state`,
  `update(state, **extra_args) -> state` and `__call__(state, **extra_args) -> value`
  (optax's `StatefulSchedule` protocol). This wraps a plain schedule into one whose
  state is the step count. A class, unlike the rest of the package, because that
  protocol is a callable object.

  Args:
    schedule_fn: a schedule of the step count.

  Example:
    >>> import functional_optim as fo
    >>> sched = fo.WrappedSchedule(lambda count: 2 * count)
    >>> state = sched.update(sched.init())
    >>> sched(state)
    Array(2, dtype=int32)

  References:
    `optax.WrappedSchedule`, https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """

  def __init__(self, schedule_fn: Schedule):
    self.schedule_fn = schedule_fn

  def init(self) -> WrappedScheduleState:
    return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

  def update(self, state: WrappedScheduleState, **extra_args) -> WrappedScheduleState:
    del extra_args
    return WrappedScheduleState(count=safe_increment(state.count))

  def __call__(self, state: WrappedScheduleState, **extra_args) -> jax.typing.ArrayLike:
    del extra_args
    return self.schedule_fn(state.count)


def _is_stateful_schedule(value) -> bool:
  return callable(value) and all(hasattr(value, name) for name in ("init", "update"))


def _highest_dtype(tree) -> jnp.dtype:
  """The leaf dtype every other leaf dtype promotes to (float32 for an empty tree)."""
  dtypes = [jnp.asarray(leaf).dtype for leaf in jax.tree.leaves(tree)]
  if not dtypes:
    return jnp.asarray([]).dtype

  def higher(a, b):
    promoted = jnp.promote_types(a, b)
    if promoted not in (a, b):
      raise ValueError(f"Cannot order the parameter dtypes {a} and {b}: pass hyperparam_dtype.")
    return promoted

  return functools.reduce(higher, dtypes)


def _convert_floats(value, dtype):
  """Casts a float (or weakly typed array) to `dtype`; other values pass through."""
  if isinstance(value, jax.Array) and not getattr(value, "weak_type", False):
    return value
  value_dtype = value.dtype if hasattr(value, "dtype") else type(value)
  if jax.dtypes.issubdtype(value_dtype, jnp.floating):
    return jnp.asarray(value, dtype=dtype)
  return value


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[jnp.dtype] = None,
) -> Callable[..., GradientTransformationExtraArgs]:
  """Makes the numeric hyperparameters of `inner_factory` schedulable and editable.

  The returned factory takes the arguments of `inner_factory`; any numeric one may
  instead be a schedule of the step count (or a stateful schedule, see
  `WrappedSchedule`). Numeric and scheduled values live in `state.hyperparams`; a
  value set there between steps is used by the next step, unless a schedule
  overrides it. Booleans, `None`, strings and the `static_args` are passed through
  unchanged. `inner_factory` is called again at every step with the current values,
  so it must accept (traced) arrays for them.

  Args:
    inner_factory: a function returning a `GradientTransformation`.
    static_args: names of the arguments that are not hyperparameters even though
      they are callables (every other callable is treated as a schedule).
    hyperparam_dtype: the dtype of float hyperparameters; by default the highest
      dtype of the parameters (float32 if `update` gets no parameters).

  Returns:
    A factory with the arguments of `inner_factory`, returning a
    `GradientTransformationExtraArgs` whose state is an
    `InjectStatefulHyperparamsState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.inject_hyperparams(fo.scale_by_learning_rate)(learning_rate=0.1)
    >>> state = tx.init(jnp.zeros(1))
    >>> state.hyperparams["learning_rate"] = 0.5
    >>> tx.update(jnp.ones(1), state)[0]
    Array([-0.5], dtype=float32)

  References:
    `optax.inject_hyperparams`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  static_args = {static_args} if isinstance(static_args, str) else set(static_args)
  inner_signature = inspect.signature(inner_factory)
  if not static_args.issubset(inner_signature.parameters):
    raise ValueError(
        "static_args must name parameters of inner_factory, got "
        f"static_args={sorted(static_args)!r}; the parameters are "
        f"{list(inner_signature.parameters)!r}"
    )

  @functools.wraps(inner_factory)
  def wrapped_transform(*args, **kwargs) -> GradientTransformationExtraArgs:
    bound = inner_signature.bind(*args, **kwargs)
    bound.apply_defaults()

    scheduled, numeric, other = {}, {}, {}
    for name, value in bound.arguments.items():
      if name in static_args or isinstance(value, bool):
        other[name] = value
      elif _is_stateful_schedule(value):
        scheduled[name] = value
      elif callable(value):
        scheduled[name] = WrappedSchedule(value)
      elif isinstance(value, (int, float, jax.Array, np.ndarray)):
        numeric[name] = value
      else:
        other[name] = value

    def dtype_for(params):
      return _highest_dtype(params) if hyperparam_dtype is None else hyperparam_dtype

    def init_fn(params):
      dtype = dtype_for(params)
      hyperparams = {k: jnp.asarray(_convert_floats(v, dtype)) for k, v in numeric.items()}
      hyperparams_states = {k: sched.init() for k, sched in scheduled.items()}
      hyperparams.update({
          k: _convert_floats(sched(hyperparams_states[k]), dtype)
          for k, sched in scheduled.items()
      })
      return InjectStatefulHyperparamsState(
          count=jnp.zeros([], jnp.int32),
          hyperparams=hyperparams,
          hyperparams_states=hyperparams_states,
          inner_state=inner_factory(**other, **hyperparams).init(params),
      )

    def update_fn(updates, state, params=None, **extra_args):
      dtype = dtype_for(params)
      hyperparams = {k: _convert_floats(v, dtype) for k, v in state.hyperparams.items()}
      hyperparams.update({
          k: _convert_floats(sched(state.hyperparams_states[k], **extra_args), dtype)
          for k, sched in scheduled.items()
      })
      hyperparams_states = {
          k: sched.update(state.hyperparams_states[k], **extra_args)
          for k, sched in scheduled.items()
      }
      inner = with_extra_args_support(inner_factory(**other, **hyperparams))
      updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
      return updates, InjectStatefulHyperparamsState(
          count=safe_increment(state.count),
          hyperparams=hyperparams,
          hyperparams_states=hyperparams_states,
          inner_state=inner_state,
      )

    return GradientTransformationExtraArgs(init_fn, update_fn)

  return wrapped_transform


def inject_stateful_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: Union[str, Iterable[str]] = (),
    hyperparam_dtype: Optional[jnp.dtype] = None,
) -> Callable[..., GradientTransformationExtraArgs]:
  """Deprecated alias of `inject_hyperparams` (optax deprecated it in 0.1.9).

  Warns with a `DeprecationWarning`, then returns
  `inject_hyperparams(inner_factory, static_args, hyperparam_dtype)`.

  Args:
    inner_factory: a function returning a `GradientTransformation`.
    static_args: names of the callable arguments that are not schedules.
    hyperparam_dtype: the dtype of float hyperparameters.

  Example:
    >>> import warnings
    >>> import functional_optim as fo
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   tx = fo.inject_stateful_hyperparams(fo.scale)(step_size=2.0)
    >>> tx.update(1.0, tx.init(0.0))[0]
    Array(2., dtype=float32)

  References:
    `optax.inject_stateful_hyperparams`,
    https://optax.readthedocs.io/en/latest/api/optimizer_schedules.html
  """
  warnings.warn(
      "inject_stateful_hyperparams is deprecated, use inject_hyperparams instead",
      DeprecationWarning,
      stacklevel=2,
  )
  return inject_hyperparams(inner_factory, static_args, hyperparam_dtype)
