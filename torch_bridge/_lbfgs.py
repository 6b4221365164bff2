"""The drop-in for torch.optim.LBFGS: torch's algorithm, driven on the host with torch ops.

L-BFGS calls the closure several times per step, with control flow that depends
on every result, so the step runs in Python around the closure. Its vector math
uses torch ops, the same ones in the same order as torch.optim.LBFGS, rather
than `functional_optim.torchlike.lbfgs`'s JAX pieces, for three reasons:

* The control flow branches on exact comparisons of float32 scalars (with the
  default tolerances `|loss - prev_loss| < 1e-9` asks whether two float32 losses
  are equal, and the Wolfe tests compare nearby losses), and the direction comes
  from dot products whose summation order is the BLAS's. XLA sums in another
  order, so a JAX direction differs from torch's in the last bit, which changes
  iteration counts and `func_evals` and then the trajectory. With torch ops the
  drop-in reproduces torch.optim.LBFGS bit for bit.
* torch keeps `t`, `H_diag`, `ro` and `al` as Python numbers or 0-d tensors
  depending on the path taken (`t` may even be the int 0); checkpoints carry
  those types, and the drop-in writes exactly what torch writes.
* The closure runs in torch on the host anyway: a JAX program per inner
  iteration would add transfers and dispatch for a few BLAS-1 operations.

The state lives where torch keeps it, in `state[first parameter]`, so
`state_dict()` and `load_state_dict()` are torch's own and checkpoints move
between `torch.optim.LBFGS` and this class both ways.
"""

from typing import Callable, Optional, Union

import torch

Float = Union[float, torch.Tensor]

# torch's `_strong_wolfe` constants; LBFGS.step does not pass the group's tolerance_change.
_C1, _C2, _LINE_SEARCH_TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9


class LBFGS(torch.optim.Optimizer):
  """`torch.optim.LBFGS`: limited-memory BFGS, optionally with a strong-Wolfe line search.

  One param group only; `step(closure)` requires the closure, which may be called
  up to `max_eval` times.

  References:
    Nocedal, 1980, "Updating Quasi-Newton Matrices with Limited Storage",
    https://doi.org/10.1090/S0025-5718-1980-0572855-7;
    Liu and Nocedal, 1989, "On the limited memory BFGS method for large scale optimization",
    https://doi.org/10.1007/BF01589116;
    `torch.optim.LBFGS`, https://docs.pytorch.org/docs/stable/generated/torch.optim.LBFGS.html

  Example:
    >>> import torch, torch_bridge
    >>> x = torch.nn.Parameter(torch.zeros(2))
    >>> opt = torch_bridge.LBFGS([x], line_search_fn="strong_wolfe")
    >>> def closure():
    ...   opt.zero_grad()
    ...   loss = ((x - torch.tensor([1.0, -2.0])) ** 2).sum()
    ...   loss.backward()
    ...   return loss
    >>> loss = opt.step(closure)
    >>> x.detach()
    tensor([ 1.0000, -2.0000])
    >>> opt.state_dict()["state"][0]["n_iter"]
    3
  """

  def __init__(self, params, lr: Float = 1, max_iter: int = 20, max_eval: Optional[int] = None,
               tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
               line_search_fn: Optional[str] = None) -> None:
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
      raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
      raise ValueError(f"Invalid learning rate: {lr}")
    if max_eval is None:
      max_eval = max_iter * 5 // 4
    defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                    tolerance_change=tolerance_change, history_size=history_size,
                    line_search_fn=line_search_fn)
    super().__init__(params, defaults)
    if len(self.param_groups) != 1:
      raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
    self._params = self.param_groups[0]["params"]

  # ---- the flat vector: all parameters, complex ones as (re, im) pairs ---------------

  def _flat_grad(self) -> torch.Tensor:
    views = []
    for p in self._params:
      if p.grad is None:
        view = p.new(p.numel()).zero_()
      elif p.grad.is_sparse:
        view = p.grad.to_dense().view(-1)
      else:
        view = p.grad.view(-1)
      views.append(torch.view_as_real(view).view(-1) if torch.is_complex(view) else view)
    return torch.cat(views, 0)

  def _add(self, step_size, direction: torch.Tensor) -> None:
    """`params += step_size * direction`, one fused multiply-add per parameter as in torch."""
    offset = 0
    for p in self._params:
      p = torch.view_as_real(p) if torch.is_complex(p) else p
      p.add_(direction[offset:offset + p.numel()].view_as(p), alpha=step_size)
      offset += p.numel()

  def _evaluate_at(self, closure, x, t, d):
    """Loss and flat gradient at `x + t * d`; the parameters are back at `x` after."""
    self._add(t, d)
    loss = float(closure())
    flat_grad = self._flat_grad()
    for p, value in zip(self._params, x, strict=True):
      p.copy_(value)
    return loss, flat_grad

  # ---- the step ---------------------------------------------------------------------

  @torch.no_grad()
  def step(self, closure: Callable[[], torch.Tensor]):  # type: ignore[override]
    """Performs one L-BFGS step (up to `max_iter` iterations); returns the closure's first loss."""
    if len(self.param_groups) != 1:
      raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
    closure = torch.enable_grad()(closure)
    group = self.param_groups[0]
    lr = group["lr"].squeeze() if isinstance(group["lr"], torch.Tensor) and group["lr"].dim() else group["lr"]
    max_iter, max_eval = group["max_iter"], group["max_eval"]
    tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
    line_search_fn, history_size = group["line_search_fn"], group["history_size"]

    state = self.state[self._params[0]]  # torch keeps LBFGS's global state here
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)

    orig_loss = closure()
    loss = float(orig_loss)
    current_evals = 1
    state["func_evals"] += 1
    flat_grad = self._flat_grad()
    opt_cond = flat_grad.abs().max() <= tolerance_grad
    if opt_cond:
      return orig_loss

    d, t = state.get("d"), state.get("t")
    old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
    H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

    n_iter = 0
    while n_iter < max_iter:
      n_iter += 1
      state["n_iter"] += 1

      if state["n_iter"] == 1:
        d, old_dirs, old_stps, ro, H_diag = flat_grad.neg(), [], [], [], 1
      else:
        y = flat_grad.sub(prev_flat_grad)
        s = d.mul(t)
        ys = y.dot(s)
        if ys > 1e-10:
          if len(old_dirs) == history_size:
            old_dirs.pop(0)
            old_stps.pop(0)
            ro.pop(0)
          old_dirs.append(y)
          old_stps.append(s)
          ro.append(1.0 / ys)
          H_diag = ys / y.dot(y)
        if "al" not in state:
          state["al"] = [None] * history_size
        d = _two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, state["al"])

      if prev_flat_grad is None:
        prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
      else:
        prev_flat_grad.copy_(flat_grad)
      prev_loss = loss

      t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
      gtd = flat_grad.dot(d)
      if gtd > -tolerance_change:
        break

      ls_func_evals = 0
      if line_search_fn is not None:
        if line_search_fn != "strong_wolfe":
          raise RuntimeError("only 'strong_wolfe' is supported")
        x = [p.clone(memory_format=torch.contiguous_format) for p in self._params]
        loss, flat_grad, t, ls_func_evals = _strong_wolfe(
            lambda t: self._evaluate_at(closure, x, t, d), t, d, loss, flat_grad, gtd,
            max_ls=max_eval - current_evals)
        self._add(t, d)
        opt_cond = flat_grad.abs().max() <= tolerance_grad
      else:
        self._add(t, d)
        if n_iter != max_iter:  # torch skips the evaluation after the last iteration
          with torch.enable_grad():
            loss = closure()
          loss = float(loss)
          flat_grad = self._flat_grad()
          opt_cond = flat_grad.abs().max() <= tolerance_grad
          ls_func_evals = 1
      current_evals += ls_func_evals
      state["func_evals"] += ls_func_evals

      if (n_iter == max_iter or current_evals >= max_eval or opt_cond
          or d.mul(t).abs().max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change):
        break

    state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                 prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
    return orig_loss


def _two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, al):
  """The L-BFGS direction `-H g`; writes the coefficients into `al` as torch does."""
  q = flat_grad.neg()
  for i in range(len(old_dirs) - 1, -1, -1):
    al[i] = old_stps[i].dot(q) * ro[i]
    q.add_(old_dirs[i], alpha=-al[i])
  r = torch.mul(q, H_diag)
  for i in range(len(old_dirs)):
    be_i = old_dirs[i].dot(r) * ro[i]
    r.add_(old_stps[i], alpha=al[i] - be_i)
  return r


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
  """The minimizer of the cubic through `(x1, f1, g1)` and `(x2, f2, g2)`, within bounds."""
  xmin_bound, xmax_bound = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
  d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  d2_square = d1**2 - g1 * g2
  if d2_square >= 0:  # (False for NaN)
    d2 = d2_square.sqrt()
    if x1 <= x2:
      min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
      min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, xmin_bound), xmax_bound)
  return (xmin_bound + xmax_bound) / 2.0


def _zoom_point(bracket, bracket_f, bracket_gtd, insuf_progress):
  """The zoom phase's next trial point, and whether it was too close to an end of the bracket.

  Too close (within 10% of the bracket) twice in a row, or outside the bracket,
  the point moves to 10% inside.
  """
  t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
  eps = 0.1 * (max(bracket) - min(bracket))
  if min(max(bracket) - t, t - min(bracket)) < eps:
    if insuf_progress or t >= max(bracket) or t <= min(bracket):
      t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
      return t, False
    return t, True
  return t, False


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls):
  """torch's strong-Wolfe line search; `evaluate(t)` is `(loss, flat_grad)` at `x + t * d`.

  Returns `(f_new, g_new, t, evaluations)`. Scalars keep torch's types: Python
  numbers where torch computes in Python, 0-d tensors where it uses tensors.
  """
  d_norm = d.abs().max()
  g = g.clone(memory_format=torch.contiguous_format)
  f_new, g_new = evaluate(t)
  evals = 1
  gtd_new = g_new.dot(d)

  # Bracketing: find an interval containing a point that satisfies the Wolfe conditions.
  t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
  done = False
  ls_iter = 0
  while ls_iter < max_ls:
    if f_new > (f + _C1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
      bracket, bracket_f = [t_prev, t], [f_prev, f_new]
      bracket_g, bracket_gtd = [g_prev, g_new.clone(memory_format=torch.contiguous_format)], [gtd_prev, gtd_new]
      break
    if abs(gtd_new) <= -_C2 * gtd:
      bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
      done = True
      break
    if gtd_new >= 0:
      bracket, bracket_f = [t_prev, t], [f_prev, f_new]
      bracket_g, bracket_gtd = [g_prev, g_new.clone(memory_format=torch.contiguous_format)], [gtd_prev, gtd_new]
      break
    min_step, max_step = t + 0.01 * (t - t_prev), t * 10
    t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
    f_prev, g_prev, gtd_prev = f_new, g_new.clone(memory_format=torch.contiguous_format), gtd_new
    f_new, g_new = evaluate(t)
    evals += 1
    gtd_new = g_new.dot(d)
    ls_iter += 1
  if ls_iter == max_ls:
    bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

  # Zoom: shrink the bracket until a point satisfies the Wolfe conditions.
  insuf_progress = False
  low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
  while not done and ls_iter < max_ls:
    if abs(bracket[1] - bracket[0]) * d_norm < _LINE_SEARCH_TOLERANCE_CHANGE:
      break
    t, insuf_progress = _zoom_point(bracket, bracket_f, bracket_gtd, insuf_progress)
    f_new, g_new = evaluate(t)
    evals += 1
    gtd_new = g_new.dot(d)
    ls_iter += 1

    if f_new > (f + _C1 * t * gtd) or f_new >= bracket_f[low]:
      # Not a sufficient decrease, or above the low end: the new point is the high end.
      bracket[high], bracket_f[high] = t, f_new
      bracket_g[high], bracket_gtd[high] = g_new.clone(memory_format=torch.contiguous_format), gtd_new
      low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
    else:
      if abs(gtd_new) <= -_C2 * gtd:
        done = True
      elif gtd_new * (bracket[high] - bracket[low]) >= 0:
        bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
        bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
      bracket[low], bracket_f[low] = t, f_new
      bracket_g[low], bracket_gtd[low] = g_new.clone(memory_format=torch.contiguous_format), gtd_new

  return bracket_f[low], bracket_g[low], bracket[low], evals
