"""Recording measurements of the updates in the state, for monitoring and debugging
(optax's `transforms/_monitoring.py`)."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from .._base import ArrayTree
from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import OptState
from .._base import Updates
from .._base import stateless
from .._base import with_extra_args_support
from ._accumulation import ema
from ._combining import chain

__all__ = ["MonitorState", "SnapshotState", "measure_with_ema", "monitor", "snapshot"]


class SnapshotState(NamedTuple):
  """State of `snapshot`."""

  measurement: dict[str, Any]  # {measure_name: measure(updates)}: the last measurement


def snapshot(measure_name: str, measure: Callable[[Updates], ArrayTree]) -> GradientTransformation:
  """Stores `measure(updates)` in the state under `measure_name`; updates pass unchanged.

  Placed inside a chain, it records the updates as transformed so far; read the value
  back with `fo.tree.get(state, measure_name)`.

  Args:
    measure_name: the name the measurement is stored (and found) under.
    measure: `measure(updates) -> tree of arrays`; at init it is applied to the params.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.chain(fo.snapshot("norm_before_clip", fo.tree.norm), fo.clip_by_global_norm(1.0))
    >>> updates, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
    >>> float(fo.tree.get(state, "norm_before_clip")), float(fo.tree.norm(updates))
    (5.0, 1.0)

  References:
    `optax.snapshot`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def init_fn(params):
    return SnapshotState({measure_name: measure(params)})

  def update_fn(updates, state, params=None):
    del state, params
    return updates, SnapshotState({measure_name: measure(updates)})

  return GradientTransformation(init_fn, update_fn)


class MonitorState(NamedTuple):
  """State of `monitor`."""

  measurements: dict[str, ArrayTree]  # {name: measurement}: the last measurement of each measure
  measure_states: tuple[OptState, ...]  # the states of the measures, in the order given


def monitor(
    measures: dict[str, Union[GradientTransformation, Callable[[Updates], ArrayTree]]],
) -> GradientTransformationExtraArgs:
  """Records several (possibly stateful) measurements of the updates; updates pass unchanged.

  A measure is either a function `measure(updates)` or a transformation whose
  "updates" output is the measurement (for instance `measure_with_ema`). The
  measurements are found with `fo.tree.get(state, name)`.

  Unlike optax, whose init leaves `measurements` empty (`{}`), the initial state
  already holds zeros shaped like each measurement, so the state's structure does
  not change across `update` (`lax.scan` and `fori_loop` need that).

  Args:
    measures: maps each measurement's name to its measure.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.monitor({
    ...     "norm": fo.tree.norm,
    ...     "norm_ema": fo.measure_with_ema(fo.tree.norm, decay=0.5, debias=False),
    ... })
    >>> state = tx.init(jnp.zeros(2))
    >>> for g in (jnp.array([3.0, 4.0]), jnp.array([0.0, 1.0])):
    ...   _, state = tx.update(g, state)
    >>> float(fo.tree.get(state, "norm")), float(fo.tree.get(state, "norm_ema"))
    (1.0, 1.75)

  References:
    `optax.monitor`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def as_transform(measure):
    if callable(measure):  # a function (a transformation is a tuple: not callable)
      return with_extra_args_support(stateless(lambda updates, _, m=measure: m(updates)))
    return with_extra_args_support(measure)

  transforms = {name: as_transform(measure) for name, measure in measures.items()}

  def init_fn(params):
    measure_states = tuple(t.init(params) for t in transforms.values())
    shapes = jax.eval_shape(
        lambda p, s: {
            name: t.update(p, s_i, p)[0] for (name, t), s_i in zip(transforms.items(), s)
        },
        params,
        measure_states,
    )
    measurements = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
    return MonitorState(measurements, measure_states)

  def update_fn(updates, state, params=None, **extra_args):
    measurements, new_states = {}, []
    for (name, t), measure_state in zip(transforms.items(), state.measure_states):
      measurements[name], measure_state = t.update(updates, measure_state, params, **extra_args)
      new_states.append(measure_state)
    return updates, MonitorState(measurements, tuple(new_states))

  return GradientTransformationExtraArgs(init_fn, update_fn)


def measure_with_ema(
    measure: Callable[[Updates], ArrayTree],
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
  """A measure for `monitor`: the exponential moving average of `measure(updates)`.

  Args:
    measure: `measure(updates) -> tree of arrays`.
    decay: the decay rate of the average (see `ema`).
    debias: divide by `1 - decay**t` to undo the zero initialisation.
    accumulator_dtype: dtype of the stored average; None keeps the measurement's.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.measure_with_ema(fo.tree.norm, decay=0.9)
    >>> value, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
    >>> round(float(value), 4)  # debiased: the first average is the first measurement
    5.0

  References:
    `optax.measure_with_ema`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  base_ema = ema(decay, debias, accumulator_dtype)

  def init_fn(params):
    # The average has the shape of the measurement, not of the params, and the dtype
    # the average of such measurements has (float for a boolean measurement: optax
    # starts from the measurement's dtype, so its state changes dtype at the first update).
    measurement = measure(params)
    after_one_update = jax.eval_shape(
        lambda m: base_ema.update(m, base_ema.init(m))[1], measurement
    )
    return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), after_one_update)

  measurement_ema = base_ema._replace(init=init_fn)
  return chain(stateless(lambda updates, _: measure(updates)), measurement_ema)
