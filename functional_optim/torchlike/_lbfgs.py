"""torch.optim.LBFGS as a pure transformation: one `update` is one torch `step(closure)`.

torch's LBFGS works on one flat vector: the concatenation of all parameters
(complex ones viewed as real pairs). So does this module, with torch's history
lists kept in fixed-size buffers, oldest first, and a count of the rows in use.
The pieces (history update, two-loop recursion, cubic interpolation, strong-Wolfe
line search) follow torch's code path operation for operation. Results agree
with torch's to float32 rounding, not bit for bit: dot products sum in XLA's
order (torch's in its BLAS's), XLA may fuse a multiply and an add that torch
rounds separately, and where torch computes a step length with Python floats
(float64) this module uses float32. L-BFGS can amplify such differences on
ill-conditioned problems, as it amplifies any perturbation of torch's own run.
"""

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import GradientTransformationExtraArgs, NO_PARAMS_MSG, Params, Updates
from .._checks import check_positive_int
from ._checks import check_non_negative

__all__ = ["LBFGS_TORCH_STATE_KEYS", "LBFGSState", "lbfgs"]

# The fields of `LBFGSState` that torch keeps (under its first parameter's state).
LBFGS_TORCH_STATE_KEYS = (
    "func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
    "prev_flat_grad", "prev_loss", "al",
)

# torch's `_strong_wolfe` constants; LBFGS.step does not pass the group's tolerance_change.
_C1, _C2, _LINE_SEARCH_TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9
_BRACKET, _ZOOM, _DONE = 0, 1, 2  # line search phases: what the next evaluation is for


class LBFGSState(NamedTuple):
  """State of `lbfgs`: torch's state (its lists as fixed-size buffers) and the list length.

  `n` is the number of real entries of all parameters; float fields have the
  parameters' (real) dtype. A fresh state has `n_iter == 0`; torch then has no
  `d`, `t`, ... yet, and it has `al` only once `n_iter >= 2`.
  """

  func_evals: jax.Array  # shape=(), int32: objective evaluations, over all steps
  n_iter: jax.Array  # shape=(), int32: iterations, over all steps
  d: jax.Array  # shape=(n,): the last search direction
  t: jax.Array  # shape=(): the last step length
  old_dirs: jax.Array  # shape=(history_size, n): gradient differences y, oldest first
  old_stps: jax.Array  # shape=(history_size, n): steps s, oldest first
  ro: jax.Array  # shape=(history_size,): 1 / (y . s)
  H_diag: jax.Array  # shape=(): scale of the initial inverse Hessian
  prev_flat_grad: jax.Array  # shape=(n,): the gradient at the start of the last iteration
  prev_loss: jax.Array  # shape=(): the loss at the start of the last iteration
  al: jax.Array  # shape=(history_size,): the two-loop coefficients of the last direction
  num_old: jax.Array  # shape=(), int32: rows of old_dirs, old_stps, ro, al in use


# ---- the flat vector -------------------------------------------------------------


def _flat_dtype(leaves):
  return jnp.result_type(*(jnp.finfo(leaf.dtype).dtype for leaf in leaves))


def _flatten(tree) -> jax.Array:
  """torch's `_gather_flat_grad`: every leaf raveled, complex ones as (re, im) pairs."""
  leaves = [jnp.asarray(leaf) for leaf in jax.tree.leaves(tree)]
  dtype = _flat_dtype(leaves)
  pieces = [
      (jnp.stack([x.real, x.imag], -1) if jnp.iscomplexobj(x) else x).reshape(-1).astype(dtype)
      for x in leaves
  ]
  return jnp.concatenate(pieces)


def _unflatten(flat: jax.Array, like):
  leaves, treedef = jax.tree.flatten(like)
  out, offset = [], 0
  for leaf in leaves:
    size = 2 * leaf.size if jnp.iscomplexobj(leaf) else leaf.size
    piece = flat[offset:offset + size]
    offset += size
    if jnp.iscomplexobj(leaf):
      piece = piece.reshape(-1, 2)
      piece = jax.lax.complex(piece[:, 0], piece[:, 1])
    out.append(piece.reshape(leaf.shape).astype(leaf.dtype))
  return treedef.unflatten(out)


def _exact_update(new, old):
  """An update `u` with `old + u == new` (where one of `new - old` and its neighbours has it)."""
  old = jnp.asarray(old)
  u = new - old
  if jnp.iscomplexobj(u):
    return u
  up, down = jnp.nextafter(u, jnp.inf), jnp.nextafter(u, -jnp.inf)
  return jnp.where(old + u == new, u, jnp.where(old + up == new, up, jnp.where(old + down == new, down, u)))


def _abs_max(x):
  return jnp.max(jnp.abs(x))


# ---- the direction -----------------------------------------------------------------


def _push_history(history, y, s, ys, history_size: int):
  """Appends `(y, s, 1 / ys)`, dropping the oldest entry when the history is full."""
  old_dirs, old_stps, ro, num_old = history
  shift = lambda bufs: tuple(jnp.roll(b, -1, axis=0) for b in bufs)
  old_dirs, old_stps, ro = jax.lax.cond(
      num_old == history_size, shift, lambda bufs: bufs, (old_dirs, old_stps, ro)
  )
  row = jnp.minimum(num_old, history_size - 1)
  return (
      old_dirs.at[row].set(y), old_stps.at[row].set(s), ro.at[row].set(1.0 / ys),
      jnp.minimum(num_old + 1, history_size),
  )


def _two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, al, num_old):
  """The L-BFGS direction `-H g` and the coefficients `al`, as torch computes them."""

  def backward(k, carry):
    q, al = carry
    i = num_old - 1 - k
    a = jnp.dot(old_stps[i], q) * ro[i]
    return q + (-a) * old_dirs[i], al.at[i].set(a)

  q, al = jax.lax.fori_loop(0, num_old, backward, (-flat_grad, al))

  def forward(i, r):
    be_i = jnp.dot(old_dirs[i], r) * ro[i]
    return r + (al[i] - be_i) * old_stps[i]

  return jax.lax.fori_loop(0, num_old, forward, q * H_diag), al


def _direction(state: LBFGSState, flat_grad, history_size: int):
  """torch's "compute gradient descent direction" block, for an iteration after the first."""
  y = flat_grad - state.prev_flat_grad
  s = state.d * state.t
  ys = jnp.dot(y, s)
  history = (state.old_dirs, state.old_stps, state.ro, state.num_old)
  history, H_diag = jax.lax.cond(
      ys > 1e-10,
      lambda: (_push_history(history, y, s, ys, history_size), ys / jnp.dot(y, y)),
      lambda: (history, state.H_diag),
  )
  old_dirs, old_stps, ro, num_old = history
  d, al = _two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, state.al, num_old)
  return state._replace(
      d=d, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag, al=al, num_old=num_old
  )


# ---- the line search ------------------------------------------------------------------


def _py_max(a, b):
  """Python's `max(a, b)`: `a` unless `b > a` (so NaN in `a` survives)."""
  return jnp.where(b > a, b, a)


def _py_min(a, b):
  return jnp.where(b < a, b, a)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
  """torch's `_cubic_interpolate`: the minimizer of the cubic through two points."""
  if bounds is None:
    xmin_bound, xmax_bound = jnp.minimum(x1, x2), jnp.maximum(x1, x2)
  else:
    xmin_bound, xmax_bound = bounds
  d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  d2_square = d1**2 - g1 * g2
  d2 = jnp.sqrt(jnp.maximum(d2_square, 0))
  min_pos = jnp.where(
      x1 <= x2,
      x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
      x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
  )
  return jnp.where(
      d2_square >= 0,
      _py_min(_py_max(min_pos, xmin_bound), xmax_bound),
      (xmin_bound + xmax_bound) / 2.0,
  )


def _zoom_point(bracket, bracket_f, bracket_gtd, insuf_progress):
  """The zoom phase's next trial point, and whether it was too close to an end of the bracket.

  Too close (within 10% of the bracket) twice in a row, or outside the bracket,
  the point moves to 10% inside.
  """
  b_max, b_min = _py_max(bracket[0], bracket[1]), _py_min(bracket[0], bracket[1])
  t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
  eps = 0.1 * (b_max - b_min)
  near_end = _py_min(b_max - t, t - b_min) < eps
  move = near_end & (insuf_progress | (t >= b_max) | (t <= b_min))
  moved = jnp.where(jnp.abs(t - b_max) < jnp.abs(t - b_min), b_max - eps, b_min + eps)
  return jnp.where(move, moved, t), near_end & ~move


class _Search(NamedTuple):
  """The carry of the line search loop."""

  t: jax.Array  # the next point to evaluate
  phase: jax.Array  # _BRACKET, _ZOOM or _DONE
  evals: jax.Array  # evaluations so far; torch's ls_iter is evals - 1
  t_prev: jax.Array
  f_prev: jax.Array
  g_prev: jax.Array
  gtd_prev: jax.Array
  bracket: jax.Array  # shape=(2,)
  bracket_f: jax.Array  # shape=(2,)
  bracket_g: jax.Array  # shape=(2, n)
  bracket_gtd: jax.Array  # shape=(2,)
  low: jax.Array  # index of the bracket's lower point
  insuf_progress: jax.Array
  done: jax.Array


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls):
  """torch's `_strong_wolfe` as one loop with one evaluation per iteration.

  Args:
    evaluate: `t -> (f, g)`, the objective and flat gradient at `x + t * d`.
    t, d, f, g, gtd: initial step, direction, loss, gradient, `g . d`.
    max_ls: the evaluation budget (torch's `max_ls`).

  Returns:
    `(f_new, g_new, t, evals)`.
  """
  d_norm = _abs_max(d)
  zero = jnp.zeros((), f.dtype)
  pair = lambda a, b: jnp.stack([a, b])

  def armijo_fails(t, f_new):
    return f_new > f + _C1 * t * gtd

  def after_bracketing_eval(s: _Search, f_new, g_new, gtd_new):
    ls_iter = s.evals - 1
    out_of_evals = ls_iter >= max_ls
    no_decrease = armijo_fails(s.t, f_new) | ((ls_iter > 1) & (f_new >= s.f_prev))
    wolfe = jnp.abs(gtd_new) <= -_C2 * gtd
    found = ~out_of_evals & ~no_decrease & wolfe
    bracketed = ~out_of_evals & (no_decrease | (~wolfe & (gtd_new >= 0)))
    # The bracket: [0, t] out of evaluations, [t] (twice) when found, else [t_prev, t].
    choose = lambda if_out, if_found, otherwise: jnp.where(
        out_of_evals, if_out, jnp.where(found, if_found, otherwise))
    bracket_f = choose(pair(f, f_new), pair(f_new, f_new), pair(s.f_prev, f_new))
    stop = out_of_evals | bracketed | found
    min_step = s.t + 0.01 * (s.t - s.t_prev)
    max_step = s.t * 10
    next_t = _cubic_interpolate(s.t_prev, s.f_prev, s.gtd_prev, s.t, f_new, gtd_new, bounds=(min_step, max_step))
    return s._replace(
        t=jnp.where(stop, s.t, next_t),
        phase=jnp.where(stop, _ZOOM, _BRACKET),
        t_prev=s.t, f_prev=f_new, g_prev=g_new, gtd_prev=gtd_new,
        bracket=choose(pair(zero, s.t), pair(s.t, s.t), pair(s.t_prev, s.t)),
        bracket_f=bracket_f,
        bracket_g=jnp.stack([choose(g, g_new, s.g_prev), g_new]),
        bracket_gtd=jnp.where(found, pair(gtd_new, gtd_new), pair(s.gtd_prev, gtd_new)),
        low=jnp.where(bracket_f[0] <= bracket_f[1], 0, 1),
        done=found,
    )

  def after_zoom_eval(s: _Search, f_new, g_new, gtd_new):
    low, high = s.low, 1 - s.low
    rejected = armijo_fails(s.t, f_new) | (f_new >= s.bracket_f[low])
    wolfe = jnp.abs(gtd_new) <= -_C2 * gtd
    flip = ~rejected & ~wolfe & (gtd_new * (s.bracket[high] - s.bracket[low]) >= 0)
    # Rejected: the new point replaces the high end. Otherwise it replaces the low
    # end, after the old low end replaced the high end if the slope says so.
    target = jnp.where(rejected, high, low)

    def replace(values, new):
      values = jnp.where(flip, values.at[high].set(values[low]), values)
      return values.at[target].set(new)

    bracket_f = replace(s.bracket_f, f_new)
    return s._replace(
        bracket=replace(s.bracket, s.t),
        bracket_f=bracket_f,
        bracket_g=replace(s.bracket_g, g_new),
        bracket_gtd=replace(s.bracket_gtd, gtd_new),
        low=jnp.where(rejected, jnp.where(bracket_f[0] <= bracket_f[1], 0, 1), low),
        done=~rejected & wolfe,
    )

  def next_zoom_point(s: _Search):
    tiny = jnp.abs(s.bracket[1] - s.bracket[0]) * d_norm < _LINE_SEARCH_TOLERANCE_CHANGE
    stop = s.done | (s.evals - 1 >= max_ls) | tiny
    t, insuf_progress = _zoom_point(s.bracket, s.bracket_f, s.bracket_gtd, s.insuf_progress)
    return s._replace(
        t=jnp.where(stop, s.t, t),
        phase=jnp.where(stop, _DONE, _ZOOM),
        insuf_progress=jnp.where(stop, s.insuf_progress, insuf_progress),
    )

  def body(s: _Search):
    f_new, g_new = evaluate(s.t)
    gtd_new = jnp.dot(g_new, d)
    s = s._replace(evals=s.evals + 1)
    s = jax.lax.cond(s.phase == _BRACKET, after_bracketing_eval, after_zoom_eval, s, f_new, g_new, gtd_new)
    return jax.lax.cond(s.phase == _ZOOM, next_zoom_point, lambda s: s, s)

  init = _Search(
      t=t, phase=jnp.asarray(_BRACKET), evals=jnp.asarray(0), t_prev=zero, f_prev=f, g_prev=g,
      gtd_prev=gtd, bracket=pair(zero, zero), bracket_f=pair(f, f), bracket_g=jnp.stack([g, g]),
      bracket_gtd=pair(gtd, gtd), low=jnp.asarray(0), insuf_progress=jnp.asarray(False),
      done=jnp.asarray(False),
  )
  s = jax.lax.while_loop(lambda s: s.phase != _DONE, body, init)
  return s.bracket_f[s.low], s.bracket_g[s.low], s.bracket[s.low], s.evals


# ---- the step -------------------------------------------------------------------------


class _Loop(NamedTuple):
  """The carry of the iteration loop of one step."""

  state: LBFGSState
  x: jax.Array
  flat_grad: jax.Array
  loss: jax.Array
  n_iter: jax.Array  # iterations in this step
  current_evals: jax.Array
  stop: jax.Array


def lbfgs(
    lr: float = 1,
    max_iter: int = 20,
    max_eval: Optional[int] = None,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    history_size: int = 100,
    line_search_fn: Optional[str] = None,
) -> GradientTransformationExtraArgs:
  """L-BFGS, step for step as `torch.optim.LBFGS`: one `update` is one `step(closure)`.

  `update(grads, state, params, *, value, value_and_grad_fn)` takes the loss
  `value` and its gradient `grads` at `params` (what torch's first closure call
  computes), and `value_and_grad_fn`, a JAX function `params -> (loss, grads)`
  that it calls for every further evaluation. It runs up to `max_iter` L-BFGS
  iterations, with torch's stopping rules and, for `line_search_fn="strong_wolfe"`,
  torch's line search, all inside `jax.lax` loops, and returns the total
  parameter change. The state keeps torch's `history_size` most recent curvature
  pairs in `(history_size, n)` buffers, where `n` is the parameters' total size.
  Gradients are torch's: for complex parameters, the conjugate of what
  `jax.grad` returns.

  Args:
    lr: learning rate (the initial step length of each iteration).
    max_iter: maximal number of iterations per step.
    max_eval: maximal number of objective evaluations per step (default
      `max_iter * 5 // 4`).
    tolerance_grad: stop when the largest gradient entry is at most this.
    tolerance_change: stop when the loss or the parameters change less than this.
    history_size: number of curvature pairs kept.
    line_search_fn: None (fixed step length `lr`) or "strong_wolfe".

  Returns:
    A `GradientTransformationExtraArgs` whose `update` needs `params`, `value`
    and `value_and_grad_fn`.

  References:
    Nocedal, 1980, "Updating Quasi-Newton Matrices with Limited Storage",
    https://doi.org/10.1090/S0025-5718-1980-0572855-7;
    Liu and Nocedal, 1989, "On the limited memory BFGS method for large scale optimization",
    https://doi.org/10.1007/BF01589116;
    `torch.optim.LBFGS`, https://docs.pytorch.org/docs/stable/generated/torch.optim.LBFGS.html

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> from functional_optim import torchlike
    >>> loss_fn = lambda p: jnp.sum((p - jnp.array([1.0, -2.0])) ** 2)
    >>> tx = torchlike.lbfgs(line_search_fn="strong_wolfe")
    >>> params = jnp.zeros(2)
    >>> state = tx.init(params)
    >>> value, grads = jax.value_and_grad(loss_fn)(params)
    >>> updates, state = tx.update(grads, state, params, value=value,
    ...                            value_and_grad_fn=jax.value_and_grad(loss_fn))
    >>> [round(p, 4) for p in fo.apply_updates(params, updates).tolist()]
    [1.0, -2.0]
    >>> int(state.n_iter), int(state.func_evals)
    (3, 3)
  """
  check_non_negative(lr, f"Invalid learning rate: {lr}")
  check_positive_int("history_size", history_size)
  if line_search_fn not in (None, "strong_wolfe"):
    raise ValueError(f"only 'strong_wolfe' is supported as line_search_fn, got {line_search_fn!r}")
  if max_eval is None:
    max_eval = max_iter * 5 // 4

  def init_fn(params: Params) -> LBFGSState:
    leaves = jax.tree.leaves(params)
    n = sum(2 * jnp.size(x) if jnp.iscomplexobj(x) else jnp.size(x) for x in leaves)
    dtype = _flat_dtype([jnp.asarray(x) for x in leaves])
    scalar = lambda v: jnp.asarray(v, dtype)
    return LBFGSState(
        func_evals=jnp.zeros((), jnp.int32), n_iter=jnp.zeros((), jnp.int32),
        d=jnp.zeros(n, dtype), t=scalar(0), old_dirs=jnp.zeros((history_size, n), dtype),
        old_stps=jnp.zeros((history_size, n), dtype), ro=jnp.zeros(history_size, dtype),
        H_diag=scalar(1), prev_flat_grad=jnp.zeros(n, dtype), prev_loss=scalar(0),
        al=jnp.zeros(history_size, dtype), num_old=jnp.zeros((), jnp.int32),
    )

  def iteration(c: _Loop, evaluate) -> _Loop:
    state = c.state._replace(n_iter=c.state.n_iter + 1)
    n_iter = c.n_iter + 1
    g = c.flat_grad
    first = state.n_iter == 1
    state = jax.lax.cond(
        first,
        lambda: state._replace(d=-g, num_old=jnp.zeros_like(state.num_old), H_diag=jnp.ones_like(state.H_diag)),
        lambda: _direction(state, g, history_size),
    )
    inverse_l1 = 1.0 / jnp.sum(jnp.abs(g))
    t = jnp.where(first & (inverse_l1 < 1.0), inverse_l1 * lr, jnp.asarray(lr, g.dtype))
    state = state._replace(prev_flat_grad=g, prev_loss=c.loss, t=t)
    gtd = jnp.dot(g, state.d)

    def move(c: _Loop) -> _Loop:
      d = state.d
      if line_search_fn == "strong_wolfe":
        loss, g_new, t_new, evals = _strong_wolfe(
            lambda t: evaluate(c.x + t * d), t, d, c.loss, g, gtd, max_eval - c.current_evals
        )
        x = c.x + t_new * d
      else:
        t_new, x = t, c.x + t * d
        loss, g_new, evals = jax.lax.cond(
            n_iter != max_iter,
            lambda: (*evaluate(x), jnp.asarray(1)),
            lambda: (c.loss, g, jnp.asarray(0)),
        )
      opt_cond = _abs_max(g_new) <= tolerance_grad
      current_evals = c.current_evals + evals
      stop = (
          (n_iter == max_iter) | (current_evals >= max_eval) | opt_cond
          | (_abs_max(d * t_new) <= tolerance_change)
          | (jnp.abs(loss - state.prev_loss) < tolerance_change)
      )
      new_state = state._replace(t=t_new, func_evals=state.func_evals + evals)
      return _Loop(new_state, x, g_new, loss, n_iter, current_evals, stop)

    stalled = gtd > -tolerance_change
    c = c._replace(state=state, n_iter=n_iter, stop=stalled)
    return jax.lax.cond(stalled, lambda c: c, move, c)

  def update_fn(
      updates: Updates,
      state: LBFGSState,
      params: Optional[Params] = None,
      *,
      value: Any = None,
      value_and_grad_fn: Optional[Callable[[Params], tuple[Any, Params]]] = None,
      **extra_args: Any,
  ) -> tuple[Updates, LBFGSState]:
    del extra_args
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    if value is None or value_and_grad_fn is None:
      raise ValueError("lbfgs.update needs the extra arguments value and value_and_grad_fn")
    x = _flatten(params)

    def evaluate(x):
      loss, grads = value_and_grad_fn(_unflatten(x, params))
      return jnp.asarray(loss, x.dtype), _flatten(grads)

    flat_grad = _flatten(updates)
    loss = jnp.asarray(value, x.dtype)
    state = state._replace(func_evals=state.func_evals + 1)
    init = _Loop(state, x, flat_grad, loss, jnp.asarray(0), jnp.asarray(1), _abs_max(flat_grad) <= tolerance_grad)
    c = jax.lax.while_loop(
        lambda c: ~c.stop & (c.n_iter < max_iter), lambda c: iteration(c, evaluate), init
    )
    updates = jax.tree.map(_exact_update, _unflatten(c.x, params), params)
    return updates, c.state

  return GradientTransformationExtraArgs(init_fn, update_fn)
