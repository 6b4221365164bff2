"""Line searches: backtracking (Armijo) and zoom (strong Wolfe).

Both are `GradientTransformationExtraArgs` whose `update` takes, besides the usual
arguments, `value` and `grad` (the objective's value and gradient at `params`) and
`value_fn` (the objective); further keyword arguments are passed on to `value_fn`.
They evaluate `value_fn` along the update direction, scale the updates by the step
size found, and keep the last value (and gradient) in their state so that
`value_and_grad_from_state` can reuse them at the next step.
"""

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformationExtraArgs
from ._base import OptState
from ._base import Params
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from ._checks import check_positive
from ._numerics import safe_increment

__all__ = [
    "ScaleByBacktrackingLinesearchState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "scale_by_backtracking_linesearch",
    "scale_by_zoom_linesearch",
    "value_and_grad_from_state",
]

# Diagnostics printed with `verbose=True` (same wording as optax, whose tests look for them).
FLAG_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. "
    "Consider increasing maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = (
    "Returning stepsize with sufficient decrease but curvature condition not satisfied."
)
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = (
    "The linesearch failed because the provided direction is not a descent direction. "
)


# ----------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------


def _real_dtype(params: Params) -> jnp.dtype:
  """The real dtype of the first leaf (float32 for complex64, etc.)."""
  return jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype


def _value_fn_kwargs(value_fn: Callable, extra_args: dict, transform_name: str) -> dict:
  """The extra arguments, checked to be named parameters of `value_fn`."""
  accepted = inspect.signature(value_fn).parameters
  unexpected = sorted(k for k in extra_args if k not in accepted)
  if unexpected:
    raise TypeError(
        f"Unexpected keyword arguments passed to `{transform_name}.update`. "
        f"These arguments were not consumed by `value_fn`: {unexpected}. "
        "Ensure that all extra keyword arguments are accepted by `value_fn`."
    )
  return dict(extra_args)


def _cond_print(condition, message: str, **kwargs) -> None:
  """`jax.debug.print(message)` when the traced `condition` holds."""
  jax.lax.cond(
      condition,
      lambda: jax.debug.print(message, **kwargs, ordered=True),
      lambda: None,
  )


def _is_namedtuple(x) -> bool:
  return isinstance(x, tuple) and hasattr(x, "_fields")


def _find_all(tree: Any, key: str) -> list:
  """Every value in `tree` under `key`: a dict key, NamedTuple field or NamedTuple name."""
  found = []
  if _is_namedtuple(tree):
    if type(tree).__name__ == key:
      found.append(tree)
    elif key in tree._fields:
      found.append(getattr(tree, key))
  elif isinstance(tree, dict) and key in tree:
    found.append(tree[key])
  children = jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is not tree)
  if not (len(children) == 1 and children[0] is tree):  # `tree` is not a leaf
    for child in children:
      found.extend(_find_all(child, key))
  return found


def _get_from_state(state: OptState, key: str) -> Any:
  """The unique value under `key` in `state` (None if absent; KeyError if several)."""
  found = _find_all(state, key)
  if len(found) > 1:
    raise KeyError(f"Found multiple values for '{key}' in {state}.")
  return found[0] if found else None


def value_and_grad_from_state(
    value_fn: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., tuple[jax.typing.ArrayLike, Updates]]:
  """Like `jax.value_and_grad(value_fn)`, but reuses the value and gradient in a state.

  Line searches evaluate the objective (and its gradient) at the point they accept;
  for a deterministic objective, those are the value and gradient at the next
  iterate. The returned function `f(params, *args, state=state, **kwargs)` fetches
  the unique `value` and `grad` stored in `state` and returns them, unless the
  value is infinite or NaN (as in a freshly initialized state), in which case it
  computes `jax.value_and_grad(value_fn)(params, *args, **kwargs)`.

  Args:
    value_fn: the scalar objective, differentiable with `jax.value_and_grad`.

  Returns:
    `f(params, *args, state, **kwargs) -> (value, grad)`. It raises `ValueError` if
    the state has no value or no gradient (e.g. a backtracking line search without
    `store_grad`), and `KeyError` if it has several.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> def f(x): return jnp.sum(x ** 2)
    >>> solver = fo.scale_by_backtracking_linesearch(
    ...     max_backtracking_steps=15, store_grad=True)
    >>> value_and_grad = fo.value_and_grad_from_state(f)
    >>> params = jnp.array([1., 2., 3.])
    >>> state = solver.init(params)
    >>> for _ in range(3):
    ...   value, grad = value_and_grad(params, state=state)
    ...   updates, state = solver.update(
    ...       -grad, state, params, value=value, grad=grad, value_fn=f)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(params):.2E}")
    5.04E+00
    1.81E+00
    6.53E-01

  References:
    `optax.value_and_grad_from_state`,
    https://optax.readthedocs.io/en/latest/api/utilities.html;
    Nocedal and Wright, 2006, "Numerical Optimization" (2nd ed., chapter 3),
    https://doi.org/10.1007/978-0-387-40065-5
  """

  def value_and_grad(params, *fn_args, state, **fn_kwargs):
    value = _get_from_state(state, "value")
    grad = _get_from_state(state, "grad")
    if value is None or grad is None:
      raise ValueError(
          "Value or gradient not found in the state. Make sure that these values "
          "are stored in the state by the optimizer."
      )
    return jax.lax.cond(
        (~jnp.isinf(value)) & (~jnp.isnan(value)),
        lambda *_: (value, grad),
        lambda p, args, kwargs: jax.value_and_grad(value_fn)(p, *args, **kwargs),
        params,
        fn_args,
        fn_kwargs,
    )

  return value_and_grad


# ----------------------------------------------------------------------------
# Backtracking line search
# ----------------------------------------------------------------------------


class BacktrackingLinesearchInfo(NamedTuple):
  """Diagnostics of the last round of `scale_by_backtracking_linesearch`."""

  num_linesearch_steps: jax.Array  # shape=(), int32: values computed in the last round
  decrease_error: jax.Array  # shape=(), real dtype of params: > 0 if the Armijo test failed


class ScaleByBacktrackingLinesearchState(NamedTuple):
  """State of `scale_by_backtracking_linesearch`."""

  learning_rate: jax.Array  # shape=(), real dtype of params: the step size last accepted
  value: jax.Array  # shape=(), real dtype of params: objective at the accepted point
  grad: Optional[Updates]  # like params: gradient at the accepted point (None unless store_grad)
  info: BacktrackingLinesearchInfo


class _BacktrackingSearch(NamedTuple):
  """Carry of the backtracking loop."""

  learning_rate: jax.Array  # shape=(): the candidate step size
  new_value: jax.Array  # shape=(): objective at the candidate
  new_grad: Optional[Updates]  # like params (store_grad only): gradient at the accepted point
  decrease_error: jax.Array  # shape=(): violation of the sufficient decrease criterion
  iter_num: jax.Array  # shape=(), int32: candidates tried


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    atol: jax.typing.ArrayLike = 0.0,
    rtol: jax.typing.ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
  r"""Backtracking line search for a step size with sufficient decrease (Armijo).

  Finds a learning rate `eta` such that, for parameters `w`, update direction `u`
  and objective `f`,
  `f(w + eta u) <= (1 + rtol) f(w) + eta * slope_rtol * <u, grad f(w)> + atol`.
  It starts from `min(increase_factor * previous eta, max_learning_rate)` and
  multiplies the candidate by `decrease_factor` until the criterion holds or
  `max_backtracking_steps` is reached; if the last candidate still gives an
  infinite or NaN value, no step is taken (the step size is 0). The updates must
  be a descent direction (`<u, grad f(w)> < 0`), e.g. the output of `sgd`.

  For complex parameters, `grad` is the conjugate of `jax.grad`, as for
  `scale_by_zoom_linesearch` and `lbfgs`. (optax computes the slope as
  `real(vdot(u, conj(grad)))`, which is not the directional derivative under that
  convention; we use `real(vdot(u, grad))`, so complex results differ from optax.)

  Args:
    max_backtracking_steps: maximum number of decreases of the step size.
    slope_rtol: fraction `c` of the linear decrease required (Armijo constant).
    decrease_factor: factor in (0, 1) applied to the step size at each trial.
    increase_factor: factor (>= 1) applied to the previous step size to make the
      first guess of a round; `math.inf` always starts at `max_learning_rate`.
    max_learning_rate: largest step size tried.
    atol: absolute tolerance of the criterion.
    rtol: relative tolerance of the criterion (on `f(w)`).
    store_grad: also compute and store the gradient at the accepted point, for
      reuse with `value_and_grad_from_state`.
    verbose: print diagnostics (with `jax.debug.print`) when the search fails.

  Returns:
    A `GradientTransformationExtraArgs` whose `update` takes `value`, `grad`,
    `value_fn` and the extra keyword arguments of `value_fn`.

  References:
    Vaswani et al., Painless Stochastic Gradient, 2019, https://arxiv.org/abs/1905.09997

    Nocedal & Wright, Numerical Optimization, 1999,
    https://doi.org/10.1007/978-0-387-40065-5

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> def f(x): return jnp.sum(x ** 2)
    >>> solver = fo.scale_by_backtracking_linesearch(max_backtracking_steps=15)
    >>> params = jnp.array([1., 2., 3.])
    >>> state = solver.init(params)
    >>> value, grad = jax.value_and_grad(f)(params)
    >>> updates, state = solver.update(
    ...     -grad, state, params, value=value, grad=grad, value_fn=f)
    >>> print(f"{f(fo.apply_updates(params, updates)):.2E}")
    5.04E+00
  """
  check_non_negative("max_backtracking_steps", max_backtracking_steps)
  check_in_range("slope_rtol", slope_rtol, 0.0, 1.0)
  check_in_range("decrease_factor", decrease_factor, 0.0, 1.0, low_inclusive=False)
  check_in_range("increase_factor", increase_factor, 1.0, float("inf"), high_inclusive=True)
  check_positive("max_learning_rate", max_learning_rate)
  check_non_negative("atol", atol)
  check_non_negative("rtol", rtol)

  def init_fn(params):
    val_dtype = _real_dtype(params)
    return ScaleByBacktrackingLinesearchState(
        learning_rate=jnp.array(1.0, dtype=val_dtype),
        value=jnp.array(jnp.inf, dtype=val_dtype),
        grad=tree_lib.zeros_like(params) if store_grad else None,
        info=BacktrackingLinesearchInfo(
            num_linesearch_steps=jnp.asarray(0),
            decrease_error=jnp.array(jnp.inf, dtype=val_dtype),
        ),
    )

  def decrease_error_at(stepsize, slope, value, new_value):
    error = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
    error = jnp.where(jnp.isnan(error), jnp.inf, error)
    return jnp.maximum(error, 0.0)

  def update_fn(updates, state, params, *, value, grad, value_fn, **extra_args):
    fn_kwargs = _value_fn_kwargs(value_fn, extra_args, "scale_by_backtracking_linesearch")
    objective = functools.partial(value_fn, **fn_kwargs)
    # Slope of eta -> f(params + eta * updates) at 0; negative for a descent direction.
    # Deviation: optax takes real(vdot(updates, conj(grad))), which is wrong for
    # complex params given the gradient convention (conjugate of jax.grad) that
    # descent, L-BFGS and the zoom line search need; this is the zoom's formula.
    slope = tree_lib.real(tree_lib.vdot(updates, grad))

    def not_done(search):
      return (~(search.decrease_error <= atol)) & (search.iter_num <= max_backtracking_steps)

    def try_next(search):
      # The first candidate is the initial guess itself.
      learning_rate = jnp.where(
          search.iter_num > 0, decrease_factor * search.learning_rate, search.learning_rate
      )
      new_params = tree_lib.add_scale(params, learning_rate, updates)
      new_grad = search.new_grad
      if store_grad:
        # Linearize once, so the gradient (a transposed jvp) is only computed
        # for the candidate that ends the search. The cotangent has the value's
        # dtype (optax's Python 1.0 fails for bfloat16 objectives).
        new_value, jvp_fn = jax.linearize(objective, new_params)
        decrease_error = decrease_error_at(learning_rate, slope, value, new_value)
        new_grad = jax.lax.cond(
            (decrease_error <= atol) | (search.iter_num == max_backtracking_steps),
            lambda p: jax.linear_transpose(jvp_fn, p)(jnp.ones_like(new_value))[0],
            lambda *_: new_grad,
            new_params,
        )
      else:
        new_value = objective(new_params)
        decrease_error = decrease_error_at(learning_rate, slope, value, new_value)
      new_search = _BacktrackingSearch(
          learning_rate=learning_rate,
          new_value=new_value,
          new_grad=new_grad,
          decrease_error=decrease_error,
          iter_num=search.iter_num + 1,
      )
      return tree_lib.cast_like(new_search, search)

    search = jax.lax.while_loop(
        not_done,
        try_next,
        _BacktrackingSearch(
            learning_rate=jnp.minimum(increase_factor * state.learning_rate, max_learning_rate),
            new_value=value,
            new_grad=tree_lib.zeros_like(params) if store_grad else None,
            decrease_error=jnp.array(jnp.inf),
            iter_num=0,
        ),
    )
    # Infinite error: every candidate gave inf/NaN values, so make no step.
    learning_rate = jnp.where(jnp.isinf(search.decrease_error), 0.0, search.learning_rate)
    if verbose:
      _cond_print(
          search.decrease_error > atol,
          "INFO: functional_optim.scale_by_backtracking_linesearch:\n"
          "Backtracking linesearch failed to find a stepsize ensuring sufficent"
          " decrease.\n"
          "Value at current params: {value},\n"
          "Slope along update direction: {slope}\n"
          "Stepsize: {stepsize}\n"
          "Decrease Error: {decrease_error}",
          stepsize=search.learning_rate,
          decrease_error=search.decrease_error,
          value=value,
          slope=slope,
      )
      _cond_print(
          jnp.isinf(search.decrease_error),
          "Using a stepsize of 0 to avoid infinite or nan values.",
      )
    new_state = ScaleByBacktrackingLinesearchState(
        learning_rate=learning_rate,
        value=search.new_value,
        grad=search.new_grad,
        info=BacktrackingLinesearchInfo(
            num_linesearch_steps=search.iter_num,
            decrease_error=search.decrease_error,
        ),
    )
    return tree_lib.scale(learning_rate, updates), tree_lib.cast_like(new_state, state)

  return GradientTransformationExtraArgs(init_fn, update_fn)


# ----------------------------------------------------------------------------
# Zoom line search
# ----------------------------------------------------------------------------


class ZoomLinesearchInfo(NamedTuple):
  """Diagnostics of the last round of `scale_by_zoom_linesearch`.

  A positive curvature error is benign (e.g. a too small `max_learning_rate`); a
  positive decrease error means the objective may not decrease monotonically.
  """

  num_linesearch_steps: jax.Array  # shape=(), int32: iterations of the last round
  decrease_error: jax.Array  # shape=(), float32: > 0 if sufficient decrease failed
  curvature_error: jax.Array  # shape=(), float32: > 0 if small curvature failed


class ScaleByZoomLinesearchState(NamedTuple):
  """State of `scale_by_zoom_linesearch`."""

  learning_rate: jax.Array  # shape=(), real dtype of params: the step size last accepted
  value: jax.Array  # shape=(), real dtype of params: objective at the accepted point
  grad: Updates  # like params: `jax.grad` of the objective at the accepted point
  info: ZoomLinesearchInfo


class _ZoomHyperparams(NamedTuple):
  """The zoom line search's settings (plain numbers or traced scalars)."""

  max_linesearch_steps: Any
  max_stepsize: Any  # None for no bound
  tol: Any
  increase_factor: Any
  slope_rtol: Any
  curv_rtol: Any
  approx_dec_rtol: Any  # None for the plain Armijo criterion
  interval_threshold: Any
  verbose: bool


class _Line(NamedTuple):
  """What stays fixed during one round of the search."""

  evaluate: Callable  # stepsize -> (value, grad, slope) at params + stepsize * updates
  value_init: jax.Array  # objective at stepsize 0
  slope_init: jax.Array  # slope at stepsize 0
  stepsize_guess: jax.Array  # first stepsize tried


class _ZoomSearch(NamedTuple):
  """Carry of the zoom loop. All fields are scalars except the gradients.

  `low` and `high` bracket a point satisfying both criteria; "low" is the end
  with the lower value, not necessarily the smaller stepsize.
  """

  count: jax.Array  # int32: iterations done
  stepsize: jax.Array  # the last stepsize tried
  value: jax.Array  # objective there
  grad: Updates  # gradient there (like params)
  slope: jax.Array  # slope along the direction there
  decrease_error: jax.Array  # violation of the sufficient decrease criterion there
  curvature_error: jax.Array  # violation of the small curvature criterion there
  interval_found: jax.Array  # bool: the bracketing phase is over
  done: jax.Array  # bool: both criteria hold at `stepsize`
  failed: jax.Array  # bool: out of iterations, or the bracket is too small
  low: jax.Array
  value_low: jax.Array
  slope_low: jax.Array
  high: jax.Array
  value_high: jax.Array
  slope_high: jax.Array
  cubic_ref: jax.Array  # a third point for cubic interpolation
  value_cubic_ref: jax.Array
  safe_stepsize: jax.Array  # best stepsize seen with sufficient decrease (0 if none)
  safe_value: jax.Array
  safe_grad: Updates


def _cubicmin(a, fa, fpa, b, fb, c, fc):
  """Critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a.

  May be NaN (negative radical); callers then discard it. As in scipy.optimize.
  """
  C = fpa  # noqa: N806 (polynomial coefficients)
  db = b - a
  dc = c - a
  denom = (db * dc) ** 2 * (db - dc)
  d1 = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
  A, B = (  # noqa: N806
      jnp.dot(
          d1,
          jnp.array([fb - fa - C * db, fc - fa - C * dc]),
          precision=jax.lax.Precision.HIGHEST,
      )
      / denom
  )
  radical = B * B - 3.0 * A * C
  return a + (-B + jnp.sqrt(radical)) / (3.0 * A)


def _quadmin(a, fa, fpa, b, fb):
  """Critical point of the parabola through (a, fa), (b, fb) with slope fpa at a."""
  db = b - a
  B = (fb - fa - fpa * db) / (db**2)  # noqa: N806
  return a - fpa / (2.0 * B)


def _zoom_decrease_error(stepsize, value_step, slope_step, line: _Line, hp: _ZoomHyperparams):
  """Violation (>= 0, inf for NaN) of the sufficient decrease criterion."""
  # Armijo: Nocedal & Wright, eq. (3.7a).
  error = value_step - line.value_init - hp.slope_rtol * stepsize * line.slope_init
  if hp.approx_dec_rtol is not None:
    # Hager & Zhang's approximate criterion (their eq. (23)), which resolves
    # differences below sqrt(machine eps); only used close to a minimizer, i.e.
    # where the value did not rise by more than approx_dec_rtol * |f(w)|.
    approx_error = slope_step - (2 * hp.slope_rtol - 1.0) * line.slope_init
    delta_values = value_step - line.value_init - hp.approx_dec_rtol * jnp.abs(line.value_init)
    error = jnp.minimum(jnp.maximum(approx_error, delta_values), error)
  error = jnp.maximum(error, 0.0)
  return jnp.where(jnp.isnan(error), jnp.inf, error)


def _zoom_curvature_error(slope_step, line: _Line, hp: _ZoomHyperparams):
  """Violation (>= 0, inf for NaN) of the small curvature criterion, N&W eq. (3.7b)."""
  error = jnp.abs(slope_step) - hp.curv_rtol * jnp.abs(line.slope_init)
  error = jnp.maximum(error, 0.0)
  return jnp.where(jnp.isnan(error), jnp.inf, error)


def _init_zoom_search(line: _Line, value, grad, val_dtype) -> _ZoomSearch:
  """The search state at stepsize 0."""
  return _ZoomSearch(
      count=jnp.asarray(0),
      stepsize=jnp.asarray(0.0, dtype=val_dtype),
      value=jnp.array(value, dtype=val_dtype),
      grad=grad,
      slope=line.slope_init,
      decrease_error=jnp.asarray(jnp.inf),
      curvature_error=jnp.asarray(jnp.inf),
      interval_found=jnp.asarray(False),
      done=jnp.asarray(False),
      failed=jnp.asarray(False),
      low=jnp.asarray(0.0),
      value_low=value,
      slope_low=line.slope_init,
      high=jnp.asarray(0.0),
      value_high=value,
      slope_high=line.slope_init,
      cubic_ref=jnp.asarray(0.0),
      value_cubic_ref=value,
      safe_stepsize=jnp.asarray(0.0),
      safe_value=value,
      safe_grad=grad,
  )


def _search_interval(state: _ZoomSearch, line: _Line, hp: _ZoomHyperparams) -> _ZoomSearch:
  """Phase 1: grow the stepsize until it brackets a good one (N&W Algorithm 3.5)."""
  prev_stepsize, prev_value, prev_slope = state.stepsize, state.value, state.slope

  new_stepsize = jnp.where(
      state.count == 0, line.stepsize_guess, hp.increase_factor * prev_stepsize
  )
  if hp.max_stepsize is not None:
    max_stepsize_reached = new_stepsize >= hp.max_stepsize
    new_stepsize = jnp.minimum(new_stepsize, hp.max_stepsize)
  else:
    max_stepsize_reached = jnp.asarray(False)

  new_value, new_grad, new_slope = line.evaluate(new_stepsize)
  decrease_error = _zoom_decrease_error(new_stepsize, new_value, new_slope, line, hp)
  curvature_error = _zoom_curvature_error(new_slope, line, hp)
  new_error = jnp.maximum(decrease_error, curvature_error)

  # Keep the point if it decreases enough, in case curvature is never satisfied.
  safe_stepsize, safe_value, safe_grad = tree_lib.where(
      decrease_error <= hp.tol,
      [new_stepsize, new_value, new_grad],
      [state.safe_stepsize, state.safe_value, state.safe_grad],
  )

  # Bracketing rules of Algorithm 3.5: by default [low, high] = [prev, new].
  set_high_to_new = (decrease_error > 0.0) | ((new_value >= prev_value) & (state.count > 0))
  set_low_to_new = (new_slope >= 0.0) & (~set_high_to_new)
  low, value_low, slope_low, high, value_high, slope_high = tree_lib.where(
      set_low_to_new,
      [new_stepsize, new_value, new_slope, prev_stepsize, prev_value, prev_slope],
      [prev_stepsize, prev_value, prev_slope, new_stepsize, new_value, new_slope],
  )
  interval_found = set_high_to_new | set_low_to_new | (new_error <= hp.tol)

  # Reaching the maximal stepsize without a bracket means that it decreases the
  # objective but the curvature criterion could only hold further away: accept it.
  no_interval_below_max = max_stepsize_reached & ~interval_found
  done = (new_error <= hp.tol) | no_interval_below_max
  if hp.verbose:
    _cond_print(
        no_interval_below_max,
        "INFO: functional_optim.scale_by_zoom_linesearch:\n"
        "Value at current params: {value_init}\n"
        "Slope along update direction: {slope_init}\n"
        "Stepsize reached: {stepsize}\n"
        "Decrease Error: {decrease_error}\n"
        "Curvature Error: {curvature_error}"
        + FLAG_INTERVAL_NOT_FOUND
        + "\n"
        + FLAG_CURVATURE_COND_NOT_SATISFIED,
        value_init=line.value_init,
        slope_init=line.slope_init,
        stepsize=new_stepsize,
        decrease_error=decrease_error,
        curvature_error=curvature_error,
    )
  failed = (state.count + 1 >= hp.max_linesearch_steps) & (~done)

  new_state = _ZoomSearch(
      count=safe_increment(state.count),
      stepsize=new_stepsize,
      value=new_value,
      grad=new_grad,
      slope=new_slope,
      decrease_error=decrease_error,
      curvature_error=curvature_error,
      interval_found=jnp.asarray(interval_found),
      done=jnp.asarray(done),
      failed=jnp.asarray(failed),
      low=low,
      value_low=value_low,
      slope_low=slope_low,
      high=high,
      value_high=value_high,
      slope_high=slope_high,
      cubic_ref=low,
      value_cubic_ref=value_low,
      safe_stepsize=safe_stepsize,
      safe_value=safe_value,
      safe_grad=safe_grad,
  )
  return tree_lib.cast_like(new_state, state)


def _interpolate(state: _ZoomSearch):
  """Next trial point in the bracket: cubic, else quadratic, else bisection.

  An interpolant is used only if it lands well inside the bracket (at least 20%,
  resp. 10%, of its length away from the ends).
  """
  low, high = state.low, state.high
  delta = jnp.abs(high - low)
  left = jnp.minimum(high, low)
  right = jnp.maximum(high, low)
  cubic_chk = 0.2 * delta
  quad_chk = 0.1 * delta

  middle_cubic = _cubicmin(
      low, state.value_low, state.slope_low, high, state.value_high,
      state.cubic_ref, state.value_cubic_ref,
  )
  use_cubic = (middle_cubic > left + cubic_chk) & (middle_cubic < right - cubic_chk)
  middle_quad = _quadmin(low, state.value_low, state.slope_low, high, state.value_high)
  middle_quad_valid = (middle_quad > left + quad_chk) & (middle_quad < right - quad_chk)
  use_quad = (~use_cubic) & middle_quad_valid
  use_bisection = (~use_cubic) & (~use_quad)

  middle = jnp.where(use_cubic, middle_cubic, state.cubic_ref)
  middle = jnp.where(use_quad, middle_quad, middle)
  return jnp.where(use_bisection, (low + high) / 2.0, middle)


def _zoom_into_interval(state: _ZoomSearch, line: _Line, hp: _ZoomHyperparams) -> _ZoomSearch:
  """Phase 2: shrink the bracket around a good stepsize (N&W Algorithm 3.6)."""
  low, value_low, slope_low = state.low, state.value_low, state.slope_low
  high, value_high, slope_high = state.high, state.value_high, state.slope_high
  # The threshold is well above machine precision so that no iterations are wasted
  # on the curvature criterion once a stepsize decreasing enough is known.
  too_small_int = jnp.abs(high - low) <= hp.interval_threshold

  middle = _interpolate(state)
  value_middle, grad_middle, slope_middle = line.evaluate(middle)
  decrease_error = _zoom_decrease_error(middle, value_middle, slope_middle, line, hp)
  curvature_error = _zoom_curvature_error(slope_middle, line, hp)
  new_error = jnp.maximum(decrease_error, curvature_error)

  # Keep the lowest point that decreases enough, in case curvature is never satisfied.
  update_safe = (decrease_error <= hp.tol) & (value_middle < state.safe_value)
  safe_stepsize, safe_value, safe_grad = tree_lib.where(
      update_safe,
      [middle, value_middle, grad_middle],
      [state.safe_stepsize, state.safe_value, state.safe_grad],
  )
  done = new_error <= hp.tol

  # Bracket update of Algorithm 3.6.
  set_high_to_middle = (decrease_error > 0.0) | (value_middle >= value_low)
  set_high_to_low = (slope_middle * (high - low) >= 0.0) & (~set_high_to_middle)
  set_low_to_middle = ~set_high_to_middle
  middle_point = [middle, value_middle, slope_middle]
  new_high = tree_lib.where(set_high_to_middle, middle_point, [high, value_high, slope_high])
  new_high = tree_lib.where(set_high_to_low, [low, value_low, slope_low], new_high)
  new_low = tree_lib.where(set_low_to_middle, middle_point, [low, value_low, slope_low])
  # The endpoint that was replaced becomes the third point of the next cubic.
  cubic_ref, value_cubic_ref = tree_lib.where(
      set_high_to_middle | set_high_to_low, [high, value_high], [low, value_low]
  )

  # Give up at the iteration limit, or once the bracket is tiny and a step with
  # sufficient decrease is known (without one, keep going: very steep objectives
  # need very small steps).
  max_iter_reached = (state.count + 1) >= hp.max_linesearch_steps
  presumably_failed = jnp.asarray(max_iter_reached) | (too_small_int & (safe_stepsize > 0.0))

  new_state = _ZoomSearch(
      count=safe_increment(state.count),
      stepsize=middle,
      value=value_middle,
      grad=grad_middle,
      slope=slope_middle,
      decrease_error=decrease_error,
      curvature_error=curvature_error,
      interval_found=state.interval_found,
      done=done,
      failed=presumably_failed & ~done,
      low=new_low[0],
      value_low=new_low[1],
      slope_low=new_low[2],
      high=new_high[0],
      value_high=new_high[1],
      slope_high=new_high[2],
      cubic_ref=cubic_ref,
      value_cubic_ref=value_cubic_ref,
      safe_stepsize=safe_stepsize,
      safe_value=safe_value,
      safe_grad=safe_grad,
  )
  return tree_lib.cast_like(new_state, state)


def _print_failure_diagnostic(state: _ZoomSearch, line: _Line) -> None:
  """Explains (with `jax.debug.print`) why no stepsize decreased enough."""
  jax.debug.print(FLAG_NO_STEPSIZE_FOUND)
  is_descent_dir = line.slope_init < 0.0
  _cond_print(
      ~is_descent_dir,
      FLAG_NOT_A_DESCENT_DIRECTION + "The slope (={slope_init}) at stepsize=0 should be negative",
      slope_init=line.slope_init,
  )
  _cond_print(is_descent_dir, "Consider augmenting the maximal number of linesearch iterations.")
  eps = jnp.finfo(jnp.float32).eps
  _cond_print(
      (state.stepsize < eps) & is_descent_dir,
      "Computed stepsize (={stepsize}) is below machine precision (={eps}), "
      "consider passing to higher precision like x64, using "
      "jax.config.update('jax_enable_x64', True).",
      stepsize=state.stepsize,
      eps=eps,
  )
  abs_slope_init = jnp.abs(line.slope_init)
  _cond_print(
      (abs_slope_init > 1e16) & is_descent_dir,
      "Very large absolute slope at stepsize=0. (|slope|={abs_slope_init}). "
      "The objective is badly conditioned. Consider reparameterizing objective "
      "(e.g., normalizing parameters) or finding a better guess for the initial "
      "parameters for the solver.",
      abs_slope_init=abs_slope_init,
  )
  outside_domain = jnp.isinf(state.decrease_error)
  _cond_print(
      outside_domain,
      "Cannot even make a step without getting Inf or Nan. "
      "The linesearch won't make a step and the optimizer is stuck.",
  )
  _cond_print(
      ~outside_domain,
      "Making an unsafe step, not decreasing enough the objective. "
      "Convergence of the solver is compromised as it does not reduce values.",
  )


def _fall_back_to_safe_step(state: _ZoomSearch, line: _Line, hp: _ZoomHyperparams) -> _ZoomSearch:
  """On failure, return the best stepsize with sufficient decrease, if any."""
  outside_domain = jnp.isinf(state.decrease_error)
  stepsize, value, grad = tree_lib.where(
      (state.safe_stepsize > 0.0) | outside_domain,
      [state.safe_stepsize, state.safe_value, state.safe_grad],
      [state.stepsize, state.value, state.grad],
  )
  if hp.verbose:
    jax.debug.print(
        "INFO: functional_optim.scale_by_zoom_linesearch:\n"
        "Value at current params: {value_init}\n"
        "Slope along update direction: {slope_init}\n"
        "Stepsize reached: {stepsize}\n"
        "Decrease Error: {decrease_error}\n"
        "Curvature Error: {curvature_error}",
        value_init=line.value_init,
        slope_init=line.slope_init,
        stepsize=state.stepsize,
        decrease_error=state.decrease_error,
        curvature_error=state.curvature_error,
        ordered=True,
    )
    interval_length = jnp.abs(state.low - state.high)
    _cond_print(
        interval_length <= hp.interval_threshold,
        FLAG_INTERVAL_TOO_SMALL + " Interval length: {interval_length}.",
        interval_length=interval_length,
    )
    jax.lax.cond(
        state.safe_stepsize > 0.0,
        lambda: jax.debug.print(
            FLAG_CURVATURE_COND_NOT_SATISFIED
            + " Stepsize ensuring sufficient decrease: {safe_stepsize}.",
            safe_stepsize=state.safe_stepsize,
        ),
        lambda: _print_failure_diagnostic(state, line),
    )
  final_state = state._replace(stepsize=stepsize, value=value, grad=grad)
  return tree_lib.cast_like(final_state, state)


def _zoom_step(state: _ZoomSearch, line: _Line, hp: _ZoomHyperparams) -> _ZoomSearch:
  """One iteration: bracketing until an interval is found, then zooming."""
  new_state = jax.lax.cond(
      state.interval_found,
      functools.partial(_zoom_into_interval, line=line, hp=hp),
      functools.partial(_search_interval, line=line, hp=hp),
      state,
  )
  new_state = jax.lax.cond(
      new_state.failed,
      functools.partial(_fall_back_to_safe_step, line=line, hp=hp),
      lambda s: s,
      new_state,
  )
  return tree_lib.cast_like(new_state, state)


def _zoom_not_finished(state: _ZoomSearch) -> jax.Array:
  return ~(state.done | state.failed)


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: Optional[jax.typing.ArrayLike] = None,
    tol: jax.typing.ArrayLike = 0.0,
    increase_factor: jax.typing.ArrayLike = 2.0,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    approx_dec_rtol: Optional[jax.typing.ArrayLike] = 1e-6,
    stepsize_precision: jax.typing.ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformationExtraArgs:
  r"""Line search for a step size with sufficient decrease and small curvature.

  Finds a learning rate `eta` satisfying, for parameters `w`, update direction `u`
  and objective `f`, the strong Wolfe conditions
  `f(w + eta u) <= f(w) + slope_rtol * eta * <u, grad f(w)> + tol` (sufficient
  decrease) and `|<grad f(w + eta u), u>| <= curv_rtol * |<grad f(w), u>| + tol`
  (small curvature). Close to a minimizer, where
  `f(w + eta u) <= f(w) + approx_dec_rtol * |f(w)|`, sufficient decrease may
  instead be met by Hager and Zhang's approximate criterion
  `<grad f(w + eta u), u> <= (2 slope_rtol - 1) <grad f(w), u>`, which resolves
  differences down to machine precision rather than its square root.

  The search first grows the stepsize by `increase_factor` until an interval
  containing a good stepsize is bracketed, then shrinks the interval by cubic or
  quadratic interpolation (or bisection). If it fails within
  `max_linesearch_steps`, it returns the best stepsize found with sufficient
  decrease. The stored `grad` is `jax.grad(value_fn)` at the accepted point.

  For complex parameters, pass `grad` as the conjugate of `jax.grad` (conjugate
  what `value_and_grad_from_state` returns).

  Args:
    max_linesearch_steps: maximum number of iterations (objective evaluations).
    max_learning_rate: largest stepsize tried, or None for no bound; a bound may
      prevent satisfying the curvature criterion.
    tol: tolerance on both criteria.
    increase_factor: growth factor of the stepsize while bracketing.
    slope_rtol: Armijo constant of the sufficient decrease criterion.
    curv_rtol: constant of the curvature criterion; `jnp.inf` disables it.
    approx_dec_rtol: relative tolerance of the approximate decrease criterion,
      or None to use the plain Armijo criterion only.
    stepsize_precision: once the bracket is shorter than this and a stepsize with
      sufficient decrease is known, that stepsize is returned.
    initial_guess_strategy: first stepsize tried: `"one"` for 1 (recommended for
      quasi-Newton methods such as L-BFGS) or `"keep"` for the previous stepsize
      (recommended with gradient descent).
    verbose: print diagnostics (with `jax.debug.print`) when the search fails.

  Returns:
    A `GradientTransformationExtraArgs` whose `update` takes `value`, `grad`,
    `value_fn` and the extra keyword arguments of `value_fn`.

  References:
    Nocedal & Wright, Numerical Optimization, Algorithms 3.5 and 3.6, 1999,
    https://doi.org/10.1007/978-0-387-40065-5

    Hager & Zhang, Algorithm 851: CG_DESCENT, a Conjugate Gradient Method with
    Guaranteed Descent, 2006, https://doi.org/10.1145/1132973.1132979

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> def f(x): return jnp.sum(x ** 2)
    >>> solver = fo.scale_by_zoom_linesearch(max_linesearch_steps=15)
    >>> params = jnp.array([1., 2., 3.])
    >>> state = solver.init(params)
    >>> value, grad = fo.value_and_grad_from_state(f)(params, state=state)
    >>> updates, state = solver.update(
    ...     -grad, state, params, value=value, grad=grad, value_fn=f)
    >>> print(f"{f(fo.apply_updates(params, updates)):.2E}")
    0.00E+00
  """
  check_non_negative("max_linesearch_steps", max_linesearch_steps)
  if max_learning_rate is not None:
    check_positive("max_learning_rate", max_learning_rate)
  check_non_negative("tol", tol)
  check_in_range("increase_factor", increase_factor, 1.0, float("inf"), high_inclusive=True)
  check_in_range("slope_rtol", slope_rtol, 0.0, 1.0)
  check_non_negative("curv_rtol", curv_rtol)
  if approx_dec_rtol is not None:
    check_non_negative("approx_dec_rtol", approx_dec_rtol)
  check_non_negative("stepsize_precision", stepsize_precision)
  if initial_guess_strategy not in ("one", "keep"):
    raise ValueError(
        "initial_guess_strategy must be 'one' or 'keep', got "
        f"initial_guess_strategy={initial_guess_strategy!r}"
    )
  hp = _ZoomHyperparams(
      max_linesearch_steps=max_linesearch_steps,
      max_stepsize=max_learning_rate,
      tol=tol,
      increase_factor=increase_factor,
      slope_rtol=slope_rtol,
      curv_rtol=curv_rtol,
      approx_dec_rtol=approx_dec_rtol,
      interval_threshold=stepsize_precision,
      verbose=verbose,
  )

  def init_fn(params):
    val_dtype = _real_dtype(params)
    return ScaleByZoomLinesearchState(
        learning_rate=jnp.asarray(1.0, dtype=val_dtype),
        value=jnp.asarray(jnp.inf, dtype=val_dtype),
        grad=tree_lib.zeros_like(params),
        info=ZoomLinesearchInfo(
            num_linesearch_steps=jnp.asarray(0),
            decrease_error=jnp.asarray(jnp.inf),
            curvature_error=jnp.asarray(jnp.inf),
        ),
    )

  def update_fn(updates, state, params, *, value, grad, value_fn, **extra_args):
    fn_kwargs = _value_fn_kwargs(value_fn, extra_args, "scale_by_zoom_linesearch")
    value_and_grad_fn = jax.value_and_grad(value_fn)

    def evaluate(stepsize):
      value_step, grad_step = value_and_grad_fn(
          tree_lib.add_scale(params, stepsize, updates), **fn_kwargs
      )
      slope_step = tree_lib.real(tree_lib.vdot(tree_lib.conj(grad_step), updates))
      return value_step, grad_step, slope_step

    line = _Line(
        evaluate=evaluate,
        value_init=value,
        slope_init=tree_lib.real(tree_lib.vdot(updates, grad)),
        stepsize_guess=(
            jnp.asarray(1.0) if initial_guess_strategy == "one" else state.learning_rate
        ),
    )
    final = jax.lax.while_loop(
        _zoom_not_finished,
        functools.partial(_zoom_step, line=line, hp=hp),
        _init_zoom_search(line, value, grad, _real_dtype(params)),
    )
    new_state = ScaleByZoomLinesearchState(
        learning_rate=final.stepsize,
        value=final.value,
        grad=final.grad,
        info=ZoomLinesearchInfo(
            num_linesearch_steps=final.count,
            decrease_error=final.decrease_error,
            curvature_error=final.curvature_error,
        ),
    )
    return tree_lib.scale(final.stepsize, updates), tree_lib.cast_like(new_state, state)

  return GradientTransformationExtraArgs(init_fn, update_fn)
