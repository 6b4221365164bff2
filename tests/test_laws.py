"""Laws every transformation obeys, checked over a catalogue of the whole library.

- chain(identity(), t) == t, and chain is associative;
- update never changes the state's structure, shapes or dtypes;
- jit(update) == update;
- update works under jax.vmap over a batch of optimizers (states and parameters).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functional_optim as fo
import parity


def _value_of_quadratic(params, grads):
  del grads
  return {"value": 0.25 * fo.tree.norm(params, squared=True)}


def _quadratic(params):
  return 0.25 * fo.tree.norm(params, squared=True)


def _quadratic_grad(params, noise):
  del noise  # line searches need a gradient consistent with the value
  return jax.tree.map(lambda p: 0.5 * p, params)


def _linesearch_args(params, grads):
  return {"value": _quadratic(params), "grad": grads, "value_fn": _quadratic}


def _first(params):
  return jax.tree.leaves(params)[0] is not None


# name -> (constructor, extra_args_fn, grad_fn)
CATALOGUE = {
    "identity": (fo.identity, None, None),
    "set_to_zero": (fo.set_to_zero, None, None),
    "scale": (lambda: fo.scale(0.5), None, None),
    "scale_by_schedule": (lambda: fo.scale_by_schedule(lambda c: 0.9**c), None, None),
    "add_decayed_weights": (lambda: fo.add_decayed_weights(0.1), None, None),
    "add_noise": (lambda: fo.add_noise(0.01, 0.55, key=0), None, None),
    "trace": (lambda: fo.trace(0.9, nesterov=True), None, None),
    "ema": (lambda: fo.ema(0.9), None, None),
    "centralize": (fo.centralize, None, None),
    "clip": (lambda: fo.clip(0.5), None, None),
    "clip_by_global_norm": (lambda: fo.clip_by_global_norm(0.5), None, None),
    "clip_by_block_rms": (lambda: fo.clip_by_block_rms(0.5), None, None),
    "adaptive_grad_clip": (lambda: fo.adaptive_grad_clip(0.1), None, None),
    "keep_params_nonnegative": (fo.keep_params_nonnegative, None, None),
    "zero_nans": (fo.zero_nans, None, None),
    "normalize_by_update_norm": (fo.normalize_by_update_norm, None, None),
    "scale_by_adam": (fo.scale_by_adam, None, None),
    "scale_by_amsgrad": (fo.scale_by_amsgrad, None, None),
    "scale_by_adamax": (fo.scale_by_adamax, None, None),
    "scale_by_adan": (fo.scale_by_adan, None, None),
    "scale_by_adadelta": (fo.scale_by_adadelta, None, None),
    "scale_by_belief": (fo.scale_by_belief, None, None),
    "scale_by_distance_over_gradients": (fo.scale_by_distance_over_gradients, None, None),
    "scale_by_factored_rms": (fo.scale_by_factored_rms, None, None),
    "scale_by_lion": (fo.scale_by_lion, None, None),
    "scale_by_novograd": (fo.scale_by_novograd, None, None),
    "scale_by_optimistic_gradient": (fo.scale_by_optimistic_gradient, None, None),
    "scale_by_param_block_norm": (fo.scale_by_param_block_norm, None, None),
    "scale_by_param_block_rms": (fo.scale_by_param_block_rms, None, None),
    "scale_by_polyak": (fo.scale_by_polyak, _value_of_quadratic, _quadratic_grad),
    "scale_by_radam": (fo.scale_by_radam, None, None),
    "scale_by_rms": (fo.scale_by_rms, None, None),
    "scale_by_rprop": (lambda: fo.scale_by_rprop(0.01), None, None),
    "scale_by_rss": (fo.scale_by_rss, None, None),
    "scale_by_sign": (fo.scale_by_sign, None, None),
    "scale_by_sm3": (fo.scale_by_sm3, None, None),
    "scale_by_stddev": (fo.scale_by_stddev, None, None),
    "scale_by_trust_ratio": (fo.scale_by_trust_ratio, None, None),
    "scale_by_yogi": (fo.scale_by_yogi, None, None),
    "scale_by_lbfgs": (fo.scale_by_lbfgs, None, None),
    "masked": (lambda: fo.masked(fo.scale_by_adam(), _first), None, None),
    "partition": (
        lambda: fo.partition(
            {"a": fo.adam(0.01), "b": fo.sgd(0.1)},
            lambda p: {"dense": jax.tree.map(lambda _: "a", p["dense"]),
                       "extra": jax.tree.map(lambda _: "b", p["extra"])},
        ),
        None, None,
    ),
    "inject_hyperparams": (lambda: fo.inject_hyperparams(fo.adam)(learning_rate=0.01), None, None),
    "apply_if_finite": (lambda: fo.apply_if_finite(fo.adam(0.01), 3), None, None),
    "MultiSteps": (lambda: fo.MultiSteps(fo.adam(0.01), every_k_schedule=3), None, None),
    "apply_every": (lambda: fo.apply_every(2), None, None),
    "flatten": (lambda: fo.flatten(fo.adam(0.01)), None, None),
    "conditionally_mask": (
        lambda: fo.conditionally_mask(fo.adam(0.01), lambda step: step % 2 == 0), None, None
    ),
    "sgd": (lambda: fo.sgd(0.1, momentum=0.9), None, None),
    "adamw": (lambda: fo.adamw(0.01), None, None),
    "adafactor": (lambda: fo.adafactor(0.01), None, None),
    "lamb": (lambda: fo.lamb(0.01), None, None),
    "lars": (lambda: fo.lars(0.01), None, None),
    "lion": (lambda: fo.lion(0.01), None, None),
    "rmsprop": (lambda: fo.rmsprop(0.01, momentum=0.9, centered=True), None, None),
    "lbfgs": (fo.lbfgs, _linesearch_args, _quadratic_grad),
    "backtracking": (
        lambda: fo.chain(fo.sgd(1.0), fo.scale_by_backtracking_linesearch(15)),
        _linesearch_args, _quadratic_grad,
    ),
}
NAMES = sorted(CATALOGUE)
SPECS = parity.pytrees((parity.FLOAT32,), min_leaves=1, max_leaves=3, max_rank=3)


def _run(name, tx, spec, num_steps=4):
  _, extra_args_fn, grad_fn = CATALOGUE[name]
  return parity.trajectory(
      tx, spec.build(), spec.noise(num_steps), apply_updates=fo.apply_updates,
      grad_fn=grad_fn or parity.quadratic_grad, extra_args_fn=extra_args_fn,
  )


def _exactly_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=1)
@given(spec=SPECS)
def test_chain_with_identity_is_the_same_transformation(name, spec):
  tx = CATALOGUE[name][0]()
  ps, us, _ = _run(name, tx, spec)
  chained_ps, chained_us, _ = _run(name, fo.chain(fo.identity(), tx), spec)
  _exactly_equal(chained_ps, ps)
  _exactly_equal(chained_us, us)


@pytest.mark.parametrize("name", ["adamw", "sgd", "clip_by_global_norm", "scale_by_lion"])
@settings(max_examples=3)
@given(spec=SPECS)
def test_chain_is_associative(name, spec):
  a, b, c = fo.clip_by_global_norm(1.0), CATALOGUE[name][0](), fo.scale(0.5)
  left = fo.chain(fo.chain(a, b), c)
  right = fo.chain(a, fo.chain(b, c))
  left_ps, left_us, _ = _run(name, left, spec)
  right_ps, right_us, _ = _run(name, right, spec)
  _exactly_equal(left_ps, right_ps)
  _exactly_equal(left_us, right_us)


def _jit_update(tx, grads, state, params, extra):
  """`jax.jit(tx.update)`, with callable extra args (e.g. `value_fn`) closed over."""
  functions = {k: v for k, v in extra.items() if callable(v)}
  arrays = {k: v for k, v in extra.items() if not callable(v)}
  return jax.jit(lambda g, s, p, a: tx.update(g, s, p, **a, **functions))(grads, state, params, arrays)


def _shapes_and_dtypes(state):
  return jax.tree.structure(state), [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(state)]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=2)
@given(spec=SPECS)
def test_jit_update_equals_eager_update_and_keeps_state_shapes_and_dtypes(name, spec):
  tx, extra_args_fn, grad_fn = CATALOGUE[name]
  tx = tx()
  params = spec.build()
  eager_state = jit_state = tx.init(params)
  initial = _shapes_and_dtypes(eager_state)
  noise = spec.noise(3)
  for t in range(3):
    grads = (grad_fn or parity.quadratic_grad)(params, jax.tree.map(lambda n: n[t], noise))
    extra = {} if extra_args_fn is None else extra_args_fn(params, grads)
    eager_updates, eager_state = tx.update(grads, eager_state, params, **extra)
    jit_updates, jit_state = _jit_update(tx, grads, jit_state, params, extra)
    assert _shapes_and_dtypes(eager_state) == initial, f"{name} step {t}: eager state changed shape"
    assert _shapes_and_dtypes(jit_state) == initial, f"{name} step {t}: jit state changed shape"
    parity.assert_trees_close(jit_updates, eager_updates, err_msg=f"{name} step {t} updates")
    parity.assert_trees_close(jit_state, eager_state, err_msg=f"{name} step {t} state")
    params = fo.apply_updates(params, eager_updates)


VMAPPABLE = [n for n in NAMES if n not in ("lbfgs", "backtracking", "scale_by_polyak")]


@pytest.mark.parametrize("name", VMAPPABLE)
def test_vmap_over_a_batch_of_optimizers(name):
  """Batched states/params under vmap give what each member gives alone."""
  tx = CATALOGUE[name][0]()
  batch = 3
  params = [parity.TreeSpec(((2, 3), (4,)), parity.FLOAT32, seed).build() for seed in range(batch)]
  grads = [jax.tree.map(lambda p: 0.5 * p + 0.1, p) for p in params]
  stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  states = [tx.init(p) for p in params]
  batched_updates, batched_state = jax.vmap(tx.update)(stack(grads), stack(states), stack(params))
  for i in range(batch):
    updates, state = tx.update(grads[i], states[i], params[i])
    parity.assert_trees_close(jax.tree.map(lambda x: x[i], batched_updates), updates)
    parity.assert_trees_close(jax.tree.map(lambda x: x[i], batched_state), state)


@given(learning_rates=st.lists(st.floats(1e-4, 1e-1), min_size=2, max_size=4))
@settings(max_examples=3)
def test_vmap_over_hyperparameters(learning_rates):
  """A batch of optimizers differing only in an injected hyperparameter."""
  tx = fo.inject_hyperparams(fo.adam)(learning_rate=0.0)
  params = parity.TreeSpec(((3, 2), ()), parity.FLOAT32, 0).build()
  grads = jax.tree.map(lambda p: 0.5 * p + 0.1, params)

  def one(learning_rate):
    state = tx.init(params)
    state.hyperparams["learning_rate"] = learning_rate
    return tx.update(grads, state, params)[0]

  batched = jax.vmap(one)(jnp.asarray(learning_rates, jnp.float32))
  for i, lr in enumerate(learning_rates):
    expected = fo.adam(lr).update(grads, fo.adam(lr).init(params), params)[0]
    parity.assert_trees_close(jax.tree.map(lambda x: x[i], batched), expected)
