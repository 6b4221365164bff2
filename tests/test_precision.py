"""`with_state_dtype`: bfloat16/float16 parameters with float32 optimizer state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
from functional_optim import torchlike

INNERS = {
    "adam": lambda: fo.adam(1e-2),
    "chain(clip, adamw)": lambda: fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(1e-2, weight_decay=0.1)),
    "sgd momentum": lambda: fo.sgd(1e-2, momentum=0.9),
    "torchlike.adamw": lambda: torchlike.adamw(lr=1e-2, weight_decay=0.1),
    "optax.adafactor": lambda: optax.adafactor(1e-2),
}
LOW = {"bf16": jnp.bfloat16, "f16": jnp.float16}


@st.composite
def low_precision_trees(draw):
  rng = np.random.default_rng(draw(st.integers(0, 2**16)))
  dtype = LOW[draw(st.sampled_from(sorted(LOW)))]
  shapes = draw(st.lists(st.lists(st.integers(1, 3), max_size=2).map(tuple), min_size=1, max_size=3))
  return {f"p{i}": jnp.asarray(rng.normal(size=s), dtype) for i, s in enumerate(shapes)}


def _floating_dtypes(state):
  return {str(leaf.dtype) for leaf in jax.tree.leaves(state) if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _upcast(tree):
  return jax.tree.map(lambda x: x.astype(jnp.float32), tree)


@pytest.mark.parametrize("name", sorted(INNERS))
@given(params=low_precision_trees(), seed=st.integers(0, 2**16))
def test_state_is_float32_and_stays_float32(name, params, seed):
  inner = INNERS[name]()
  tx = fo.with_state_dtype(inner, jnp.float32)
  state = tx.init(params)
  reference_state = inner.init(_upcast(params))
  assert jax.tree.structure(state) == jax.tree.structure(reference_state)
  assert _floating_dtypes(state) <= {"float32"}
  rng = np.random.default_rng(seed)
  step, reference_step = tx.update, inner.update  # eager, so both run the same ops: bit for bit
  for _ in range(3):
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    updates, state = step(grads, state, params)
    # exactly the inner transformation run on the upcast values
    reference_updates, reference_state = reference_step(_upcast(grads), reference_state, _upcast(params))
    for a, b in zip(jax.tree.leaves((updates, state)), jax.tree.leaves((reference_updates, reference_state))):
      assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    assert jax.tree.map(lambda x: x.dtype, jax.tree.leaves(state)) == jax.tree.map(
        lambda x: x.dtype, jax.tree.leaves(tx.init(params)))
    new_params = fo.apply_updates(params, updates)
    assert jax.tree.map(lambda x: x.dtype, new_params) == jax.tree.map(lambda x: x.dtype, params)
    params = new_params


@pytest.mark.parametrize("name", sorted(INNERS))
def test_float32_parameters_are_unchanged(name):
  params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
  inner, tx = INNERS[name](), fo.with_state_dtype(INNERS[name]())
  updates, state = tx.update(params, tx.init(params), params)
  reference_updates, reference_state = inner.update(params, inner.init(params), params)
  for a, b in zip(jax.tree.leaves((updates, state)), jax.tree.leaves((reference_updates, reference_state))):
    assert a.dtype == b.dtype and np.array_equal(a, b)


def test_leaves_it_cannot_hold_exactly_pass_through():
  params = {"c": jnp.ones(2, jnp.complex64), "h": jnp.ones(2, jnp.float16), "b": jnp.ones(2, jnp.bfloat16)}
  state = fo.with_state_dtype(fo.adam(1e-3), jnp.bfloat16).init(params)
  assert state[0].mu["c"].dtype == jnp.complex64
  assert state[0].mu["h"].dtype == jnp.float16  # bfloat16 cannot hold every float16
  assert state[0].mu["b"].dtype == jnp.bfloat16
  assert state[0].count.dtype == jnp.int32


@given(p=st.floats(-100, 100, width=16), u=st.floats(-1, 1, width=32))
def test_float32_updates_round_once_onto_bfloat16_parameters(p, u):
  params = jnp.asarray(p, jnp.bfloat16)
  expected = (params.astype(jnp.float32) + jnp.float32(u)).astype(jnp.bfloat16)
  assert fo.apply_updates(params, jnp.float32(u)) == expected


def _train(tx, dtype, steps=100, round_updates=False):
  """Linear regression; returns the parameters (as float32) after every step."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(64, 16)), jnp.float32)
  y = x @ jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
  params = {"w": jnp.asarray(rng.normal(size=(16, 4)) * 0.1, dtype), "b": jnp.zeros(4, dtype)}
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    def loss(p):
      p = _upcast(p)  # the loss in float32; gradients reach the parameters in their dtype
      return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)
    grads = jax.grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    if round_updates:
      updates = jax.tree.map(lambda u, p: u.astype(p.dtype), updates, params)
    return fo.apply_updates(params, updates), state

  trajectory = []
  for _ in range(steps):
    params, state = step(params, state)
    trajectory.append(_upcast(params))
  return trajectory


def _max_relative_deviation(run, reference):
  def flat(tree):
    return jnp.concatenate([leaf.ravel() for leaf in jax.tree.leaves(tree)])
  deviations = [float(jnp.linalg.norm(flat(r) - flat(q)) / jnp.linalg.norm(flat(q))) for r, q in zip(run, reference)]
  worst = float(np.max(deviations))  # NaN if any step is NaN
  return np.inf if np.isnan(worst) else worst  # a diverged run is infinitely far


def test_low_precision_runs_with_float32_state_track_the_float32_run():
  """100 steps of AdamW on bfloat16 and float16 parameters, against the float32 run.

  Measured (max over the 100 steps of |params - float32 params| / |float32 params|):
  bfloat16 parameters: 2.1e-2 with float32 state, 2.2e-2 with bfloat16 state (the
  parameters' own rounding dominates: without float32 master weights an update below
  half a bfloat16 ulp is lost either way); float16 parameters: 7.9e-4 with float32
  state, while float16 state overflows (inf). Returning the updates rounded to the
  parameters' dtype instead of in float32 changes these by under 10%.
  """
  make = lambda: torchlike.adamw(lr=1e-2, weight_decay=0.01)  # noqa: E731
  reference = _train(make(), jnp.float32)
  deviation = {}
  for name, dtype in [("bf16", jnp.bfloat16), ("f16", jnp.float16)]:
    deviation[name, "float32 state"] = _max_relative_deviation(_train(fo.with_state_dtype(make()), dtype), reference)
    deviation[name, "float32 state, rounded updates"] = _max_relative_deviation(
        _train(fo.with_state_dtype(make()), dtype, round_updates=True), reference)
    deviation[name, "own-dtype state"] = _max_relative_deviation(_train(make(), dtype), reference)
  print({k: f"{v:.2e}" for k, v in deviation.items()})
  assert deviation["bf16", "float32 state"] < 0.03
  assert deviation["bf16", "float32 state"] < 1.1 * deviation["bf16", "own-dtype state"]
  assert deviation["f16", "float32 state"] < 2e-3
  assert not deviation["f16", "own-dtype state"] < 100 * deviation["f16", "float32 state"]  # inf or far off


def test_extra_args_are_forwarded_and_upcast():
  seen = {}

  def update(updates, state, params=None, *, value):
    seen["value"] = value.dtype
    return updates, state

  inner = fo.GradientTransformationExtraArgs(lambda params: fo.EmptyState(), update)
  tx = fo.with_state_dtype(inner)
  tx.update(jnp.ones(2, jnp.bfloat16), tx.init(jnp.ones(2, jnp.bfloat16)), value=jnp.ones((), jnp.bfloat16))
  assert seen["value"] == jnp.float32


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.complex64, "not a dtype"])
def test_rejects_a_dtype_that_is_not_real_floating(dtype):
  with pytest.raises(ValueError, match="dtype must be a real floating-point dtype"):
    fo.with_state_dtype(fo.adam(1e-3), dtype)
