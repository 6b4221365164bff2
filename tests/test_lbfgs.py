"""scale_by_lbfgs and lbfgs against optax."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_linesearch import PROBLEMS
from test_linesearch import assert_same_run
from test_linesearch import make_objective
from test_linesearch import no_shrink
from test_linesearch import run
from test_linesearch import small_pytrees


@no_shrink
@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    memory_size=st.integers(1, 12),
    scale_init_precond=st.booleans(),
    learning_rate=st.floats(1e-3, 0.5),
    form=st.sampled_from(["scale_by_lbfgs", "lbfgs", "lbfgs_with_schedule"]),
)
def test_scale_by_lbfgs(spec, memory_size, scale_init_precond, learning_rate, form):
  """Fixed step sizes, on the harness's parameter-dependent gradients.

  `lbfgs(linesearch=None)` is `scale_by_lbfgs` then `scale_by_learning_rate`.
  """
  if form == "scale_by_lbfgs":
    ours = fo.chain(fo.scale_by_lbfgs(memory_size, scale_init_precond), fo.scale(-learning_rate))
    theirs = optax.chain(
        optax.scale_by_lbfgs(memory_size, scale_init_precond), optax.scale(-learning_rate)
    )
  else:
    if form == "lbfgs_with_schedule":
      learning_rate = lambda count, lr=learning_rate: lr * 0.9**count
    kwargs = dict(
        learning_rate=learning_rate,
        memory_size=memory_size,
        scale_init_precond=scale_init_precond,
        linesearch=None,
    )
    ours, theirs = fo.lbfgs(**kwargs), optax.lbfgs(**kwargs)
  parity.assert_same_trajectory(ours, theirs, spec)


@no_shrink
@given(
    spec=small_pytrees(parity.ALL_DTYPES),
    problem=st.sampled_from(PROBLEMS),
    memory_size=st.integers(1, 12),
    scale_init_precond=st.booleans(),
    learning_rate=st.none() | st.floats(0.1, 1.0),
    linesearch=st.sampled_from(["default", "zoom_keep", "backtracking"]),
)
def test_lbfgs(spec, problem, linesearch, **kwargs):
  """The standard loop: value and gradient reused from the line search's state."""

  def make_opt(lib):
    if linesearch == "default":
      return lib.lbfgs(**kwargs)
    if linesearch == "zoom_keep":
      ls = lib.scale_by_zoom_linesearch(max_linesearch_steps=15, initial_guess_strategy="keep")
    else:
      ls = lib.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True)
    return lib.lbfgs(linesearch=ls, **kwargs)

  if linesearch == "backtracking" and spec.dtype != parity.FLOAT32:
    # Where the backtracking line search deviates from optax (see
    # OPTAX_BF16_STORE_GRAD_FAILS, OPTAX_COMPLEX_BACKTRACKING_SLOPE_WRONG in
    # test_linesearch.py, which tests those dtypes), test float32 here.
    spec = parity.TreeSpec(spec.shapes, parity.FLOAT32, spec.seed)
  assert_same_run(make_opt, make_objective(problem, spec), spec)


def test_lbfgs_minimizes_rosenbrock():
  """Not only the same as optax: L-BFGS with its zoom line search solves the problem."""

  def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

  params, _, values, _ = run(fo, fo.lbfgs(), rosenbrock, jnp.zeros(4), num_steps=60)
  np.testing.assert_allclose(params[-1], jnp.ones(4), atol=1e-3)
  values = np.asarray(values)
  # Monotone up to the slack of the approximate decrease criterion (approx_dec_rtol).
  assert np.all(values[1:] <= values[:-1] + 1e-6 * np.abs(values[:-1]))


def test_default_linesearch_matches_optax():
  ours = fo.lbfgs().init(jnp.zeros(3))[-1]
  theirs = optax.lbfgs().init(jnp.zeros(3))[-1]
  assert type(ours).__name__ == type(theirs).__name__ == "ScaleByZoomLinesearchState"


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_lbfgs, dict(memory_size=0), "memory_size"),
        (fo.scale_by_lbfgs, dict(memory_size=2.5), "memory_size"),
        (fo.lbfgs, dict(memory_size=-1), "memory_size"),
        (fo.lbfgs, dict(learning_rate=-0.1), "learning_rate"),
    ],
)
def test_invalid_hyperparameters(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
