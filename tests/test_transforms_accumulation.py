"""apply_every, MultiSteps, skip_not_finite, skip_large_updates against optax."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 12

# optax accumulates complex gradients in a real (float32) buffer, which drops their
# imaginary part; we accumulate them in complex64. For complex params we therefore
# compare against optax given `accumulator_dtype=complex64`, its correct setting.
MULTISTEPS_ACCUMULATES_COMPLEX = True

# optax's skip_large_updates sums `u**2`, which for complex `u` is not the squared
# norm (it is complex, and compared lexicographically); we sum `|u|**2`.
SKIP_LARGE_UPDATES_USES_MODULUS = True


def _inner(lib, name):
  return {
      "adam": lambda: lib.adam(0.05),
      "sgd_momentum": lambda: lib.sgd(0.1, momentum=0.9),
      "schedule": lambda: lib.chain(lib.scale_by_schedule(lambda c: 0.1 / (1 + c)), lib.scale(-1.0)),
  }[name]()


inners = st.sampled_from(["adam", "sgd_momentum", "schedule"])


def _with_non_finite(noise, bad_steps, value):
  """`noise` with `value` (NaN or +-inf) in the first element of the first leaf at `bad_steps`."""
  leaves, treedef = jax.tree.flatten(noise)
  for step in bad_steps:
    leaves[0] = leaves[0].at[(step,) + (0,) * (leaves[0].ndim - 1)].set(value)
  return jax.tree.unflatten(treedef, leaves)


def _poison(tree, value):
  """`tree` with `value` as the first element of its first leaf."""
  leaves, treedef = jax.tree.flatten(tree)
  leaves[0] = leaves[0].reshape(-1).at[0].set(value).reshape(leaves[0].shape)
  return jax.tree.unflatten(treedef, leaves)


def _run_both(ours, theirs, spec, noise, extra_args_fn=None):
  """Compares both trajectories on the given noise; returns ours for further checks."""
  params = spec.build()
  our = parity.trajectory(
      ours, params, noise, apply_updates=fo.apply_updates, extra_args_fn=extra_args_fn
  )
  their = parity.trajectory(
      theirs, params, noise, apply_updates=optax.apply_updates, extra_args_fn=extra_args_fn
  )
  for name, a, e in zip(("params", "updates", "final state"), our, their):
    parity.assert_trees_close(a, e, spec.dtype, name)
  return our


@given(spec=parity.pytrees(parity.ALL_DTYPES), k=st.integers(1, 4))
def test_apply_every(spec, k):
  parity.assert_same_trajectory(fo.apply_every(k), optax.apply_every(k), spec, num_steps=NUM_STEPS)


def _value_scaler(lib):
  """Multiplies the updates by the extra arg `value` (an array)."""

  def update_fn(updates, state, params=None, *, value):
    del params
    return jax.tree.map(lambda u: (u * value).astype(u.dtype), updates), state

  return lib.GradientTransformationExtraArgs(lib.init_empty_state, update_fn)


def _multi_steps_pair(spec, inner, every_k_schedule, use_grad_mean, skip, accumulator_dtype):
  """`(ours, theirs)`; `inner(lib)` and `skip(lib)` build the inner optimizer and the
  should_skip_update_fn from `lib`."""
  their_accumulator = accumulator_dtype
  if accumulator_dtype is None:
    # optax fails with None (its accumulator keeps the params' dtype at init, then is
    # cast to float32 after a step); the params' dtype is what None means here.
    their_accumulator = spec.dtype
  if spec.dtype == parity.COMPLEX64 and MULTISTEPS_ACCUMULATES_COMPLEX:
    their_accumulator = "complex64"
  ours = fo.MultiSteps(
      inner(fo), every_k_schedule, use_grad_mean, skip(fo), accumulator_dtype
  )
  theirs = optax.MultiSteps(
      inner(optax), every_k_schedule, use_grad_mean, skip(optax), their_accumulator
  )
  return ours, theirs.gradient_transformation()


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=inners,
    k=st.integers(1, 4),
    k_as_schedule=st.booleans(),
    use_grad_mean=st.booleans(),
    accumulator_dtype=st.sampled_from(["float32", "bfloat16", None]),
)
def test_multi_steps(spec, inner, k, k_as_schedule, use_grad_mean, accumulator_dtype):
  if k_as_schedule:  # one mini-step per update for the first two updates, then k
    every_k_schedule = lambda step: jnp.where(step < 2, 1, k)
  else:
    every_k_schedule = k
  ours, theirs = _multi_steps_pair(
      spec, lambda lib: _inner(lib, inner), every_k_schedule, use_grad_mean,
      lambda lib: None, accumulator_dtype,
  )
  _run_both(ours, theirs, spec, spec.noise(NUM_STEPS))


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=inners,
    k=st.integers(1, 4),
    use_grad_mean=st.booleans(),
    bad_steps=st.sets(st.integers(0, NUM_STEPS - 1), min_size=1, max_size=5),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_multi_steps_skip_not_finite(spec, inner, k, use_grad_mean, bad_steps, value):
  # The inner optimizer also reads an extra arg, which must reach it through the
  # skipping branch too.
  noise = _with_non_finite(spec.noise(NUM_STEPS), sorted(bad_steps), value)
  ours, theirs = _multi_steps_pair(
      spec, lambda lib: lib.chain(_value_scaler(lib), _inner(lib, inner)), k, use_grad_mean,
      lambda lib: lib.skip_not_finite, "float32",
  )
  our_params, _, our_state = _run_both(
      ours, theirs, spec, noise, extra_args_fn=lambda p, g: {"value": jnp.float32(0.5)}
  )
  assert all(np.isfinite(np.asarray(x, np.complex64)).all() for x in jax.tree.leaves(our_params))
  assert int(our_state.skip_state["num_not_finite"]) == int(NUM_STEPS - 1 in bad_steps)


# The complex case of skip_large_updates differs on purpose (see the flag above).
@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    inner=inners,
    k=st.integers(1, 4),
    use_grad_mean=st.booleans(),
    norm_ratio=st.floats(0.8, 1.8),
)
def test_multi_steps_skip_large_updates(spec, inner, k, use_grad_mean, norm_ratio):
  # Squared gradient norms are about 1.25 per element; scale the bound to the size.
  size = sum(int(np.prod(shape)) for shape in spec.shapes)
  max_squared_norm = norm_ratio * size
  ours, theirs = _multi_steps_pair(
      spec, lambda lib: _inner(lib, inner), k, use_grad_mean,
      lambda lib: functools.partial(lib.skip_large_updates, max_squared_norm=max_squared_norm),
      "float32",
  )
  _run_both(ours, theirs, spec, spec.noise(NUM_STEPS))


@given(k=st.integers(1, 4), k_as_schedule=st.booleans())
def test_multi_steps_has_updated(k, k_as_schedule):
  every_k_schedule = (lambda step: jnp.where(step < 1, 1, k)) if k_as_schedule else k
  ours = fo.MultiSteps(fo.sgd(0.1), every_k_schedule)
  theirs = optax.MultiSteps(optax.sgd(0.1), every_k_schedule)
  init, update = ours.gradient_transformation()
  our_update, their_update = jax.jit(update), jax.jit(theirs.update)
  params = {"w": jnp.ones(3)}
  our_state, their_state = init(params), theirs.init(params)
  assert not ours.has_updated(our_state)
  for step in range(2 * k + 2):
    grads = {"w": jnp.full(3, step + 1.0)}
    _, our_state = our_update(grads, our_state, params)
    _, their_state = their_update(grads, their_state, params)
    assert bool(ours.has_updated(our_state)) == bool(theirs.has_updated(their_state))
    first_k = 1 if k_as_schedule else k
    expected = step + 1 == first_k or (step + 1 - first_k) % k == 0 and step + 1 > first_k
    assert bool(ours.has_updated(our_state)) == expected


def test_multi_steps_complex_keeps_imaginary_part():
  ms = fo.MultiSteps(fo.sgd(1.0), 2)
  params = {"a": jnp.ones(2, jnp.complex64)}
  state = ms.init(params)
  assert state.acc_grads["a"].dtype == jnp.complex64
  _, state = ms.update({"a": jnp.full(2, 1j, jnp.complex64)}, state, params)
  updates, state = ms.update({"a": jnp.full(2, 3j, jnp.complex64)}, state, params)
  np.testing.assert_allclose(updates["a"], [-2j, -2j])


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    bad_steps=st.sets(st.integers(0, 2), max_size=3),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_skip_not_finite(spec, bad_steps, value):
  updates = _with_non_finite(spec.noise(3), sorted(bad_steps), value)
  ours = fo.skip_not_finite(updates, jnp.int32(0), None)
  theirs = optax.skip_not_finite(updates, jnp.int32(0), None)
  parity.assert_trees_close(ours, theirs)
  assert bool(ours[0]) == bool(bad_steps)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    max_squared_norm=st.floats(0.0, 60.0),
    bad=st.sampled_from([None, np.nan, np.inf]),
)
def test_skip_large_updates(spec, max_squared_norm, bad):
  updates = spec.build()
  if bad is not None:
    updates = _poison(updates, bad)
  ours = fo.skip_large_updates(updates, jnp.int32(0), None, max_squared_norm)
  theirs = optax.skip_large_updates(updates, jnp.int32(0), None, max_squared_norm)
  parity.assert_trees_close(ours, theirs, spec.dtype)


def test_skip_large_updates_complex():
  assert SKIP_LARGE_UPDATES_USES_MODULUS
  updates = [jnp.array([1 + 2j, 3j], jnp.complex64)]
  should_skip, info = fo.skip_large_updates(updates, 0, None, max_squared_norm=13.0)
  assert bool(should_skip) and float(info["norm_squared"]) == 14.0
  assert not bool(fo.skip_large_updates(updates, 0, None, max_squared_norm=15.0)[0])


def test_multi_steps_rejects_non_boolean_skip():
  ms = fo.MultiSteps(fo.sgd(0.1), 2, should_skip_update_fn=lambda u, s, p: (jnp.int32(0), ()))
  with pytest.raises(ValueError, match="should_skip_update_fn"):
    ms.update(jnp.ones(1), ms.init(jnp.ones(1)))


def test_multi_steps_surface():
  ms = fo.MultiSteps(fo.sgd(0.1), every_k_schedule=2)
  tx = ms.gradient_transformation()
  assert isinstance(tx, fo.GradientTransformation)
  assert isinstance(ms.init(jnp.ones(1)), fo.MultiStepsState)
  assert ms.inner_opt.init is not None
  # Usable wherever a transformation is, e.g. in a chain.
  chained = fo.chain(ms, fo.scale(2.0))
  updates, _ = chained.update(jnp.ones(1), chained.init(jnp.ones(1)))
  np.testing.assert_array_equal(updates, [0.0])


def test_invalid_hyperparameters():
  with pytest.raises(ValueError, match="every_k_schedule"):
    fo.MultiSteps(fo.sgd(0.1), every_k_schedule=0)
  with pytest.raises(ValueError, match="k"):
    fo.apply_every(0)
  with pytest.raises(ValueError, match="k"):
    fo.apply_every(1.5)
