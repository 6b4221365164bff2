"""conditionally_transform, conditionally_mask, apply_if_finite against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 10


def _inner(lib, name):
  """A stateful inner transformation, built from `lib` (fo or optax)."""
  return {
      "adam": lambda: lib.adam(0.05),
      "sgd_momentum": lambda: lib.sgd(0.1, momentum=0.9),
      "schedule": lambda: lib.chain(lib.scale_by_schedule(lambda c: 0.1 / (1 + c)), lib.scale(-1.0)),
  }[name]()


inners = st.sampled_from(["adam", "sgd_momentum", "schedule"])


def _with_non_finite(noise, bad_steps, leaf_index, value):
  """`noise` with `value` (NaN or +-inf) in one element of one leaf at `bad_steps`."""
  leaves, treedef = jax.tree.flatten(noise)
  leaf = leaves[leaf_index % len(leaves)]
  for step in bad_steps:
    leaf = leaf.at[(step,) + (0,) * (leaf.ndim - 1)].set(value)
  leaves[leaf_index % len(leaves)] = leaf
  return jax.tree.unflatten(treedef, leaves)


def _assert_same_on_noise(ours, theirs, spec, noise, **kwargs):
  """`parity.assert_same_trajectory` on given (e.g. non-finite) per-step noise."""
  params = spec.build()
  our = parity.trajectory(ours, params, noise, apply_updates=fo.apply_updates, **kwargs)
  their = parity.trajectory(theirs, params, noise, apply_updates=optax.apply_updates, **kwargs)
  for name, a, e in zip(("params", "updates", "final state"), our, their):
    parity.assert_trees_close(a, e, spec.dtype, name)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=inners,
    period=st.integers(1, 4),
    phase=st.integers(0, 3),
    mask=st.booleans(),
)
def test_conditionally_transform_and_mask(spec, inner, period, phase, mask):
  should_transform = lambda step: step % period == phase % period
  ours = fo.conditionally_mask if mask else fo.conditionally_transform
  theirs = optax.conditionally_mask if mask else optax.conditionally_transform
  parity.assert_same_trajectory(
      ours(_inner(fo, inner), should_transform),
      theirs(_inner(optax, inner), should_transform),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    threshold=st.floats(0.0, 3.0),
    forward_extra_args=st.booleans(),
    mask=st.booleans(),
)
def test_conditional_forward_extra_args(spec, threshold, forward_extra_args, mask):
  # With forward_extra_args the condition reads `loss`; without, it must not get it.
  if forward_extra_args:
    should_transform = lambda step, loss: loss > threshold
  else:
    should_transform = lambda step: step % 2 == 0
  extra_args_fn = lambda p, g: {"loss": jnp.real(fo.tree.norm(p))}
  ours = fo.conditionally_mask if mask else fo.conditionally_transform
  theirs = optax.conditionally_mask if mask else optax.conditionally_transform
  parity.assert_same_trajectory(
      ours(_inner(fo, "adam"), should_transform, forward_extra_args),
      theirs(_inner(optax, "adam"), should_transform, forward_extra_args),
      spec,
      extra_args_fn=extra_args_fn,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=inners,
    max_consecutive_errors=st.integers(0, 3),
    bad_steps=st.sets(st.integers(0, NUM_STEPS - 1), max_size=6),
    leaf_index=st.integers(0, 3),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_apply_if_finite(spec, inner, max_consecutive_errors, bad_steps, leaf_index, value):
  noise = _with_non_finite(spec.noise(NUM_STEPS), sorted(bad_steps), leaf_index, value)
  _assert_same_on_noise(
      fo.apply_if_finite(_inner(fo, inner), max_consecutive_errors),
      optax.apply_if_finite(_inner(optax, inner), max_consecutive_errors),
      spec,
      noise,
  )


def test_apply_if_finite_counters():
  tx = fo.apply_if_finite(fo.sgd(1.0), max_consecutive_errors=2)
  update = jax.jit(tx.update)
  state = tx.init(jnp.zeros(2))
  finite, nan = jnp.ones(2), jnp.array([1.0, jnp.nan])
  expected = [  # (gradient, updates, notfinite_count, last_finite, total_notfinite)
      (nan, [0.0, 0.0], 1, False, 1),
      (nan, [0.0, 0.0], 2, False, 2),
      (finite, [-1.0, -1.0], 0, True, 2),
      (nan, [0.0, 0.0], 1, False, 3),
      (nan, [0.0, 0.0], 2, False, 4),
      (nan, [-1.0, np.nan], 3, False, 5),  # a third in a row is applied
  ]
  for grads, updates, notfinite_count, last_finite, total_notfinite in expected:
    new_updates, state = update(grads, state)
    np.testing.assert_array_equal(new_updates, updates)
    assert int(state.notfinite_count) == notfinite_count
    assert bool(state.last_finite) == last_finite
    assert int(state.total_notfinite) == total_notfinite


def test_conditional_extra_args_reach_inner():
  def make(lib):
    def update_fn(updates, state, params=None, *, loss):
      del params
      return jax.tree.map(lambda u: u * loss, updates), state

    return lib.GradientTransformationExtraArgs(lib.init_empty_state, update_fn)

  for name in ("conditionally_transform", "conditionally_mask"):
    tx = getattr(fo, name)(make(fo), lambda step: step == 0)
    updates, _ = tx.update(jnp.ones(1), tx.init(jnp.ones(1)), loss=3.0)
    np.testing.assert_array_equal(updates, [3.0])
  tx = fo.apply_if_finite(make(fo), 1)
  np.testing.assert_array_equal(tx.update(jnp.ones(1), tx.init(jnp.ones(1)), loss=3.0)[0], [3.0])


def test_invalid_hyperparameters():
  with pytest.raises(ValueError, match="max_consecutive_errors"):
    fo.apply_if_finite(fo.identity(), -1)
