"""functional_optim.torchlike.sparse_adam against torch.optim.SparseAdam.

torch receives each step's gradient as a sparse COO tensor holding exactly the
entries of the mask (values included where they are 0); ours receives the dense
gradient and the mask.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import functional_optim as fo
from functional_optim.torchlike._sparse_adam import (
    SPARSE_ADAM_TORCH_STATE_KEYS, SparseAdamState, sparse_adam)
import parity
import torchlike_helpers as helpers

NUM_STEPS = 12

hyperparameters = st.fixed_dictionaries(dict(
    lr=helpers.learning_rates,
    betas=st.tuples(helpers.unit_interval, helpers.second_moment_decays),
    eps=st.floats(1e-10, 1e-3),
    maximize=st.booleans(),
))
densities = st.sampled_from([0.0, 0.3, 0.7, 1.0])


def _masks(spec, num_steps, density):
  rng = np.random.default_rng(spec.seed + 2)
  leaves = [rng.random((num_steps, *shape)) < density for shape in spec.shapes]
  # Some entries held with a zero gradient value: they must still decay their moments.
  return jax.tree.unflatten(jax.tree.structure(spec.noise(1)), [jnp.asarray(m) for m in leaves])


def _sparse(dense: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
  mask = torch.from_numpy(np.array(mask))
  if dense.dim() == 0:  # torch can hold a 0-d sparse tensor: nnz is 1 or 0
    indices = torch.zeros((0, int(mask)), dtype=torch.long)
    return torch.sparse_coo_tensor(indices, dense.reshape(1)[: int(mask)], (), check_invariants=True)
  indices = mask.nonzero().T
  return torch.sparse_coo_tensor(indices, dense[mask], dense.shape, check_invariants=True)


def _grads(params, noise, zero_some):
  grads = parity.quadratic_grad(params, noise)
  if zero_some:  # a held entry whose value is exactly 0
    grads = jax.tree.map(lambda g: jnp.where(g > 0.5, jnp.zeros_like(g), g), grads)
  return grads


def _run_ours(hyper, traced, params, noise, masks, zero_some):
  static = {k: v for k, v in hyper.items() if k not in traced}
  dynamic = {k: jax.tree.map(jnp.float32, hyper[k]) for k in traced}

  @jax.jit
  def run(dynamic, params, noise, masks):
    tx = sparse_adam(**static, **dynamic)

    def step(carry, inputs):
      p, state = carry
      step_noise, step_masks = inputs
      grads = _grads(p, step_noise, zero_some)
      updates, state = tx.update(grads, state, p, grad_mask=step_masks)
      p = fo.apply_updates(p, updates)
      return (p, state), p

    (_, state), ps = jax.lax.scan(step, (params, tx.init(params)), (noise, masks))
    return ps, state

  return run(dynamic, params, noise, masks)


def _run_torch(hyper, params, noise, masks, zero_some):
  leaves = [torch.nn.Parameter(helpers.to_torch(p)) for p in jax.tree.leaves(params)]
  treedef = jax.tree.structure(params)
  optimizer = torch.optim.SparseAdam(leaves, **hyper)
  history = []
  for t in range(NUM_STEPS):
    current = treedef.unflatten([jnp.asarray(helpers.to_numpy(p)) for p in leaves])
    step_masks = jax.tree.map(lambda m: m[t], masks)
    grads = _grads(current, jax.tree.map(lambda n: n[t], noise), zero_some)
    for p, g, m in zip(leaves, jax.tree.leaves(grads), jax.tree.leaves(step_masks)):
      p.grad = _sparse(helpers.to_torch(g), m)
    optimizer.step()
    history.append([helpers.to_numpy(p) for p in leaves])
  return history, [optimizer.state[p] for p in leaves]


def _assert_matches(spec, hyper, density, zero_some, traced=()):
  params = spec.build()
  noise, masks = spec.noise(NUM_STEPS), _masks(spec, NUM_STEPS, density)
  our_params, our_state = _run_ours(hyper, traced, params, noise, masks, zero_some)
  torch_params, torch_states = _run_torch(hyper, params, noise, masks, zero_some)
  tolerance = parity.TOLERANCES[spec.dtype]
  for t in range(NUM_STEPS):
    for i, (a, e) in enumerate(zip(jax.tree.leaves(jax.tree.map(lambda x: x[t], our_params)), torch_params[t])):
      np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64), **tolerance,
                                 err_msg=f"param {i} after step {t + 1}")
  for i, state in enumerate(torch_states):
    assert set(state) == set(SPARSE_ADAM_TORCH_STATE_KEYS)
    assert int(jax.tree.leaves(our_state.step)[i]) == state["step"] == NUM_STEPS
    for key in ("exp_avg", "exp_avg_sq"):
      ours = jax.tree.leaves(getattr(our_state, key))[i]
      np.testing.assert_allclose(np.asarray(ours, np.float64), helpers.to_numpy(state[key]).astype(np.float64),
                                 **tolerance, err_msg=f"{key} of param {i}")


@given(spec=parity.pytrees((parity.FLOAT32,)), hyper=hyperparameters, density=densities,
       zero_some=st.booleans())
def test_sparse_adam_trajectory(spec, hyper, density, zero_some):
  _assert_matches(spec, hyper, density, zero_some)


@given(spec=parity.pytrees((parity.BFLOAT16,)), density=densities)
def test_sparse_adam_bfloat16(spec, density):
  # Moderate hyperparameters: bfloat16 free runs drift wherever the update is
  # ill-conditioned (see torchlike_helpers.assert_trajectory_matches_torch).
  _assert_matches(spec, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-3), density, zero_some=False)


@given(spec=parity.pytrees((parity.FLOAT32,)), density=densities)
def test_sparse_adam_traced_hyperparameters(spec, density):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, betas=(0.875, 0.9990234375), eps=2.0**-20)
  _assert_matches(spec, hyper, density, zero_some=True, traced=("lr", "betas", "eps"))


def test_sparse_adam_without_mask_holds_every_entry():
  tx = sparse_adam(lr=0.1, betas=(0.5, 0.75))
  params = {"a": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(())}
  grads = jax.tree.map(lambda p: jnp.sin(p) + 0.5, params)
  state = tx.init(params)
  masks = jax.tree.map(lambda p: jnp.ones(p.shape, bool), params)
  u1, s1 = tx.update(grads, state, params)
  u2, s2 = tx.update(grads, state, params, grad_mask=masks)
  jax.tree.map(np.testing.assert_array_equal, (u1, s1), (u2, s2))


def test_sparse_adam_state_layout():
  state = sparse_adam().init({"w": jnp.zeros((2, 3), jnp.bfloat16)})
  assert isinstance(state, SparseAdamState)
  assert state.step["w"].dtype == jnp.int32 and state.step["w"].shape == ()
  assert state.exp_avg["w"].dtype == jnp.bfloat16 and state.exp_avg["w"].shape == (2, 3)


def test_sparse_adam_rejects_complex_params():
  tx = sparse_adam()
  params = jnp.ones(2, jnp.complex64)
  with pytest.raises(ValueError, match="complex"):
    tx.update(params, tx.init(params), params)


def test_sparse_adam_needs_params():
  tx = sparse_adam()
  with pytest.raises(ValueError):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), "Invalid learning rate: 0.0"),
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(eps=0.0), "Invalid epsilon value: 0.0"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
])
def test_sparse_adam_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    sparse_adam(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.SparseAdam([torch.zeros(1, requires_grad=True)], **kwargs)
