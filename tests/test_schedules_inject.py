"""inject_hyperparams and friends against optax.

Transformations of this project are wrapped with constant and scheduled
hyperparameters and run side by side with optax's (same trajectory, same state
leaves); hyperparameters edited in `state.hyperparams` between steps must change the
next update exactly as they do in optax.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 6


def _schedules(low, high):
  """Draws `make(lib)`: a constant, or a schedule built from `lib` (fo or optax)."""
  value = st.floats(low, high)
  constant = value.map(lambda v: lambda lib: v)
  array = value.map(lambda v: lambda lib: jnp.asarray(v))
  exponential = st.tuples(value, st.floats(0.3, 1.0)).map(
      lambda a: lambda lib: lib.exponential_decay(a[0], transition_steps=2, decay_rate=a[1])
  )
  warmup_cosine = value.map(
      lambda v: lambda lib: lib.warmup_cosine_decay_schedule(0.0, v, warmup_steps=2, decay_steps=8)
  )
  piecewise = value.map(
      lambda v: lambda lib: lib.piecewise_constant_schedule(v, {3: 0.5, 5: 0.1})
  )
  plain = value.map(lambda v: lambda lib: lambda count: v / (1 + count))
  return st.one_of(constant, array, exponential, warmup_cosine, piecewise, plain)


hyperparam_dtypes = st.sampled_from([None, jnp.float32, jnp.bfloat16])


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=_schedules(1e-3, 1.0),
    flip_sign=st.booleans(),
    hyperparam_dtype=hyperparam_dtypes,
)
def test_scale_by_learning_rate(spec, learning_rate, flip_sign, hyperparam_dtype):
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.scale_by_learning_rate, hyperparam_dtype=hyperparam_dtype)(
          learning_rate(fo), flip_sign=flip_sign
      ),
      optax.inject_hyperparams(optax.scale_by_learning_rate, hyperparam_dtype=hyperparam_dtype)(
          learning_rate(optax), flip_sign=flip_sign
      ),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    weight_decay=_schedules(0.0, 0.5),
    use_mask=st.booleans(),
)
def test_add_decayed_weights(spec, weight_decay, use_mask):
  # A mask function is callable, so it must be declared static, as in optax.
  mask = (lambda p: jax.tree.map(lambda x: x.ndim > 1, p)) if use_mask else None
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.add_decayed_weights, static_args="mask")(weight_decay(fo), mask),
      optax.inject_hyperparams(optax.add_decayed_weights, static_args="mask")(
          weight_decay(optax), mask
      ),
      spec,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), step_size=_schedules(-1.0, 1.0))
def test_scale(spec, step_size):
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.scale)(step_size(fo)),
      optax.inject_hyperparams(optax.scale)(step_size(optax)),
      spec,
  )


def _adam_cases():
  # With bfloat16 parameters, a float32 `b1` (a schedule's output under jit, or a
  # strongly typed array, which inject_hyperparams leaves uncast, as optax does) turns
  # Adam's bfloat16 `mu` into float32: the state changes dtype and optax itself fails
  # in a scan. So b1 is scheduled with float32 parameters only.
  float32 = st.tuples(parity.pytrees([parity.FLOAT32]), _schedules(0.0, 0.95))
  bfloat16 = st.tuples(
      parity.pytrees([parity.BFLOAT16]), st.floats(0.0, 0.95).map(lambda v: lambda lib: v)
  )
  return float32 | bfloat16


@pytest.mark.skipif(not hasattr(fo, "adam"), reason="fo.adam is not written yet")
@given(case=_adam_cases(), learning_rate=_schedules(1e-3, 0.5), b2=st.floats(0.5, 0.999))
def test_adam(case, learning_rate, b2):
  spec, b1 = case
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.adam)(learning_rate(fo), b1=b1(fo), b2=b2),
      optax.inject_hyperparams(optax.adam)(learning_rate(optax), b1=b1(optax), b2=b2),
      spec,
  )


@pytest.mark.skipif(not hasattr(fo, "sgd"), reason="fo.sgd is not written yet")
@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=_schedules(1e-3, 0.5),
    momentum=st.none() | st.floats(0.0, 0.95),
    nesterov=st.booleans(),
)
def test_sgd(spec, learning_rate, momentum, nesterov):
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.sgd)(learning_rate(fo), momentum=momentum, nesterov=nesterov),
      optax.inject_hyperparams(optax.sgd)(
          learning_rate(optax), momentum=momentum, nesterov=nesterov
      ),
      spec,
  )


def _run_with_edits(tx, spec, name, edits, apply_updates):
  """Steps `tx.update` under jit, setting `state.hyperparams[name]` before each step."""
  params = spec.build()
  noise = spec.noise(len(edits))
  update = jax.jit(tx.update)
  state = tx.init(params)
  trajectory = []
  for step, new_value in enumerate(edits):
    if new_value is not None:
      state.hyperparams[name] = new_value
    grads = parity.quadratic_grad(params, jax.tree.map(lambda n: n[step], noise))
    updates, state = update(grads, state, params)
    params = apply_updates(params, updates)
    trajectory.append((updates, params, state))
  return trajectory


edits = st.lists(
    st.none() | st.floats(0.0, 1.0) | st.floats(0.0, 1.0).map(jnp.asarray),
    min_size=NUM_STEPS,
    max_size=NUM_STEPS,
)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    factory_name=st.sampled_from(["scale_by_learning_rate", "add_decayed_weights", "scale"]),
    initial=st.floats(0.0, 1.0),
    edits=edits,
)
def test_editing_hyperparams_between_steps(spec, factory_name, initial, edits):
  name = {"scale_by_learning_rate": "learning_rate", "add_decayed_weights": "weight_decay",
          "scale": "step_size"}[factory_name]
  ours = _run_with_edits(
      fo.inject_hyperparams(getattr(fo, factory_name))(initial), spec, name, edits,
      fo.apply_updates,
  )
  theirs = _run_with_edits(
      optax.inject_hyperparams(getattr(optax, factory_name))(initial), spec, name, edits,
      optax.apply_updates,
  )
  for step, (our_step, their_step) in enumerate(zip(ours, theirs)):
    parity.assert_trees_close(our_step, their_step, spec.dtype, f"step {step}")


@pytest.mark.skipif(not hasattr(fo, "adam"), reason="fo.adam is not written yet")
@pytest.mark.parametrize("dtype", parity.REAL_DTYPES)
def test_editing_adam_b1_between_steps(dtype):
  spec = parity.TreeSpec(shapes=((2, 3), (), (4,)), dtype=dtype, seed=5)
  edits = [None, 0.5, None, jnp.asarray(0.0, jnp.dtype(dtype)), 0.9, None]
  ours = _run_with_edits(fo.inject_hyperparams(fo.adam)(0.1), spec, "b1", edits, fo.apply_updates)
  theirs = _run_with_edits(
      optax.inject_hyperparams(optax.adam)(0.1), spec, "b1", edits, optax.apply_updates
  )
  for step, (our_step, their_step) in enumerate(zip(ours, theirs)):
    parity.assert_trees_close(our_step, their_step, spec.dtype, f"step {step}")


def test_editing_a_scheduled_hyperparam_has_no_effect_like_optax():
  spec = parity.TreeSpec(shapes=((3,), ()), dtype=parity.FLOAT32, seed=1)
  edits = [None, 5.0, None, 7.0]
  runs = [
      _run_with_edits(
          lib.inject_hyperparams(lib.scale_by_learning_rate)(lib.linear_schedule(1.0, 0.0, 4)),
          spec, "learning_rate", edits, lib.apply_updates,
      )
      for lib in (fo, optax)
  ]
  unedited = _run_with_edits(
      fo.inject_hyperparams(fo.scale_by_learning_rate)(fo.linear_schedule(1.0, 0.0, 4)),
      spec, "learning_rate", [None] * 4, fo.apply_updates,
  )
  for ours, theirs, plain in zip(*runs, unedited):
    parity.assert_trees_close(ours, theirs, err_msg="vs optax")
    parity.assert_trees_close(ours[:2], plain[:2], err_msg="vs unedited")


def test_new_hyperparam_values_do_not_recompile():
  traces = []
  tx = fo.inject_hyperparams(fo.scale_by_learning_rate)(learning_rate=0.1)

  @jax.jit
  def step(grads, state):
    traces.append(None)
    return tx.update(grads, state)

  state = tx.init(jnp.zeros(3))
  for lr in (0.1, 0.2, 0.3):
    state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
    updates, state = step(jnp.ones(3), state)
    np.testing.assert_allclose(updates, -lr * np.ones(3), rtol=1e-6)
  assert len(traces) == 1


class _LossScaledSchedule:
  """A stateful schedule using an extra argument of `update` (`value`): its state
  is a running mean of the loss, and its value a step size that shrinks with it."""

  def init(self):
    return {"mean": jnp.zeros([], jnp.float32), "count": jnp.zeros([], jnp.int32)}

  def update(self, state, value=0.0, **extra_args):
    del extra_args
    count = state["count"] + 1
    mean = state["mean"] + (value - state["mean"]) / count
    return {"mean": mean, "count": count}

  def __call__(self, state, value=0.0, **extra_args):
    del extra_args
    return 0.1 / (1.0 + state["mean"] + 0.5 * value)


@given(spec=parity.pytrees(parity.REAL_DTYPES), wrapped=st.booleans())
def test_stateful_schedules(spec, wrapped):
  loss = lambda params, grads: {"value": 0.5 * optax.tree.norm(params, squared=True)}
  if wrapped:
    ours = fo.WrappedSchedule(fo.exponential_decay(0.2, 2, 0.5))
    theirs = optax.WrappedSchedule(optax.exponential_decay(0.2, 2, 0.5))
  else:
    ours = theirs = _LossScaledSchedule()
  parity.assert_same_trajectory(
      fo.inject_hyperparams(fo.scale_by_learning_rate)(ours),
      optax.inject_hyperparams(optax.scale_by_learning_rate)(theirs),
      spec,
      extra_args_fn=loss,
  )


def test_wrapped_schedule_matches_optax():
  ours = fo.WrappedSchedule(fo.linear_schedule(1.0, 0.0, 5))
  theirs = optax.WrappedSchedule(optax.linear_schedule(1.0, 0.0, 5))
  our_state, their_state = ours.init(), theirs.init()
  for _ in range(7):
    parity.assert_trees_close(our_state, their_state)
    parity.assert_trees_close(ours(our_state, value=1.0), theirs(their_state, value=1.0))
    our_state, their_state = ours.update(our_state, value=1.0), theirs.update(their_state)


@pytest.mark.parametrize(
    "params",
    [
        {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)},
        {"a": jnp.ones(2, jnp.bfloat16), "b": jnp.ones(2, jnp.int32)},
        [],
    ],
)
def test_hyperparam_dtype_follows_highest_param_dtype(params):
  for with_params in (True, False):
    states = []
    for lib in (fo, optax):
      tx = lib.inject_hyperparams(lib.scale)(0.5)
      state = tx.init(params)
      _, state = tx.update(params, state, params if with_params else None)
      states.append(state)
    parity.assert_trees_close(*states, err_msg=f"with_params={with_params}")


def test_argument_kinds_sorted_like_optax():
  def factory(a, b=2, c=jnp.ones(2), d=np.float32(1.0), e=None, f=True, g="x", h=np.ones(3)):
    del b, c, d, e, f, g, h
    return fo.scale(a)

  keys = [
      set(lib.inject_hyperparams(factory)(lambda count: 0.5).init(jnp.zeros(1)).hyperparams)
      for lib in (fo, optax)
  ]
  assert keys[0] == keys[1] == {"a", "b", "c", "h"}


def test_inject_stateful_hyperparams_is_deprecated_alias():
  spec = parity.TreeSpec(shapes=((2, 3),), dtype=parity.FLOAT32, seed=3)
  with pytest.warns(DeprecationWarning):
    ours = fo.inject_stateful_hyperparams(fo.scale_by_learning_rate)(
        fo.linear_schedule(1.0, 0.1, 5)
    )
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    theirs = optax.inject_stateful_hyperparams(optax.scale_by_learning_rate)(
        optax.linear_schedule(1.0, 0.1, 5)
    )
  parity.assert_same_trajectory(ours, theirs, spec)


def test_state_types_and_names():
  state = fo.inject_hyperparams(fo.scale)(1.0).init(jnp.zeros(1))
  assert isinstance(state, fo.InjectStatefulHyperparamsState)
  assert fo.InjectStatefulHyperparamsState._fields == optax.InjectStatefulHyperparamsState._fields
  assert fo.InjectHyperparamsState._fields == optax.InjectHyperparamsState._fields
  tx = fo.inject_hyperparams(fo.scale)(1.0)
  assert isinstance(tx, fo.GradientTransformationExtraArgs)
  assert fo.inject_hyperparams(fo.scale).__name__ == "scale"


def test_invalid_static_args_raise():
  # Raised by optax as well.
  with pytest.raises(ValueError, match="static_args"):
    fo.inject_hyperparams(fo.scale, static_args="learning_rate")
  with pytest.raises(ValueError, match="static_args"):
    fo.inject_hyperparams(fo.add_decayed_weights, static_args=["mask", "nope"])
