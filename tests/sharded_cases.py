"""functional_optim on a mesh of 8 host devices: the cases that test_sharding.py runs.

This file needs 8 devices, so jax must start with
`XLA_FLAGS=--xla_force_host_platform_device_count=8`; the suite's workers have already
started jax with one device, so `test_sharding.py` runs it in a fresh process:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 .venv/bin/python -m pytest tests/sharded_cases.py

(pytest collects it only when named; `--doctest-modules` imports it, which is harmless.)
Each transformation runs three steps of fixed gradients on parameters sharded over a 2x4 mesh,
with explicit in/out shardings and with propagated ones, and must give what the unsharded run
gives; the state must be sharded like the parameters (as optax's is). `init` runs eagerly or
with `out_shardings`: `jax.jit(tx.init)(params)` reads no parameter value, so jit drops the
parameters and puts the whole state on one device (optax's too). With `SHARDED_RESULTS`
set to a path, each comparison appends its largest difference there (one JSON line).
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

import functional_optim as fo
from functional_optim import torchlike

NUM_DEVICES = 8
NUM_STEPS = 3

# Pairwise different shapes, so a state leaf of a parameter's shape belongs to that parameter.
# (Adafactor factors `kernel` into (8,) and (16,), and `embed` into (32,) and (4,).)
SPECS = {
    "kernel": ((8, 16), P("x", "y")),
    "bias": ((24,), P("y")),
    "embed": ((32, 4), P("y", None)),
    "scale": ((), P()),
}

# name -> (ours, optax's counterpart or None, whether a cross-device reduction is involved).
# Elementwise transformations must be bit-identical to the unsharded run; those that reduce
# over a sharded axis (global norm, trust ratios, factored moments) may round differently.
CASES = {
    "adamw": (lambda: fo.adamw(1e-2, weight_decay=0.1), lambda: optax.adamw(1e-2, weight_decay=0.1),
              False),
    "sgd(momentum, nesterov)": (lambda: fo.sgd(1e-2, momentum=0.9, nesterov=True),
                                lambda: optax.sgd(1e-2, momentum=0.9, nesterov=True), False),
    "chain(clip_by_global_norm, adamw)": (
        lambda: fo.chain(fo.clip_by_global_norm(0.5), fo.adamw(1e-2)),
        lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(1e-2)), True),
    "adafactor": (lambda: fo.adafactor(1e-2, min_dim_size_to_factor=4),
                  lambda: optax.adafactor(1e-2, min_dim_size_to_factor=4), True),
    "lamb": (lambda: fo.lamb(1e-2), lambda: optax.lamb(1e-2), True),
    "MultiSteps(adamw)": (lambda: fo.MultiSteps(fo.adamw(1e-2), every_k_schedule=2),
                          lambda: optax.MultiSteps(optax.adamw(1e-2), every_k_schedule=2), False),
    "inject_hyperparams(adamw)": (
        lambda: fo.inject_hyperparams(fo.adamw)(learning_rate=1e-2, weight_decay=0.1),
        lambda: optax.inject_hyperparams(optax.adamw)(learning_rate=1e-2, weight_decay=0.1), False),
    "torchlike.adamw": (lambda: torchlike.adamw(lr=1e-2), None, False),
}


def _record(case, mode, difference):
  path = os.environ.get("SHARDED_RESULTS")
  if path:
    with open(path, "a") as f:
      f.write(json.dumps({"case": case, "mode": mode, "max_abs_diff": difference}) + "\n")


@pytest.fixture(scope="module")
def mesh():
  assert jax.device_count() == NUM_DEVICES, (
      f"{jax.device_count()} device(s): run with XLA_FLAGS=--xla_force_host_platform_device_count=8")
  return jax.make_mesh((2, 4), ("x", "y"), axis_types=(AxisType.Auto, AxisType.Auto))


def _params_and_grads():
  rng = np.random.default_rng(0)
  params = {name: jnp.asarray(rng.normal(size=shape), jnp.float32) for name, (shape, _) in SPECS.items()}
  grads = [{name: jnp.asarray(rng.normal(size=shape), jnp.float32) for name, (shape, _) in SPECS.items()}
           for _ in range(NUM_STEPS)]
  return params, grads


def _param_shardings(mesh):
  return {name: NamedSharding(mesh, spec) for name, (_, spec) in SPECS.items()}


def _state_shardings(abstract_state, mesh):
  """Sharded like the parameter of the same shape; any other leaf replicated."""
  by_shape = {shape: NamedSharding(mesh, spec) for shape, spec in SPECS.values() if shape}
  return jax.tree.map(lambda leaf: by_shape.get(leaf.shape, NamedSharding(mesh, P())), abstract_state)


def _step(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return fo.apply_updates(params, updates), state
  return step


def _run(init, step, params, grads):
  state = init(params)
  for g in grads:
    params, state = step(params, state, g)
  return params, state


def _unsharded(tx, params, grads):
  device = jax.devices()[0]
  params, grads = jax.device_put((params, grads), device)
  return _run(jax.jit(tx.init), jax.jit(_step(tx)), params, grads)


def _max_difference(actual, expected):
  differences = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(e, np.float64)), initial=0.0))
                 for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected))]
  return max(differences)


def _assert_matches_unsharded(case, mode, actual, expected, reduces):
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  difference = _max_difference(actual, expected)
  _record(case, mode, difference)
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    if reduces:  # a sum over shards in another order: float32 rounding, no more
      np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-6, atol=1e-7, err_msg=f"{case} ({mode})")
    else:
      np.testing.assert_array_equal(np.asarray(a), np.asarray(e), err_msg=f"{case} ({mode})")


def _assert_sharded_like(tree, shardings, what):
  assert jax.tree.structure(tree) == jax.tree.structure(shardings), what
  for (path, leaf), expected in zip(jax.tree_util.tree_leaves_with_path(tree), jax.tree.leaves(shardings)):
    assert leaf.sharding.is_equivalent_to(expected, leaf.ndim), (
        f"{what}{jax.tree_util.keystr(path)}: {leaf.sharding} instead of {expected}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_sharded_runs_match_the_unsharded_run(case, mesh):
  """Explicit in/out shardings, then propagated ones; the state sharded as optax's is."""
  ours, theirs, reduces = CASES[case]
  tx = ours()
  params, grads = _params_and_grads()
  expected = _unsharded(tx, params, grads)
  param_sh = _param_shardings(mesh)
  sharded_params = jax.device_put(params, param_sh)
  sharded_grads = jax.device_put(grads, [param_sh] * NUM_STEPS)

  state_sh = _state_shardings(jax.eval_shape(tx.init, params), mesh)
  init = jax.jit(tx.init, in_shardings=(param_sh,), out_shardings=state_sh)
  step = jax.jit(_step(tx), in_shardings=(param_sh, state_sh, param_sh), out_shardings=(param_sh, state_sh))
  explicit = _run(init, step, sharded_params, sharded_grads)
  _assert_sharded_like(explicit, (param_sh, state_sh), "explicit")
  _assert_matches_unsharded(case, "explicit", explicit, expected, reduces)

  # init runs eagerly: under jax.jit, init's output depends on no input value, so jit drops the
  # parameters and puts the whole state on one device (optax's too); eager zeros_like follows them.
  state = tx.init(sharded_params)
  if theirs is not None:  # sharded leaf for leaf as optax's state is
    ours_leaves, optax_leaves = jax.tree.leaves(state), jax.tree.leaves(theirs().init(sharded_params))
    assert len(ours_leaves) == len(optax_leaves), case
    for i, (a, b) in enumerate(zip(ours_leaves, optax_leaves)):
      assert a.shape == b.shape and a.sharding.is_equivalent_to(b.sharding, a.ndim), (
          f"{case}: state leaf {i} {a.shape} is {a.sharding}; optax's is {b.sharding}")
  propagated = _run(lambda _: state, jax.jit(_step(tx)), sharded_params, sharded_grads)
  _assert_matches_unsharded(case, "propagated", propagated, expected, reduces)
  new_params, new_state = propagated
  _assert_sharded_like(new_params, param_sh, "params")
  for when, tree in [("init", state), ("step", new_state)]:
    followed = _follow_params(tree, mesh)
    assert followed, f"{case}: no state leaf of a parameter's shape"
    for path, leaf, expected_sharding in followed:
      assert leaf.sharding.is_equivalent_to(expected_sharding, leaf.ndim), (
          f"{case} after {when}: state{path} is {leaf.sharding}, not like its parameter")


def _follow_params(state, mesh):
  """(path, leaf, its parameter's sharding) for each state leaf of a parameter's shape."""
  by_shape = {shape: NamedSharding(mesh, spec) for shape, spec in SPECS.values() if shape}
  return [(jax.tree_util.keystr(path), leaf, by_shape[leaf.shape])
          for path, leaf in jax.tree_util.tree_leaves_with_path(state) if leaf.shape in by_shape]


@pytest.mark.parametrize("case", ["adamw", "torchlike.adamw"])
def test_sharding_in_types_is_kept_by_update(case):
  """With an Explicit mesh (sharding in types), `update` returns a state of `init`'s types."""
  mesh = jax.make_mesh((NUM_DEVICES,), ("x",), axis_types=(AxisType.Explicit,))
  tx = CASES[case][0]()
  with jax.set_mesh(mesh):
    params = {"w": jnp.zeros((8, 4), out_sharding=NamedSharding(mesh, P("x"))),
              "b": jnp.zeros((4,), out_sharding=NamedSharding(mesh, P()))}
    state0 = jax.jit(tx.init)(params)
    _, state1 = jax.jit(_step(tx))(params, state0, params)
    assert jax.tree.map(jax.typeof, state0) == jax.tree.map(jax.typeof, state1)
    assert jax.typeof(jax.tree.leaves(state1)[0]).sharding.spec in (P(), P(None))  # a step count


def test_update_inside_shard_map_is_bit_identical(mesh):
  """adamw inside `jax.shard_map` sees each device's shard; elementwise, so nothing changes."""
  del mesh  # requested for its check of the device count
  line = jax.make_mesh((NUM_DEVICES,), ("d",), axis_types=(AxisType.Explicit,))
  tx = fo.adamw(1e-2, weight_decay=0.1)
  rng = np.random.default_rng(1)
  params = {"a": jnp.asarray(rng.normal(size=(16, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(8,)), jnp.float32)}
  grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
           for _ in range(NUM_STEPS)]
  expected = _unsharded(tx, params, grads)

  param_specs = {"a": P("d"), "b": P("d")}
  state_specs = jax.tree.map(lambda leaf: P("d") if leaf.ndim else P(), jax.eval_shape(tx.init, params))
  init = jax.jit(jax.shard_map(tx.init, mesh=line, in_specs=(param_specs,), out_specs=state_specs))
  step = jax.jit(jax.shard_map(_step(tx), mesh=line, in_specs=(param_specs, state_specs, param_specs),
                               out_specs=(param_specs, state_specs)))
  # init inside shard_map: the step count is computed per device; replicated by construction.
  shardings = jax.tree.map(lambda spec: NamedSharding(line, spec), param_specs)
  actual = _run(init, step, jax.device_put(params, shardings), jax.device_put(grads, [shardings] * NUM_STEPS))
  assert actual[0]["a"].sharding.is_equivalent_to(shardings["a"], 2)
  assert len(actual[0]["a"].addressable_shards) == NUM_DEVICES
  _assert_matches_unsharded("adamw in shard_map", "shard_map", actual, expected, reduces=False)
