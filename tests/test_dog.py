"""scale_by_distance_over_gradients against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax keeps the gradient sum of squares with shape (1,) and multiplies the update
# by a step size of that shape, so a 0-d parameter gets a (1,)-shaped update (and
# its parameter grows a dimension). Ours gives a 0-d update, with the same values.
OPTAX_DOG_SCALAR_UPDATE_HAS_SHAPE_1 = True
# optax's max_dist starts in the params' dtype but becomes the promoted dtype of
# params and param_dtype after a step (bfloat16 params with the default float32
# param_dtype): the state changes dtype, which jit/scan loops reject. Ours stores it
# cast back to its initial dtype; the step itself is computed as optax does.
OPTAX_DOG_STATE_DTYPE_DRIFTS = True
# optax squares complex numbers without the modulus (complex "norms"). Ours uses
# |z|^2, so a complex leaf behaves like optax on its (real, imag) pairs.
OPTAX_DOG_SQUARES_COMPLEX_WITHOUT_MODULUS = True

hyperparameters = dict(
    reps_rel=st.floats(1e-6, 0.5),
    eps=st.floats(0.0, 1e-4),
    global_scale=st.floats(-2.0, 2.0),
)


def _dog(module, param_dtype, reps_rel, eps, global_scale):
  return module.scale_by_distance_over_gradients(reps_rel, eps, param_dtype, global_scale)


# 1-d and up (0-d leaves: see test_scalar_leaf_keeps_its_shape). bfloat16 params
# with a float32 param_dtype: see test_state_dtype_is_stable.
@given(
    spec=parity.pytrees(parity.REAL_DTYPES, min_rank=1),
    param_dtype=st.sampled_from(["float32", "bfloat16"]),
    **hyperparameters,
)
def test_scale_by_distance_over_gradients(spec, param_dtype, reps_rel, eps, global_scale):
  if spec.dtype == parity.BFLOAT16:
    param_dtype = "bfloat16"
  hyper = (param_dtype, reps_rel, eps, global_scale)
  parity.assert_same_trajectory(_dog(fo, *hyper), _dog(optax, *hyper), spec)


def _optax_loop(tx, params, noise, num_steps, fix_shapes=False, keep_state_dtypes=False):
  """optax's trajectory in a Python loop (its state or shapes change, so no scan).

  `fix_shapes` reshapes each update to its parameter's shape; `keep_state_dtypes`
  casts the state back to the dtypes `init` gave it after every step.
  """
  init_state = tx.init(params)

  @jax.jit
  def step(params, state, step_noise):
    updates, state = tx.update(parity.quadratic_grad(params, step_noise), state, params)
    if fix_shapes:
      updates = jax.tree.map(lambda u, p: u.reshape(p.shape), updates, params)
    if keep_state_dtypes:
      state = jax.tree.map(lambda x, x0: x.astype(x0.dtype), state, init_state)
    return optax.apply_updates(params, updates), updates, state

  state = init_state
  ps, us = [], []
  for t in range(num_steps):
    params, updates, state = step(params, state, jax.tree.map(lambda n: n[t], noise))
    ps.append(params)
    us.append(updates)
  stack = lambda trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees)
  return stack(ps), stack(us), state


@given(spec=parity.pytrees(parity.REAL_DTYPES, min_rank=0, max_rank=0), **hyperparameters)
def test_scalar_leaf_keeps_its_shape(spec, reps_rel, eps, global_scale):
  hyper = (spec.dtype, reps_rel, eps, global_scale)
  params, noise = spec.build(), spec.noise(10)
  our_ps, our_us, our_state = parity.trajectory(
      _dog(fo, *hyper), params, noise, apply_updates=fo.apply_updates
  )
  theirs = _dog(optax, *hyper)
  if OPTAX_DOG_SCALAR_UPDATE_HAS_SHAPE_1:
    update, _ = jax.eval_shape(theirs.update, params, theirs.init(params), params)
    assert all(u.shape == (1,) for u in jax.tree.leaves(update))
  their_ps, their_us, their_state = _optax_loop(theirs, params, noise, 10, fix_shapes=True)
  assert all(u.shape == (10,) for u in jax.tree.leaves(our_us))
  parity.assert_trees_close(our_us, their_us, spec.dtype, "updates")
  parity.assert_trees_close(our_ps, their_ps, spec.dtype, "params")
  parity.assert_trees_close(our_state, their_state, spec.dtype, "final state")


@given(spec=parity.pytrees([parity.BFLOAT16], min_rank=1), **hyperparameters)
def test_state_dtype_is_stable(spec, reps_rel, eps, global_scale):
  hyper = ("float32", reps_rel, eps, global_scale)
  params, noise = spec.build(), spec.noise(10)
  ours = _dog(fo, *hyper)
  theirs = _dog(optax, *hyper)
  # Shapes and dtypes only (jax.eval_shape), before and after one step.
  state = jax.eval_shape(ours.init, params)
  _, next_state = jax.eval_shape(ours.update, params, state, params)
  assert jax.tree.map(lambda x: x.dtype, next_state) == jax.tree.map(lambda x: x.dtype, state)
  if OPTAX_DOG_STATE_DTYPE_DRIFTS:
    their_state = jax.eval_shape(theirs.init, params)
    _, their_next = jax.eval_shape(theirs.update, params, their_state, params)
    assert {x.dtype for x in jax.tree.leaves(their_state.max_dist)} == {jnp.dtype("bfloat16")}
    assert {x.dtype for x in jax.tree.leaves(their_next.max_dist)} == {jnp.dtype("float32")}
  # Otherwise the same: ours is optax with its state cast back after every step.
  our_ps, our_us, our_state = parity.trajectory(
      ours, params, noise, apply_updates=fo.apply_updates
  )
  their_ps, their_us, their_state = _optax_loop(
      theirs, params, noise, 10, keep_state_dtypes=True
  )
  parity.assert_trees_close(our_us, their_us, spec.dtype, "updates")
  parity.assert_trees_close(our_ps, their_ps, spec.dtype, "params")
  parity.assert_trees_close(our_state, their_state, spec.dtype, "final state")


def _as_real(tree):
  return jax.tree.map(lambda z: jnp.stack([z.real, z.imag], axis=-1), tree)


@given(spec=parity.pytrees([parity.COMPLEX64]), **hyperparameters)
def test_complex_leaf_is_its_real_pairs(spec, reps_rel, eps, global_scale):
  assert OPTAX_DOG_SQUARES_COMPLEX_WITHOUT_MODULUS
  params, noise = spec.build(), spec.noise(10)
  our_ps, our_us, our_state = parity.trajectory(
      _dog(fo, "complex64", reps_rel, eps, global_scale),
      params, noise, apply_updates=fo.apply_updates,
  )
  # Real pairs have rank >= 1, clear of optax's 0-d shape issue.
  their_ps, their_us, their_state = parity.trajectory(
      _dog(optax, "float32", reps_rel, eps, global_scale),
      _as_real(params), _as_real(noise), apply_updates=optax.apply_updates,
  )
  parity.assert_trees_close(_as_real(our_us), their_us, parity.FLOAT32, "updates")
  parity.assert_trees_close(_as_real(our_ps), their_ps, parity.FLOAT32, "params")
  our_state = our_state._replace(init_params=_as_real(our_state.init_params))
  parity.assert_trees_close(our_state, their_state, parity.FLOAT32, "final state")


def test_first_step_by_hand():
  tx = fo.scale_by_distance_over_gradients(reps_rel=0.5, eps=0.0, global_scale=-1.0)
  params = {"a": jnp.array([3.0, 4.0]), "b": jnp.array(0.0)}
  updates, state = tx.update({"a": jnp.array([0.0, 2.0]), "b": jnp.array(4.0)},
                             tx.init(params), params)
  # a: distance 0.5 * (1 + 5) = 3, gradient norm 2; b: distance 0.5, gradient norm 4.
  np.testing.assert_allclose(updates["a"], [0.0, -3.0])
  np.testing.assert_allclose(updates["b"], -0.5)
  assert updates["b"].shape == ()
  np.testing.assert_allclose(state.grad_sum_of_squares["b"], [16.0])


def test_update_needs_params():
  tx = fo.scale_by_distance_over_gradients()
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)), None)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(reps_rel=0.0), "reps_rel"), (dict(reps_rel=-1e-6), "reps_rel"), (dict(eps=-1.0), "eps")],
)
def test_scale_by_distance_over_gradients_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.scale_by_distance_over_gradients(**kwargs)
