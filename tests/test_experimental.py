"""functional_optim.experimental.aggregating against optax.experimental.aggregating."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from functional_optim.experimental import aggregating

THEIRS = optax.experimental.aggregating
# With accumulation_steps > 1, optax 0.2.8's mean/variance statistics promote bfloat16 state to
# float32: get_per_element_mean_and_sum_sq_diff_grads multiplies by the float32 array
# `micro_step * batch_size / new_micro_step`, track_per_element_mean_and_variance_with_ema by
# `1 / (sample_size - 1)` with an int32-array sample_size. The state changes dtype, so a scan
# (or the `lax.cond` in `process`) raises a TypeError. Ours keeps the state's dtypes.
OPTAX_EMA_PROMOTES_BFLOAT16_WHEN_ACCUMULATING = True
NUM_STEPS = 6
# Per-example axes: one batch axis, or two (e.g. devices x examples).
BATCHES = st.sampled_from([((3,), 0), ((1,), 0), ((2, 3), (0, 1))])


def _optax_names(module):
  """The names optax's module defines (not the ones it imports)."""
  return sorted(
      n for n, v in vars(module).items()
      if not n.startswith("_") and getattr(v, "__module__", module.__name__) == module.__name__
      and not inspect.ismodule(v)
  )


def test_same_names_and_signatures_as_optax():
  expected = _optax_names(THEIRS) + ["AggregatedUpdates", "MaybeAxis", "PerElementUpdates"]
  assert sorted(fo.experimental._aggregating.__all__) == sorted(expected)
  assert sorted(n for n in vars(aggregating) if not n.startswith("_")) == sorted(expected)
  assert fo.experimental.__all__ == optax.experimental.__all__ == ["aggregating"]
  for name in expected:
    ours, theirs = getattr(aggregating, name), getattr(THEIRS, name)
    if inspect.isfunction(theirs):
      assert [(p.name, p.kind, p.default) for p in inspect.signature(ours).parameters.values()] == [
          (p.name, p.kind, p.default) for p in inspect.signature(theirs).parameters.values()
      ], name
    elif inspect.isclass(theirs) and hasattr(theirs, "_fields"):
      assert ours._fields == theirs._fields, name


def _per_example_trajectory(tx, apply_updates, params, noise):
  """`NUM_STEPS` steps of `tx` fed per-example gradients `0.5 * params + noise[step]`."""

  def step(carry, step_noise):
    p, state = carry
    grads = jax.tree.map(lambda x, n: (0.5 * x + n).astype(x.dtype), p, step_noise)
    updates, state = tx.update(grads, state, p)
    p = apply_updates(p, updates)
    return (p, state), (p, updates)

  @jax.jit
  def run(p, n):
    (_, final_state), (ps, us) = jax.lax.scan(step, (p, tx.init(p)), n)
    return ps, us, final_state

  return run(params, noise)


def _inputs(spec, batch_shape):
  """Parameters and per-step, per-example gradient noise."""
  noise = parity.TreeSpec(
      tuple((NUM_STEPS, *batch_shape, *shape) for shape in spec.shapes), spec.dtype, spec.seed + 1
  ).build()
  return spec.build(), noise


def _assert_same(ours, theirs, spec, batch_shape):
  params, noise = _inputs(spec, batch_shape)
  ours_out = _per_example_trajectory(ours, fo.apply_updates, params, noise)
  theirs_out = _per_example_trajectory(theirs, optax.apply_updates, params, noise)
  for what, a, b in zip(("params", "updates", "final state"), ours_out, theirs_out):
    parity.assert_trees_close(a, b, spec.dtype, what)
  return ours_out[2], theirs_out[2]


def _assert_keeps_dtypes(tx, spec, batch_shape):
  params, noise = _inputs(spec, batch_shape)
  _, _, state = _per_example_trajectory(tx, fo.apply_updates, params, noise)  # scan checks dtypes
  assert jax.tree.map(lambda x: x.dtype, state) == jax.tree.map(lambda x: x.dtype, tx.init(params))


def _clip_then_average(lib, projections, max_norm, axis):
  clip_each = lambda gs, _: jax.vmap(lambda g: projections.projection_l2_ball(g, max_norm))(gs)
  average = lambda gs, s, _: (jax.tree.map(lambda g: jnp.mean(g, axis), gs), s)
  return lib.experimental.aggregating.process(
      lib.stateless(clip_each),
      lib.experimental.aggregating.Aggregator(init=lib.init_empty_state, update=average),
      lib.adam(learning_rate=0.1),
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES, max_rank=2), max_norm=st.floats(0.01, 10.0))
def test_process_per_example_clipping(spec, max_norm):
  ours = _clip_then_average(fo, fo.projections, max_norm, 0)
  theirs = _clip_then_average(optax, optax.projections, max_norm, 0)
  assert isinstance(ours, aggregating.Aggregator)
  _assert_same(ours, theirs, spec, (3,))


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_rank=2),
    batch=BATCHES,
    averaged=st.booleans(),
    accumulation_steps=st.integers(1, 4),
    learning_rate=st.floats(1e-3, 1.0),
)
def test_average_incrementally_updates(spec, batch, averaged, accumulation_steps, learning_rate):
  batch_shape, axis = batch if averaged else ((), None)

  def make(lib):
    agg = lib.experimental.aggregating.average_incrementally_updates(axis, accumulation_steps)
    return lib.experimental.aggregating.process(lib.identity(), agg, lib.adam(learning_rate))

  _assert_same(make(fo), make(optax), spec, batch_shape)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_rank=2),
    batch=BATCHES,
    ema_decay=st.floats(0.0, 0.99),
    accumulation_steps=st.integers(1, 3),
)
def test_add_mean_variance_to_opt(spec, batch, ema_decay, accumulation_steps):
  batch_shape, axis = batch
  if accumulation_steps == 1 and np.prod(batch_shape) == 1:
    batch_shape = (2,)  # a sample variance needs two samples

  def make(lib):
    return lib.experimental.aggregating.add_mean_variance_to_opt(
        lib.sgd(0.1, momentum=0.9), ema_decay, axis, accumulation_steps
    )

  if (OPTAX_EMA_PROMOTES_BFLOAT16_WHEN_ACCUMULATING and spec.dtype == parity.BFLOAT16
      and accumulation_steps > 1):
    with pytest.raises(TypeError, match="must have equal"):
      _per_example_trajectory(make(optax), optax.apply_updates, *_inputs(spec, batch_shape))
    return _assert_keeps_dtypes(make(fo), spec, batch_shape)
  our_state, their_state = _assert_same(make(fo), make(optax), spec, batch_shape)
  parity.assert_trees_close(
      aggregating.get_unbiased_mean_and_variance_ema(our_state),
      THEIRS.get_unbiased_mean_and_variance_ema(their_state),
      spec.dtype,
      "unbiased mean and variance",
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), accumulation_steps=st.integers(1, 4))
def test_accumulate_avg_updates(spec, accumulation_steps):
  parity.assert_same_trajectory(
      aggregating.accumulate_avg_updates(accumulation_steps),
      THEIRS.accumulate_avg_updates(accumulation_steps),
      spec,
  )


def test_mean_and_variance_are_the_sample_statistics():
  """Over 3 microbatches of 4 examples: the mean and unbiased variance of all 12."""
  grads = jnp.arange(24.0).reshape(3, 4, 2) ** 1.5
  tx = aggregating.add_mean_variance_to_opt(fo.identity(), ema_decay=0.0, accumulation_steps=3)
  state = tx.init(jnp.zeros(2))
  for g in grads:
    updates, state = tx.update(g, state)
  mean, var = aggregating.get_unbiased_mean_and_variance_ema(state)
  all_grads = grads.reshape(12, 2)
  np.testing.assert_allclose(updates, all_grads.mean(0), rtol=1e-6)
  np.testing.assert_allclose(mean, all_grads.mean(0), rtol=1e-6)
  np.testing.assert_allclose(var, all_grads.var(0, ddof=1), rtol=1e-5)


def test_rejects_invalid():
  with pytest.raises(ValueError, match="accumulation_steps"):
    aggregating.accumulate_avg_updates(0)
  with pytest.raises(ValueError, match="same batch size"):
    aggregating.get_batch_size_from_per_elt_updates((jnp.zeros((2, 3)), jnp.zeros((3, 3))), 0)
  with pytest.raises(ValueError, match="PerElementMeanAndVarianceEMAState"):
    aggregating.get_unbiased_mean_and_variance_ema(fo.adam(0.1).init(jnp.zeros(2)))
