"""Accumulating updates: momentum (`trace`), moving averages (`ema`), and gradient
accumulation over several steps (`MultiSteps`, `apply_every`)."""

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Protocol, Union

import jax
import jax.numpy as jnp

from .. import tree as tree_lib
from .._base import ArrayTree
from .._base import GradientTransformation
from .._base import GradientTransformationExtraArgs
from .._base import Params
from .._base import Updates
from .._base import with_extra_args_support
from .._checks import check_in_range
from .._checks import check_positive_int
from .._numerics import abs_sq
from .._numerics import safe_increment
from .._utils import canonical_dtype

__all__ = [
    "ApplyEvery",
    "EmaState",
    "MultiSteps",
    "MultiStepsState",
    "ShouldSkipUpdateFunction",
    "apply_every",
    "skip_large_updates",
    "skip_not_finite",
    "trace",
    "TraceState",
    "ema",
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
  accumulator_dtype = canonical_dtype(accumulator_dtype)

  def init_fn(params):
    return TraceState(trace=tree_lib.zeros_like(params, dtype=accumulator_dtype))

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
    return updates, TraceState(trace=tree_lib.cast(new_trace, accumulator_dtype))

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
  accumulator_dtype = canonical_dtype(accumulator_dtype)

  def init_fn(params):
    return EmaState(
        count=jnp.zeros([], jnp.int32),
        ema=tree_lib.zeros_like(params, dtype=accumulator_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    updates = new_ema = tree_lib.update_moment(updates, state.ema, decay, order=1)
    count_inc = safe_increment(state.count)
    if debias:
      updates = tree_lib.bias_correction(new_ema, decay, count_inc)
    return updates, EmaState(count=count_inc, ema=tree_lib.cast(new_ema, accumulator_dtype))

  return GradientTransformation(init_fn, update_fn)


class ApplyEvery(NamedTuple):
  """State of `apply_every`."""

  count: jax.Array  # shape=(), int32: steps since the last emission, in [0, k)
  grad_acc: Updates  # like params: sum of the updates since the last emission


def apply_every(k: jax.typing.ArrayLike = 1) -> GradientTransformation:
  """Sums the updates of `k` consecutive steps and emits the sum every `k`-th step.

  The other steps return zeros. Transformations chained before this one still
  update their state at every step; `MultiSteps` instead holds the whole inner
  optimizer back, which is what emulating a larger batch needs.

  Args:
    k: the number of steps to accumulate.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.apply_every(2)
    >>> state = tx.init(jnp.zeros(1))
    >>> first, state = tx.update(jnp.ones(1), state)
    >>> second, state = tx.update(jnp.ones(1), state)
    >>> first, second
    (Array([0.], dtype=float32), Array([2.], dtype=float32))

  References:
    `optax.apply_every`, https://optax.readthedocs.io/en/latest/api/transformations.html
  """
  if isinstance(k, numbers.Number):
    check_positive_int("k", k)

  def init_fn(params):
    return ApplyEvery(count=jnp.zeros([], jnp.int32), grad_acc=tree_lib.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    c = state.count % k
    grad_acc = jax.tree.map(lambda g, ga: (c != 0) * ga + g, updates, state.grad_acc)
    emit = c == (k - 1)
    updates = jax.tree.map(lambda ga: emit * ga, grad_acc)
    return updates, ApplyEvery(count=safe_increment(state.count) % k, grad_acc=grad_acc)

  return GradientTransformation(init_fn, update_fn)


class ShouldSkipUpdateFunction(Protocol):
  """`(updates, gradient_step, params) -> (should_skip, skip_state)` for `MultiSteps`.

  `should_skip` is a boolean scalar array; `skip_state` is any tree of arrays,
  stored in `MultiStepsState.skip_state` (e.g. for monitoring).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> skip: fo.ShouldSkipUpdateFunction = fo.skip_not_finite
    >>> should_skip, info = skip({"w": jnp.array([jnp.nan, 1.0])}, 0, None)
    >>> bool(should_skip), int(info["num_not_finite"])
    (True, 1)

  References:
    `optax.ShouldSkipUpdateFunction`,
    https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
  """

  def __call__(
      self,
      updates: Updates,
      gradient_step: jax.typing.ArrayLike,
      params: Optional[Params],
  ) -> tuple[jax.typing.ArrayLike, ArrayTree]:
    ...


def skip_not_finite(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Optional[Params],
) -> tuple[jax.Array, ArrayTree]:
  """Says to skip the updates if any of them is NaN or infinite (for `MultiSteps`).

  Args:
    updates: the updates of the mini-step.
    gradient_step: the gradient step count (unused).
    params: the parameters (unused).

  Returns:
    ``(should_skip, {"should_skip": should_skip, "num_not_finite": count})``.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.skip_not_finite([jnp.array([1.0, jnp.inf, jnp.nan])], 0, None)[0]
    Array(True, dtype=bool)

  References:
    `optax.skip_not_finite`, https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
  """
  del gradient_step, params
  num_not_finite = jnp.sum(
      jnp.array([jnp.sum(jnp.logical_not(jnp.isfinite(u))) for u in jax.tree.leaves(updates)])
  )
  should_skip = num_not_finite > 0
  return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Optional[Params],
    max_squared_norm: jax.typing.ArrayLike,
) -> tuple[jax.Array, ArrayTree]:
  """Says to skip the updates unless their squared global norm is below `max_squared_norm`.

  A NaN norm is skipped too. Bind `max_squared_norm` with `functools.partial` to
  use it as `MultiSteps(..., should_skip_update_fn=...)`.

  Args:
    updates: the updates of the mini-step.
    gradient_step: the gradient step count (unused).
    params: the parameters (unused).
    max_squared_norm: the largest accepted squared norm (exclusive).

  Returns:
    ``(should_skip, {"should_skip": should_skip, "norm_squared": squared_norm})``.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.skip_large_updates([jnp.array([3.0, 4.0])], 0, None, max_squared_norm=20.0)[0]
    Array(True, dtype=bool)

  References:
    `optax.skip_large_updates`, https://optax.readthedocs.io/en/latest/api/optimizer_wrappers.html
  """
  del gradient_step, params
  # |u|^2 rather than optax's u**2, which is not a squared norm for complex updates.
  norm_sq = jnp.sum(jnp.array([jnp.sum(abs_sq(jnp.asarray(u))) for u in jax.tree.leaves(updates)]))
  should_skip = jnp.logical_not(norm_sq < max_squared_norm)
  return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


class MultiStepsState(NamedTuple):
  """State of `MultiSteps`."""

  mini_step: jax.Array  # shape=(), int32: mini-steps accumulated towards the next update
  gradient_step: jax.Array  # shape=(), int32: updates of the inner optimizer so far
  inner_opt_state: Any  # the inner optimizer's state
  acc_grads: Any  # like params, dtype accumulator_dtype (complex counterpart for complex leaves)
  skip_state: ArrayTree = ()  # what `should_skip_update_fn` returned last


def _never_skip(updates, gradient_step, params):
  del updates, gradient_step, params
  return jnp.array(False, dtype=jnp.bool_), ()


def _has_updated(state: Union[MultiStepsState, ArrayTree]) -> jax.Array:
  """Whether the last `update` of `MultiSteps` applied the inner optimizer."""
  return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)


class MultiStepsTransformation(NamedTuple):
  """What `MultiSteps` returns: `init` and `update`, plus optax's helpers.

  `gradient_transformation()` gives the `(init, update)` pair, `has_updated(state)`
  tells whether the last step updated the parameters, `inner_opt` is the wrapped
  optimizer.
  """

  init: Callable[[Params], MultiStepsState]
  update: Callable[..., tuple[Updates, MultiStepsState]]
  gradient_transformation: Callable[[], GradientTransformationExtraArgs]
  has_updated: Callable[[Union[MultiStepsState, ArrayTree]], jax.Array]
  inner_opt: GradientTransformationExtraArgs


def _accumulator_like(params, accumulator_dtype):
  """Zeros like `params` in `accumulator_dtype` (None: the params' own dtypes)."""

  def zeros(p):
    if accumulator_dtype is None:
      return jnp.zeros_like(p)
    # A real accumulator would drop the imaginary part of complex gradients (optax
    # does so); those accumulate in the complex type of the same precision.
    if jnp.iscomplexobj(p):
      return jnp.zeros_like(p, dtype=jnp.result_type(accumulator_dtype, jnp.complex64))
    return jnp.zeros_like(p, dtype=accumulator_dtype)

  return jax.tree.map(zeros, params)


def MultiSteps(  # noqa: N802 (optax's name: a class there, a factory here)
    opt: GradientTransformation,
    every_k_schedule: Union[int, Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]],
    use_grad_mean: bool = True,
    should_skip_update_fn: Optional[ShouldSkipUpdateFunction] = None,
    accumulator_dtype: jax.typing.DTypeLike = jnp.float32,
) -> MultiStepsTransformation:
  """Accumulates gradients over `k` mini-steps, then applies `opt` to them once.

  The mini-steps return zero updates and leave `opt`'s state untouched; every
  `k`-th step passes the mean (or sum) of the accumulated gradients to `opt` and
  returns its updates. This emulates a `k` times larger batch.

  Args:
    opt: the wrapped optimizer.
    every_k_schedule: the number of mini-steps per update, or a function of the
      gradient step count returning it (so the batch size can vary in training).
    use_grad_mean: average the accumulated gradients (else sum them).
    should_skip_update_fn: optional `(updates, gradient_step, params) ->
      (should_skip, skip_state)`; a skipped mini-step leaves the state as if it never
      happened (e.g. `skip_not_finite`, or `functools.partial(skip_large_updates,
      max_squared_norm=...)`).
    accumulator_dtype: dtype of the gradient accumulator (None: that of the params);
      complex params accumulate in the complex type of this precision.

  Returns:
    A named tuple with `init` and `update` (usable as a transformation), plus
    `gradient_transformation()`, `has_updated(state)` and `inner_opt`.

  Reference (the running mean):
    Welford, 1962, "Note on a Method for Calculating Corrected Sums of Squares and Products",
    https://doi.org/10.1080/00401706.1962.10490022

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> ms = fo.MultiSteps(fo.scale(-1.0), every_k_schedule=2)
    >>> state = ms.init(jnp.zeros(1))
    >>> first, state = ms.update(jnp.array([1.0]), state)
    >>> second, state = ms.update(jnp.array([3.0]), state)
    >>> first, second, ms.has_updated(state)
    (Array([-0.], dtype=float32), Array([-2.], dtype=float32), Array(True, dtype=bool))
  """
  opt = with_extra_args_support(opt)
  if callable(every_k_schedule):
    every_k = every_k_schedule
  else:
    if isinstance(every_k_schedule, numbers.Number):
      check_positive_int("every_k_schedule", every_k_schedule)
    every_k = lambda step: every_k_schedule
  should_skip_update_fn = should_skip_update_fn or _never_skip
  if accumulator_dtype is not None:
    accumulator_dtype = jax.dtypes.canonicalize_dtype(accumulator_dtype)

  if use_grad_mean:
    # Welford's running mean, numerically stabler than summing then dividing.
    accumulate = lambda grad, acc, n_acc: acc + (grad - acc) / (n_acc + 1)
  else:
    accumulate = lambda grad, acc, n_acc: grad + acc

  def init_fn(params):
    gradient_step = jnp.zeros([], jnp.int32)
    _, skip_state = should_skip_update_fn(tree_lib.zeros_like(params), gradient_step, params)
    return MultiStepsState(
        mini_step=jnp.zeros([], jnp.int32),
        gradient_step=gradient_step,
        inner_opt_state=opt.init(params),
        acc_grads=_accumulator_like(params, accumulator_dtype),
        skip_state=skip_state,
    )

  def accumulate_and_maybe_update(updates, state, params, extra_args, k_steps, skip_state):
    acc_grads = jax.tree.map(
        lambda g, acc: accumulate(g, acc, state.mini_step), updates, state.acc_grads
    )
    # `opt` runs at every mini-step; its results are kept only when emitting.
    final_updates, new_inner_state = opt.update(
        tree_lib.cast_like(acc_grads, updates), state.inner_opt_state, params, **extra_args
    )
    emit = state.mini_step == (k_steps - 1)
    new_state = MultiStepsState(
        mini_step=safe_increment(state.mini_step) % k_steps,
        gradient_step=emit * safe_increment(state.gradient_step)
        + (1 - emit) * state.gradient_step,
        inner_opt_state=jax.tree.map(
            lambda old, new: jnp.where(emit, new, old).astype(old.dtype),
            state.inner_opt_state,
            new_inner_state,
        ),
        acc_grads=tree_lib.cast_like(
            jax.tree.map(lambda acc: (1 - emit) * acc, acc_grads), state.acc_grads
        ),
        skip_state=skip_state,
    )
    return jax.tree.map(lambda u: emit * u, final_updates), new_state

  def skip(updates, state, params, extra_args, skip_state):
    # Zeros shaped like what `opt.update` would return, without running it.
    shapes, _ = jax.eval_shape(
        lambda u, s, p: opt.update(u, s, p, **extra_args),
        tree_lib.cast_like(state.acc_grads, updates),
        state.inner_opt_state,
        params,
    )
    return tree_lib.zeros_like(shapes), state._replace(skip_state=skip_state)

  def update_fn(updates, state, params=None, **extra_args):
    k_steps = every_k(state.gradient_step)
    should_skip, skip_state = should_skip_update_fn(updates, state.gradient_step, params)
    if (should_skip.dtype, should_skip.shape) != (jnp.bool_, ()):
      raise ValueError(
          "should_skip_update_fn must return a boolean scalar, got dtype "
          f"{should_skip.dtype} and shape {should_skip.shape}"
      )
    return jax.lax.cond(
        should_skip,
        lambda: skip(updates, state, params, extra_args, skip_state),
        lambda: accumulate_and_maybe_update(
            updates, state, params, extra_args, k_steps, skip_state
        ),
    )

  return MultiStepsTransformation(
      init=init_fn,
      update=update_fn,
      gradient_transformation=lambda: GradientTransformationExtraArgs(init_fn, update_fn),
      has_updated=_has_updated,
      inner_opt=opt,
  )
