"""scale_by_backtracking_linesearch, scale_by_zoom_linesearch and value_and_grad_from_state
against optax, on real objectives run with the standard line-search loop under jit."""

import contextlib
import io
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import Phase, given, settings, strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 12

# Deviation: optax 0.2.8's scale_by_backtracking_linesearch(store_grad=True) raises a
# TypeError for bfloat16 objectives (it transposes the jvp with a float32 cotangent
# 1.0); ours uses a cotangent of the value's dtype. Compared with optax recomputing
# every gradient instead (the stored one is only a cache).
OPTAX_BF16_STORE_GRAD_FAILS = True

# Deviation: for complex params, optax's backtracking line search takes the slope
# real(vdot(updates, conj(grad))), which is not the directional derivative under the
# gradient convention its own L-BFGS and zoom line search rely on (grad = conj of
# jax.grad); ours takes real(vdot(updates, grad)) like the zoom line search. Complex
# runs are compared with optax on the same problem in real coordinates instead.
OPTAX_COMPLEX_BACKTRACKING_SLOPE_WRONG = True

PROBLEMS = ("quadratic", "rosenbrock", "logistic")

# Small trees: every example compiles two line-search loops (seconds each), which
# also makes shrinking a failing example take many minutes: report it unshrunk.
small_pytrees = lambda dtypes: parity.pytrees(dtypes, max_leaves=3, max_rank=2, max_side=3)
no_shrink = settings(phases=[Phase.explicit, Phase.reuse, Phase.generate])


# ---------------------------------------------------------------------------
# Objectives over a parameter tree (shared with test_lbfgs.py). They compute in
# the parameters' (real) dtype; complex leaves enter through real and imaginary parts.
# ---------------------------------------------------------------------------


def _real_view(params):
  leaves = [jnp.ravel(x) for x in jax.tree.leaves(params)]
  if jnp.iscomplexobj(leaves[0]):
    leaves = [part for x in leaves for part in (x.real, x.imag)]
  return jnp.concatenate(leaves)


def make_objective(name: str, spec: parity.TreeSpec):
  """A random convex quadratic, the Rosenbrock function or an L2-regularized logistic loss."""
  dim = sum(int(np.prod(s)) for s in spec.shapes) * (2 if spec.dtype == parity.COMPLEX64 else 1)
  dtype = jnp.bfloat16 if spec.dtype == parity.BFLOAT16 else jnp.float32
  rng = np.random.default_rng(spec.seed + 7)
  if name == "quadratic":
    mat = jnp.asarray(rng.normal(size=(dim + 2, dim)) / np.sqrt(dim), dtype)
    target = jnp.asarray(rng.normal(size=dim + 2), dtype)

    def quadratic(params):
      x = _real_view(params)
      residual = mat @ x - target
      return 0.5 * jnp.sum(residual * residual) + 0.05 * jnp.sum(x * x)

    return quadratic
  if name == "rosenbrock":

    def rosenbrock(params):  # / 100, so that plain gradient steps stay finite
      x = _real_view(params)  # minimum 0 at all ones (the last term makes dim=1 non-trivial)
      return (
          jnp.sum((x[1:] - x[:-1] ** 2) ** 2 + 0.01 * (1.0 - x[:-1]) ** 2)
          + 0.01 * (1.0 - x[-1]) ** 2
      )

    return rosenbrock
  if name == "logistic":
    inputs = jnp.asarray(rng.normal(size=(2 * dim + 3, dim)), dtype)
    labels = jnp.asarray(rng.integers(0, 2, size=2 * dim + 3), dtype)

    def logistic(params):
      x = _real_view(params)
      logits = inputs @ x
      return jnp.mean(jax.nn.softplus(logits) - labels * logits) + 5e-3 * jnp.sum(x * x)

    return logistic
  raise ValueError(name)


def run(lib, opt, value_fn, params, *, reuse_state: bool = True, num_steps: int = NUM_STEPS):
  """The standard line-search loop under jit, with `lib` being optax or functional_optim.

  Returns per-step params, updates and values (stacked) and the final state.
  """
  if reuse_state:
    value_and_grad = lib.value_and_grad_from_state(value_fn)
  else:
    value_and_grad = lambda p, state: jax.value_and_grad(value_fn)(p)

  def step(carry, _):
    params, state = carry
    value, grad = value_and_grad(params, state=state)
    # optax's convention for complex parameters: pass the conjugate of jax.grad.
    grad = jax.tree.map(jnp.conj, grad)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=value_fn)
    params = lib.apply_updates(params, updates)
    return (params, state), (params, updates, value)

  @jax.jit
  def run_all(params):
    init = (params, opt.init(params))
    (_, state), (ps, us, vs) = jax.lax.scan(step, init, None, length=num_steps)
    return ps, us, vs, state

  return run_all(params)


def assert_same_run(make_opt, value_fn, spec, *, reuse_state: bool = True):
  """Runs `make_opt(fo)` and `make_opt(optax)` and compares every step and the final state."""
  params = spec.build()
  ours = run(fo, make_opt(fo), value_fn, params, reuse_state=reuse_state)
  theirs = run(optax, make_opt(optax), value_fn, params, reuse_state=reuse_state)
  for what, a, b in zip(("params", "updates", "values", "final state"), ours, theirs):
    parity.assert_trees_close(a, b, spec.dtype, what)


def _to_real(tree, axis=0):
  return jax.tree.map(lambda x: jnp.stack([x.real, x.imag], axis), tree)


def _from_real(tree):
  return jax.tree.map(lambda x: x[0] + 1j * x[1], tree)


def assert_same_run_in_real_coordinates(make_opt, value_fn, spec, *, reuse_state: bool):
  """Our complex run against optax's on the real and imaginary parts (steps only)."""
  params = spec.build()
  ours = run(fo, make_opt(fo), value_fn, params, reuse_state=reuse_state)
  real_value_fn = lambda p: value_fn(_from_real(p))
  theirs = run(optax, make_opt(optax), real_value_fn, _to_real(params), reuse_state=reuse_state)
  parity.assert_trees_close(_to_real(ours[0], 1), theirs[0], spec.dtype, "params")
  parity.assert_trees_close(_to_real(ours[1], 1), theirs[1], spec.dtype, "updates")
  parity.assert_trees_close(ours[2], theirs[2], spec.dtype, "values")


# ---------------------------------------------------------------------------
# Parity
# ---------------------------------------------------------------------------


@no_shrink
@given(
    spec=small_pytrees(parity.ALL_DTYPES),
    problem=st.sampled_from(PROBLEMS),
    learning_rate=st.floats(0.05, 1.0),
    max_linesearch_steps=st.integers(1, 25),
    max_learning_rate=st.none() | st.floats(0.1, 10.0),
    tol=st.sampled_from([0.0, 1e-6, 1e-3]),
    increase_factor=st.floats(1.2, 4.0),
    slope_rtol=st.floats(0.0, 0.3),
    curv_rtol=st.floats(0.3, 0.99) | st.just(math.inf),
    approx_dec_rtol=st.none() | st.floats(0.0, 1e-3),
    stepsize_precision=st.floats(1e-7, 1e-3),
    initial_guess_strategy=st.sampled_from(["one", "keep"]),
)
def test_scale_by_zoom_linesearch(spec, problem, learning_rate, **kwargs):
  make_opt = lambda lib: lib.chain(
      lib.scale(-learning_rate), lib.scale_by_zoom_linesearch(**kwargs)
  )
  assert_same_run(make_opt, make_objective(problem, spec), spec)


@no_shrink
@given(
    spec=small_pytrees(parity.ALL_DTYPES),
    problem=st.sampled_from(PROBLEMS),
    learning_rate=st.floats(0.05, 2.0),
    max_backtracking_steps=st.integers(0, 30),
    slope_rtol=st.floats(0.0, 0.5),
    decrease_factor=st.floats(0.1, 0.9),
    increase_factor=st.floats(1.0, 3.0) | st.just(math.inf),
    max_learning_rate=st.floats(0.1, 5.0),
    atol=st.sampled_from([0.0, 1e-4]),
    rtol=st.sampled_from([0.0, 1e-4]),
    store_grad=st.booleans(),
)
def test_scale_by_backtracking_linesearch(spec, problem, learning_rate, **kwargs):
  value_fn = make_objective(problem, spec)
  make_opt = lambda lib: lib.chain(
      lib.scale(-learning_rate), lib.scale_by_backtracking_linesearch(**kwargs)
  )
  # Without store_grad the state has no gradient to reuse.
  reuse_state = kwargs["store_grad"]
  if spec.dtype == parity.COMPLEX64 and OPTAX_COMPLEX_BACKTRACKING_SLOPE_WRONG:
    assert_same_run_in_real_coordinates(make_opt, value_fn, spec, reuse_state=reuse_state)
  elif spec.dtype == parity.BFLOAT16 and reuse_state and OPTAX_BF16_STORE_GRAD_FAILS:
    params = spec.build()
    ours = run(fo, make_opt(fo), value_fn, params, reuse_state=True)
    kwargs["store_grad"] = False
    theirs = run(optax, make_opt(optax), value_fn, params, reuse_state=False)
    for what, a, b in zip(("params", "updates", "values"), ours[:3], theirs[:3]):
      parity.assert_trees_close(a, b, spec.dtype, what)
  else:
    assert_same_run(make_opt, value_fn, spec, reuse_state=reuse_state)


def test_backtracking_slope_for_complex_params():
  """The slope is the directional derivative (see OPTAX_COMPLEX_BACKTRACKING_SLOPE_WRONG)."""
  target = jnp.array([1.0 + 2.0j, -1.0 + 0.5j])
  value_fn = lambda z: jnp.sum(jnp.abs(z - target) ** 2)
  params = jnp.array([0.3 - 1.0j, 2.0 + 1.0j])
  grad = jnp.conj(jax.grad(value_fn)(params))
  updates = -grad
  # Accepted steps satisfy Armijo with the true slope (optax's slope accepts 0.8 here,
  # where f(params + 0.8 * updates) = 0.36 f(params) > (1 - 1.6) f(params)).
  opt = fo.scale_by_backtracking_linesearch(max_backtracking_steps=10, slope_rtol=0.5)
  _, state = opt.update(
      updates, opt.init(params), params, value=value_fn(params), grad=grad, value_fn=value_fn
  )
  true_slope = jax.jvp(lambda t: value_fn(params + t * updates), (0.0,), (1.0,))[1]
  eta = state.learning_rate
  new_value = value_fn(params + eta * updates)
  assert new_value <= value_fn(params) + 0.5 * eta * true_slope
  assert state.info.decrease_error == 0.0


@pytest.mark.parametrize("name", ["zoom", "backtracking"])
def test_extra_args_reach_value_fn(name):
  """Keyword arguments of `update` other than value/grad/value_fn go to value_fn."""

  def loss(params, x, y):
    return jnp.sum((x @ params - y) ** 2)

  def make_opt(lib):
    if name == "zoom":
      linesearch = lib.scale_by_zoom_linesearch(max_linesearch_steps=15)
    else:
      linesearch = lib.scale_by_backtracking_linesearch(max_backtracking_steps=15)
    return lib.chain(lib.scale(-1.0), linesearch)

  rng = np.random.default_rng(0)
  xs = jnp.asarray(rng.normal(size=(5, 4, 3)), jnp.float32)
  ys = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)

  def trajectory(lib):
    opt = make_opt(lib)

    @jax.jit
    def run_all(params):
      def step(carry, batch):
        params, state = carry
        value, grad = jax.value_and_grad(loss)(params, *batch)
        updates, state = opt.update(
            grad, state, params, value=value, grad=grad, value_fn=loss, x=batch[0], y=batch[1]
        )
        params = lib.apply_updates(params, updates)
        return (params, state), params

      (_, state), ps = jax.lax.scan(step, (params, opt.init(params)), (xs, ys))
      return ps, state

    return run_all(jnp.ones(3))

  parity.assert_trees_close(trajectory(fo), trajectory(optax), parity.FLOAT32, name)

  opt = make_opt(fo)
  params = jnp.ones(3)
  value, grad = jax.value_and_grad(loss)(params, xs[0], ys[0])
  with pytest.raises(TypeError, match="z"):
    opt.update(grad, opt.init(params), params, value=value, grad=grad, value_fn=loss,
               x=xs[0], y=ys[0], z=1.0)


# ---------------------------------------------------------------------------
# value_and_grad_from_state
# ---------------------------------------------------------------------------


def _sum_of_squares(x):
  return jnp.sum(x**2)


def test_value_and_grad_from_state_computes_when_value_is_not_finite():
  params = jnp.array([1.0, 2.0, 3.0])
  state = fo.scale_by_zoom_linesearch(max_linesearch_steps=5).init(params)
  value, grad = fo.value_and_grad_from_state(_sum_of_squares)(params, state=state)
  expected = jax.value_and_grad(_sum_of_squares)(params)
  parity.assert_trees_close((value, grad), expected)


def test_value_and_grad_from_state_reuses_stored_values():
  params = jnp.array([1.0, 2.0, 3.0])
  stored = fo.ScaleByZoomLinesearchState(
      learning_rate=jnp.asarray(1.0),
      value=jnp.asarray(7.0),
      grad=jnp.array([4.0, 5.0, 6.0]),
      info=fo.ZoomLinesearchInfo(jnp.asarray(0), jnp.asarray(0.0), jnp.asarray(0.0)),
  )
  state = (fo.EmptyState(), stored)
  value, grad = fo.value_and_grad_from_state(_sum_of_squares)(params, state=state)
  parity.assert_trees_close((value, grad), (stored.value, stored.grad))


def test_value_and_grad_from_state_errors():
  params = jnp.array([1.0, 2.0])
  value_and_grad = fo.value_and_grad_from_state(_sum_of_squares)
  no_grad = fo.scale_by_backtracking_linesearch(max_backtracking_steps=5).init(params)
  with pytest.raises(ValueError, match="not found"):
    value_and_grad(params, state=no_grad)
  twice = fo.chain(
      fo.scale_by_zoom_linesearch(max_linesearch_steps=5),
      fo.scale_by_zoom_linesearch(max_linesearch_steps=5),
  ).init(params)
  with pytest.raises(KeyError, match="multiple"):
    value_and_grad(params, state=twice)


# ---------------------------------------------------------------------------
# Diagnostics (verbose=True): same messages as optax, under our name
# ---------------------------------------------------------------------------


def _printed(opt, value_fn, params, updates):
  """What one jitted line-search step prints."""
  value, grad = jax.value_and_grad(value_fn)(params)
  step = jax.jit(
      lambda p, s: opt.update(updates, s, p, value=value, grad=grad, value_fn=value_fn)
  )
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    new_updates, _ = step(params, opt.init(params))
    jax.block_until_ready(new_updates)
    jax.effects_barrier()
  return out.getvalue().replace("functional_optim.", "optax.")


# (objective, params, direction, linesearch kwargs, message expected), after optax's
# linesearch_test failure cases.
_FAILURES = {
    "not_a_descent_direction": (
        _sum_of_squares, jnp.array([60.0, 0.0]), jnp.array([1.0, 0.0]),
        dict(max_linesearch_steps=18, curv_rtol=0.5), fo._linesearch.FLAG_NOT_A_DESCENT_DIRECTION,
    ),
    "max_learning_rate_too_small": (
        _sum_of_squares, jnp.array([-60.0, 0.0]), jnp.array([1.0, 0.0]),
        dict(max_linesearch_steps=10, curv_rtol=0.5, max_learning_rate=10.0),
        fo._linesearch.FLAG_INTERVAL_NOT_FOUND,
    ),
    "flat_function": (
        lambda x: jnp.exp(-1 / x**2), jnp.asarray(-0.2), None,
        dict(max_linesearch_steps=30), fo._linesearch.FLAG_INTERVAL_TOO_SMALL,
    ),
}


@pytest.mark.parametrize("case", sorted(_FAILURES))
def test_zoom_verbose_diagnostics(case):
  value_fn, params, updates, kwargs, flag = _FAILURES[case]
  if updates is None:
    updates = -jax.grad(value_fn)(params)
  ours, theirs = (
      _printed(lib.scale_by_zoom_linesearch(verbose=True, **kwargs), value_fn, params, updates)
      for lib in (fo, optax)
  )
  assert flag in ours
  assert ours == theirs


def test_backtracking_verbose_diagnostics():
  params, updates = jnp.array([60.0, 0.0]), jnp.array([1.0, 0.0])  # an ascent direction
  kwargs = dict(max_backtracking_steps=5, verbose=True)
  ours, theirs = (
      _printed(lib.scale_by_backtracking_linesearch(**kwargs), _sum_of_squares, params, updates)
      for lib in (fo, optax)
  )
  assert "failed to find a stepsize" in ours
  assert ours == theirs


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_backtracking_steps=-1), "max_backtracking_steps"),
        (dict(slope_rtol=-0.1), "slope_rtol"),
        (dict(slope_rtol=1.0), "slope_rtol"),
        (dict(decrease_factor=0.0), "decrease_factor"),
        (dict(decrease_factor=1.0), "decrease_factor"),
        (dict(increase_factor=0.5), "increase_factor"),
        (dict(max_learning_rate=0.0), "max_learning_rate"),
        (dict(atol=-1e-3), "atol"),
        (dict(rtol=-1e-3), "rtol"),
    ],
)
def test_backtracking_invalid_hyperparameters(kwargs, name):
  kwargs = {"max_backtracking_steps": 10, **kwargs}
  with pytest.raises(ValueError, match=name):
    fo.scale_by_backtracking_linesearch(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(max_linesearch_steps=-1), "max_linesearch_steps"),
        (dict(max_learning_rate=0.0), "max_learning_rate"),
        (dict(tol=-1.0), "tol"),
        (dict(increase_factor=0.9), "increase_factor"),
        (dict(slope_rtol=1.5), "slope_rtol"),
        (dict(curv_rtol=-0.5), "curv_rtol"),
        (dict(approx_dec_rtol=-1e-6), "approx_dec_rtol"),
        (dict(stepsize_precision=-1.0), "stepsize_precision"),
        (dict(initial_guess_strategy="two"), "initial_guess_strategy"),
    ],
)
def test_zoom_invalid_hyperparameters(kwargs, name):
  kwargs = {"max_linesearch_steps": 10, **kwargs}
  with pytest.raises(ValueError, match=name):
    fo.scale_by_zoom_linesearch(**kwargs)


def test_values_used_by_optax_are_accepted():
  fo.scale_by_backtracking_linesearch(15, slope_rtol=0.0, increase_factor=math.inf, atol=0.0)
  fo.scale_by_backtracking_linesearch(15, slope_rtol=0.5, increase_factor=1.0)
  fo.scale_by_zoom_linesearch(20, curv_rtol=jnp.inf, approx_dec_rtol=None, max_learning_rate=None)
  # Traced hyperparameters (e.g. from inject_hyperparams) are not validated.
  init = lambda lr: fo.scale_by_backtracking_linesearch(10, max_learning_rate=lr).init(jnp.zeros(2))
  jax.jit(init)(1.0)
