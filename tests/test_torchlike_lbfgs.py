"""functional_optim.torchlike.lbfgs against torch.optim.LBFGS.

Both minimize the same objective: torch's closure calls the same compiled JAX
function, so both get the same bits wherever they evaluate at the same point,
and what is compared is the optimizer alone.

L-BFGS amplifies rounding differences. torch.optim.LBFGS against itself,
restarted one float32 ulp away, leaves a 2e-5 relative tolerance within a few
steps on ill-conditioned problems, and our dot products sum in XLA's order,
torch's in its BLAS's (MKL here; another order on other CPUs). Hence:

* `test_lbfgs_iterations`: step-wise with one iteration per step. Before every
  step ours starts from torch's parameters and state (read as
  `_state_from_torch` reads a torch checkpoint), so every input is torch's, and
  the parameters and the whole state must match after every step.
* `test_lbfgs_steps`: step-wise with 2 to 4 iterations per step, each starting
  from our own iterate, against torch with `Tensor.dot` summing in XLA's order
  (`_xla_dot_order`); parameters, counters and step lengths must match.
* `test_lbfgs_trajectory`: free runs against unmodified torch on a
  well-conditioned problem, where rounding differences do not grow.

Objectives have minimum 0 and stay far from it, so that no stopping test
compares losses that differ only by rounding.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from torch.optim.lbfgs import _cubic_interpolate as torch_cubic_interpolate
from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

import functional_optim as fo
import torch_bridge._lbfgs as bridge_lbfgs
from functional_optim.torchlike import _lbfgs
from functional_optim.torchlike._lbfgs import LBFGS_TORCH_STATE_KEYS, LBFGSState, lbfgs

NUM_STEPS = 10
RTOL, ATOL = 2e-5, 2e-6


# ---- objectives: (loss function, initial parameters) ----------------------------------


def _quadratic(rng, condition):
  n = 12
  basis, _ = np.linalg.qr(rng.normal(size=(n, n)))
  matrix = jnp.asarray((basis * np.logspace(0, np.log10(condition), n)) @ basis.T, jnp.float32)
  center = jnp.asarray(rng.normal(size=n), jnp.float32)

  def loss(params):
    r = jnp.concatenate([params["a"], params["b"].reshape(-1)]) - center
    return 0.5 * r @ (matrix @ r)

  return loss, {"a": jnp.zeros(4), "b": jnp.zeros((2, 4))}


def _rosenbrock(rng):
  def loss(params):
    x = params["x"]
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

  return loss, {"x": jnp.asarray(rng.normal(size=5) * 0.5 - 1, jnp.float32)}


def _logistic(rng):
  # Separable data: the loss decreases towards 0 without reaching it.
  features = jnp.asarray(rng.normal(size=(32, 5)), jnp.float32)
  signs = jnp.sign(features @ jnp.asarray(rng.normal(size=5), jnp.float32) + 0.1)

  def loss(params):
    return jnp.mean(jax.nn.softplus(-signs * (features @ params["w"] + params["b"])))

  return loss, {"w": jnp.zeros(5), "b": jnp.zeros(())}


PROBLEMS = {
    "quadratic": lambda rng: _quadratic(rng, condition=1e3),
    "rosenbrock": _rosenbrock,
    "logistic": _logistic,
}
# Fixed step lengths for which the iterations stay bounded.
FIXED_LRS = {"quadratic": st.floats(0.05, 1.0), "rosenbrock": st.floats(1e-4, 1e-2), "logistic": st.floats(0.1, 1.0)}


# ---- running both ------------------------------------------------------------------


def _jitted_step(tx, value_and_grad):
  @jax.jit
  def step(params, state):
    value, grads = value_and_grad(params)
    updates, state = tx.update(grads, state, params, value=value, value_and_grad_fn=value_and_grad)
    return fo.apply_updates(params, updates), state

  return step


class _Torch:
  """torch.optim.LBFGS on torch copies of the leaves, with the JAX objective as closure."""

  def __init__(self, params, value_and_grad, **kwargs):
    self.treedef = jax.tree.structure(params)
    self.leaves = [torch.nn.Parameter(torch.from_numpy(np.array(p))) for p in jax.tree.leaves(params)]
    self.optimizer = torch.optim.LBFGS(self.leaves, **kwargs)
    value_and_grad = jax.jit(value_and_grad)  # compiled like ours, so the same bits

    def closure():
      value, grads = value_and_grad(self.params())
      for p, g in zip(self.leaves, jax.tree.leaves(grads)):
        p.grad = torch.from_numpy(np.array(g))
      return torch.from_numpy(np.array(value))

    self.closure = closure

  def params(self):
    return self.treedef.unflatten([jnp.asarray(p.detach().numpy()) for p in self.leaves])

  def step(self):
    self.optimizer.step(self.closure)

  @property
  def state(self):
    return self.optimizer.state[self.leaves[0]]


def _array(value, dtype=jnp.float32):
  return jnp.asarray(value.detach().numpy() if isinstance(value, torch.Tensor) else value, dtype)


def _state_from_torch(template: LBFGSState, torch_state) -> LBFGSState:
  """Our state from torch's (as a torch checkpoint holds it); absent keys keep `template`'s."""
  fields = template._asdict()
  for key in ("func_evals", "n_iter"):
    fields[key] = jnp.asarray(torch_state.get(key, 0), jnp.int32)
  for key in ("d", "t", "H_diag", "prev_flat_grad", "prev_loss"):
    if torch_state.get(key) is not None:
      fields[key] = _array(torch_state[key])
  if torch_state.get("old_dirs") is not None:
    num_old = len(torch_state["old_dirs"])
    fields["num_old"] = jnp.asarray(num_old, jnp.int32)
    for key in ("old_dirs", "old_stps", "ro"):
      rows = [_array(v) for v in torch_state[key]]
      if rows:
        fields[key] = fields[key].at[:num_old].set(jnp.stack(rows))
  if "al" in torch_state:
    fields["al"] = jnp.asarray([0.0 if a is None else float(a) for a in torch_state["al"]], jnp.float32)
  return LBFGSState(**fields)


@contextlib.contextmanager
def _xla_dot_order():
  """torch's `Tensor.dot` (all of LBFGS's dot products) summing in XLA's order, not its BLAS's."""
  dot = jax.jit(jnp.dot)
  original = torch.Tensor.dot
  torch.Tensor.dot = lambda a, b: torch.from_numpy(np.array(dot(a.detach().numpy(), b.detach().numpy())))
  try:
    yield
  finally:
    torch.Tensor.dot = original


def _close(actual, expected, message):
  wide = np.complex128 if np.iscomplexobj(actual) or np.iscomplexobj(expected) else np.float64
  np.testing.assert_allclose(np.asarray(actual, wide), np.asarray(expected, wide),
                             rtol=RTOL, atol=ATOL, err_msg=message)


def _assert_state_matches(ours: LBFGSState, theirs, full_state, message=""):
  """Counters exactly and `t` within tolerance; with `full_state`, every field."""
  assert int(ours.func_evals) == theirs["func_evals"], message + "func_evals"
  assert int(ours.n_iter) == theirs["n_iter"], message + "n_iter"
  if "d" not in theirs:  # no iteration yet
    return
  num_old = len(theirs["old_dirs"])
  assert int(ours.num_old) == num_old, message + "num_old"
  _close(ours.t, _array(theirs["t"]), message + "t")
  if not full_state:
    return
  for key in ("d", "H_diag", "prev_flat_grad", "prev_loss"):
    _close(getattr(ours, key), _array(theirs[key]), message + key)
  for key in ("old_dirs", "old_stps", "ro"):
    for i, expected in enumerate(theirs[key]):
      _close(getattr(ours, key)[i], _array(expected), f"{message}{key}[{i}]")
  if "al" in theirs:
    # torch keeps `al`, the coefficients of its last two-loop recursion, though
    # each recursion writes them before reading them. Entries past the history
    # are None. Of the others only the newest is compared: each older one is
    # `s . q * ro` for `q = -g - sum(al_j * y_j)` over newer pairs, terms that
    # cancel, so an ulp of difference in a newer coefficient moves it far
    # beyond rounding; the direction `d` they sum to is compared.
    assert len(theirs["al"]) == len(ours.al)
    assert all((a is None) == (i >= num_old) for i, a in enumerate(theirs["al"])), message + "al"
    if num_old:
      _close(ours.al[num_old - 1], _array(theirs["al"][num_old - 1]), f"{message}al[{num_old - 1}]")


def _assert_params_match(ours, theirs, message):
  for i, (a, e) in enumerate(zip(jax.tree.leaves(ours), jax.tree.leaves(theirs))):
    _close(a, e, f"{message}param {i}")


def _run_steps(problem, hyper, seed, full_state):
  """Step-wise: before each step ours restarts from torch's parameters and state."""
  loss, params = PROBLEMS[problem](np.random.default_rng(seed))
  value_and_grad = jax.value_and_grad(loss)
  tx = lbfgs(**hyper)
  step = _jitted_step(tx, value_and_grad)
  theirs = _Torch(params, value_and_grad, **hyper)
  for t in range(NUM_STEPS):
    params = theirs.params()
    state = _state_from_torch(tx.init(params), theirs.state)
    params, state = step(params, state)
    theirs.step()
    message = f"step {t + 1}: "
    _assert_params_match(params, theirs.params(), message)
    _assert_state_matches(state, theirs.state, full_state, message)


# ---- tests ---------------------------------------------------------------------------


@st.composite
def configurations(draw, max_iter):
  problem = draw(st.sampled_from(tuple(PROBLEMS)))
  line_search_fn = draw(st.sampled_from([None, "strong_wolfe"]))
  hyper = dict(
      lr=draw(st.floats(0.5, 1.0) if line_search_fn else FIXED_LRS[problem]),
      max_iter=draw(max_iter),
      history_size=draw(st.integers(1, 6)),
      tolerance_grad=draw(st.sampled_from([1e-7, 1e-2])),
      tolerance_change=draw(st.sampled_from([1e-9, 1e-4])),
      line_search_fn=line_search_fn,
  )
  if draw(st.booleans()):  # few evaluations: the line search runs out of them
    hyper["max_eval"] = draw(st.integers(1, 8))
  return problem, hyper, draw(st.integers(0, 2**16))


@given(config=configurations(max_iter=st.just(1)))
def test_lbfgs_iterations(config):
  _run_steps(*config, full_state=True)


@given(config=configurations(max_iter=st.integers(2, 4)))
def test_lbfgs_steps(config):
  # Later iterations of a step start from our own iterate. Gradients there
  # (prev_flat_grad, old_dirs, and what derives from them) are differences of
  # nearly equal numbers as the iterates approach the minimum, so only the
  # parameters, counters and step length are compared.
  with _xla_dot_order():
    _run_steps(*config, full_state=False)


@given(line_search_fn=st.sampled_from([None, "strong_wolfe"]), max_iter=st.integers(1, 3),
       history_size=st.integers(1, 4), traced=st.booleans(), seed=st.integers(0, 2**16))
def test_lbfgs_trajectory(line_search_fn, max_iter, history_size, traced, seed):
  loss, params = _quadratic(np.random.default_rng(seed), condition=3.0)
  # Hyperparameters exact in float32, so that traced (float32) and Python values agree.
  hyper = dict(lr=0.75, max_iter=max_iter, history_size=history_size,
               tolerance_grad=2.0**-20, tolerance_change=2.0**-30, line_search_fn=line_search_fn)
  floats = ("lr", "tolerance_grad", "tolerance_change")
  value_and_grad = jax.value_and_grad(loss)

  @jax.jit
  def step(params, state, traced_hyper):
    tx = lbfgs(**{**hyper, **traced_hyper})
    value, grads = value_and_grad(params)
    updates, state = tx.update(grads, state, params, value=value, value_and_grad_fn=value_and_grad)
    return fo.apply_updates(params, updates), state

  traced_hyper = {k: jnp.float32(hyper[k]) for k in floats} if traced else {}
  theirs = _Torch(params, value_and_grad, **hyper)
  state = lbfgs(**hyper).init(params)
  for t in range(NUM_STEPS):
    params, state = step(params, state, traced_hyper)
    theirs.step()
    _assert_params_match(params, theirs.params(), f"step {t + 1}: ")
    _assert_state_matches(state, theirs.state, False, f"step {t + 1}: ")


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_complex_params(line_search_fn):
  # torch views complex parameters as (re, im) pairs; gradients are torch's,
  # the conjugate of jax.grad's.
  rng = np.random.default_rng(0)
  center = jnp.asarray(rng.normal(size=3) + 1j * rng.normal(size=3), jnp.complex64)
  weights = jnp.asarray(rng.uniform(0.5, 2, size=3), jnp.float32)

  def loss(params):
    return jnp.sum(weights * jnp.abs(params["z"] - center) ** 2) + jnp.sum((params["w"] - 1) ** 2)

  def value_and_grad(params):
    value, grads = jax.value_and_grad(loss)(params)
    return value, jax.tree.map(jnp.conj, grads)

  params = {"w": jnp.zeros(2), "z": jnp.zeros(3, jnp.complex64)}
  hyper = dict(lr=0.75, max_iter=3, history_size=3, line_search_fn=line_search_fn)
  tx = lbfgs(**hyper)
  step = _jitted_step(tx, value_and_grad)
  theirs = _Torch(params, value_and_grad, **hyper)
  state = tx.init(params)
  for t in range(NUM_STEPS):
    params, state = step(params, state)
    theirs.step()
    _assert_params_match(params, theirs.params(), f"step {t + 1}: ")
    _assert_state_matches(state, theirs.state, False, f"step {t + 1}: ")


def test_lbfgs_state_layout():
  params = {"a": jnp.zeros((2, 3)), "b": jnp.zeros((), jnp.complex64)}
  state = lbfgs(history_size=5).init(params)
  assert isinstance(state, LBFGSState)
  assert tuple(LBFGSState._fields[:-1]) == LBFGS_TORCH_STATE_KEYS
  assert state.d.shape == state.prev_flat_grad.shape == (8,)  # complex counts twice
  assert state.old_dirs.shape == state.old_stps.shape == (5, 8)
  assert state.ro.shape == state.al.shape == (5,)
  for field in ("func_evals", "n_iter", "num_old"):
    assert getattr(state, field).dtype == jnp.int32
  assert state.t.dtype == state.H_diag.dtype == state.prev_loss.dtype == jnp.float32


def test_lbfgs_stops_at_once_at_a_stationary_point():
  # torch counts the evaluation and returns before its first iteration.
  tx = lbfgs()
  params = jnp.ones(3)
  value_and_grad = jax.value_and_grad(lambda p: jnp.sum((p - 1.0) ** 2))
  value, grads = value_and_grad(params)
  updates, state = tx.update(grads, tx.init(params), params, value=value,
                             value_and_grad_fn=value_and_grad)
  np.testing.assert_array_equal(updates, jnp.zeros(3))
  assert int(state.func_evals) == 1 and int(state.n_iter) == 0


def test_lbfgs_needs_its_extra_arguments():
  tx = lbfgs()
  params = jnp.ones(2)
  with pytest.raises(ValueError, match="value_and_grad_fn"):
    tx.update(params, tx.init(params), params, value=1.0)
  with pytest.raises(ValueError):
    tx.update(params, tx.init(params), value=1.0, value_and_grad_fn=lambda p: (1.0, p))


def test_cubic_interpolate_matches_torch():
  rng = np.random.default_rng(0)
  for _ in range(200):
    x1, x2 = (float(v) for v in rng.normal(size=2))
    f1, f2 = (float(v) for v in rng.normal(size=2))
    g1, g2 = (torch.tensor(v, dtype=torch.float32) for v in rng.normal(size=2))
    bounds = None if rng.random() < 0.5 else (min(x1, x2) - 0.5, max(x1, x2) + 0.5)
    expected = float(torch_cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds))
    actual = _lbfgs._cubic_interpolate(
        *(jnp.float32(v) for v in (x1, f1, g1, x2, f2, g2)),
        bounds=None if bounds is None else tuple(jnp.float32(b) for b in bounds))
    _close(actual, expected, f"{(x1, f1, g1, x2, f2, g2, bounds)}")


def test_zoom_point_matches_torch():
  # torch computes the zoom phase's next point inline in `_strong_wolfe`; the
  # reference is the drop-in's `_zoom_point`, torch's lines verbatim, whose
  # results test_bridge_lbfgs checks bit for bit against torch.optim.LBFGS.
  # Here both flags are drawn, so that the rare "insufficient progress twice"
  # move is exercised too.
  rng = np.random.default_rng(0)
  zoom_point = jax.jit(_lbfgs._zoom_point)
  moved = 0
  for _ in range(300):
    bracket = [float(np.float32(v)) for v in rng.uniform(-1, 3, size=2)]
    bracket_f = [float(np.float32(v)) for v in rng.normal(size=2)]
    bracket_gtd = [torch.tensor(v, dtype=torch.float32) for v in rng.normal(size=2)]
    insuf_progress = bool(rng.random() < 0.5)
    t, flag = bridge_lbfgs._zoom_point(list(bracket), bracket_f, bracket_gtd, insuf_progress)
    our_t, our_flag = zoom_point(jnp.asarray(bracket, jnp.float32), jnp.asarray(bracket_f, jnp.float32),
                                 jnp.asarray([float(g) for g in bracket_gtd], jnp.float32), insuf_progress)
    _close(our_t, float(t), f"{bracket, bracket_f, bracket_gtd, insuf_progress}")
    assert bool(our_flag) == flag
    moved += insuf_progress and not flag and min(bracket) < float(t) < max(bracket)
  assert moved > 0


def test_strong_wolfe_matches_torch():
  # Wiggly 1-d slices (sin) make the search bracket and zoom; the same compiled
  # objective serves both searches. Where torch keeps a step length as a Python
  # float (float64) ours is float32: in a bracket that is narrow next to its
  # position the interpolated steps then differ beyond float32 rounding (rarely:
  # once in a few hundred searches like these). The final gradients are not
  # compared: curvature up to 25 magnifies the step's rounding in them.
  def loss(x, a, b):
    return jnp.sum(jnp.sin(b * x) + 0.1 * (x - a) ** 2 + 2)

  value_and_grad = jax.jit(jax.value_and_grad(loss))

  @jax.jit
  def search(x, a, b, t0, max_ls):
    f, g = value_and_grad(x, a, b)
    d = -g
    evaluate = lambda t: value_and_grad(x + t * d, a, b)
    return _lbfgs._strong_wolfe(evaluate, t0, d, f, g, jnp.dot(g, d), max_ls)

  rng = np.random.default_rng(1)
  for _ in range(60):
    x, a = (jnp.asarray(rng.normal(size=3), jnp.float32) for _ in range(2))
    b = jnp.asarray(rng.uniform(1, 5, size=3), jnp.float32)
    t0, max_ls = float(np.float32(10 ** rng.uniform(-2, 0.7))), int(rng.integers(1, 26))
    f, g = value_and_grad(x, a, b)
    x_torch, d_torch = torch.from_numpy(np.array(x)), torch.from_numpy(-np.array(g))

    def objective(x_torch, t, d_torch):
      value, grad = value_and_grad(jnp.asarray(x_torch.add(d_torch, alpha=t).numpy()), a, b)
      return float(value), torch.from_numpy(np.array(grad))

    their_f, _, their_t, their_evals = torch_strong_wolfe(
        objective, x_torch, t0, d_torch, float(f), torch.from_numpy(np.array(g)),
        torch.from_numpy(np.array(g)).dot(d_torch), max_ls=max_ls)
    our_f, _, our_t, our_evals = search(x, a, b, jnp.float32(t0), max_ls)
    message = f"t0={t0}, max_ls={max_ls}"
    assert int(our_evals) == their_evals, message
    _close(our_t, float(their_t), message)
    _close(our_f, their_f, message)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    (dict(history_size=0), ValueError, "history_size"),
    (dict(line_search_fn="backtracking"), ValueError, "strong_wolfe"),
])
def test_lbfgs_invalid(kwargs, error, message):
  with pytest.raises(error, match=message):
    lbfgs(**kwargs)
