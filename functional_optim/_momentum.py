"""Momentum: traces and moving averages of past updates, and SGD built on them."""

from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from . import _tree
from ._adding import add_noise
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import identity
from ._checks import check_in_range
from ._combine import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = [
    "EmaState",
    "TraceState",
    "ema",
    "noisy_sgd",
    "sgd",
    "trace",
]



class TraceState(NamedTuple):
  """State of `trace`."""

  trace: Params  # like params (dtype `accumulator_dtype` if given): the momentum


def trace(
    decay: jax.typing.ArrayLike,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
  """Heavy-ball momentum: `trace = updates + decay * trace`, which becomes the update.

  With `nesterov`, the update is `updates + decay * trace` using the new trace.
  Note the difference with `ema`, which weights the new updates by `1 - decay`.

  Args:
    decay: the decay rate of the trace, in [0, 1].
    nesterov: use Nesterov's accelerated form.
    accumulator_dtype: dtype of the stored trace; None keeps the params' dtypes.

  References:
    Sutskever et al., 2013, "On the importance of initialization and momentum in deep learning",
    http://proceedings.mlr.press/v28/sutskever13.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.trace(decay=0.5)
    >>> state = tx.init(jnp.zeros(1))
    >>> _, state = tx.update(jnp.ones(1), state)
    >>> tx.update(jnp.ones(1), state)[0]
    Array([1.5], dtype=float32)
  """
  check_in_range("decay", decay, 0.0, 1.0, high_inclusive=True)
  accumulator_dtype = _tree.canonical_dtype(accumulator_dtype)

  def init_fn(params):
    return TraceState(trace=_tree.zeros_like(params, dtype=accumulator_dtype))

  def update_fn(updates, state, params=None):
    del params
    accumulate = lambda g, t: g + decay * t
    new_trace = jax.tree.map(
        lambda g, t: None if g is None else accumulate(g, t),
        updates,
        state.trace,
        is_leaf=lambda g: g is None,
    )
    updates = jax.tree.map(accumulate, updates, new_trace) if nesterov else new_trace
    return updates, TraceState(trace=_tree.cast(new_trace, accumulator_dtype))

  return GradientTransformation(init_fn, update_fn)


class EmaState(NamedTuple):
  """State of `ema`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  ema: Params  # like params (dtype `accumulator_dtype` if given): the moving average


def ema(
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformation:
  """Exponential moving average of the updates: `ema = (1 - decay) * updates + decay * ema`.

  Args:
    decay: the decay rate of the average, in [0, 1).
    debias: divide by `1 - decay**t` to undo the bias of the zero initialisation.
    accumulator_dtype: dtype of the stored average; None keeps the params' dtypes.

  References:
    Kingma and Ba, 2014 (bias correction), "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.ema(decay=0.5, debias=False)
    >>> state = tx.init(jnp.zeros(1))
    >>> _, state = tx.update(jnp.ones(1), state)
    >>> tx.update(jnp.ones(1), state)[0]
    Array([0.75], dtype=float32)
  """
  check_in_range("decay", decay, 0.0, 1.0)
  accumulator_dtype = _tree.canonical_dtype(accumulator_dtype)

  def init_fn(params):
    return EmaState(
        count=jnp.zeros([], jnp.int32),
        ema=_tree.zeros_like(params, dtype=accumulator_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    updates = new_ema = _tree.update_moment(updates, state.ema, decay, order=1)
    count_inc = safe_increment(state.count)
    if debias:
      updates = _tree.bias_correction(new_ema, decay, count_inc)
    return updates, EmaState(count=count_inc, ema=_tree.cast(new_ema, accumulator_dtype))

  return GradientTransformation(init_fn, update_fn)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
  """Stochastic gradient descent, optionally with (Nesterov) momentum.

  Without momentum the update is `-learning_rate * g`; with it,
  `-learning_rate * trace` where `trace = g + momentum * trace` (see `trace`).

  Args:
    learning_rate: a scalar or a schedule of the step count.
    momentum: the momentum decay in [0, 1]; None for plain SGD (no state).
    nesterov: use Nesterov momentum.
    accumulator_dtype: dtype of the momentum; None keeps the params' dtypes.

  References:
    Sutskever et al., 2013, "On the importance of initialization and momentum in deep learning",
    http://proceedings.mlr.press/v28/sutskever13.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.sgd(learning_rate=0.1, momentum=0.9)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, _ = tx.update(2 * params, tx.init(params), params)
    >>> fo.apply_updates(params, updates)
    Array([0.8, 1.6], dtype=float32)
  """
  check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=True)
  return chain(
      identity() if momentum is None else trace(
          decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype
      ),
      scale_by_learning_rate(learning_rate),
  )


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: jax.typing.ArrayLike = 0.01,
    gamma: jax.typing.ArrayLike = 0.55,
    key: Union[jax.Array, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformationExtraArgs:
  """SGD on gradients plus annealed Gaussian noise of variance `eta / (t + 1)**gamma`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    eta: the initial variance of the noise.
    gamma: the decay exponent of the variance.
    key: a PRNG key or an integer seed (default 0).
    seed: the older spelling of `key`; give at most one of the two.

  References:
    Neelakantan et al., 2015, "Adding Gradient Noise Improves Learning for Very Deep Networks",
    https://arxiv.org/abs/1511.06807

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.noisy_sgd(learning_rate=0.1, eta=0.0, key=0)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, _ = tx.update(params, tx.init(params), params)
    >>> updates
    Array([-0.1, -0.2], dtype=float32)
  """
  return chain(
      add_noise(eta, gamma, key, seed=seed),
      scale_by_learning_rate(learning_rate),
  )
