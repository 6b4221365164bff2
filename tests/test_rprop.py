"""scale_by_rprop and rprop: against a NumPy reference, torch.optim.Rprop, and optax.

Complex dtypes are left out: Rprop compares signs of gradient products, which has
no meaning for complex numbers (optax's `s > 0` on complex products is undefined).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax 0.2.8's scale_by_rprop computes the right update, stores it in its state,
# and emits the update stored at the previous step instead (zeroed where the
# gradient sign flips now); its first update is 0. The state it keeps is the same
# as ours. Ours emits the current update, as in the paper and torch.optim.Rprop.
OPTAX_RPROP_EMITS_STALE_UPDATE = True

NUM_STEPS = 12

# Step-size bounds around the initial step size, so that no clipping convention
# (optax clips only adapted sizes, torch clips every step) matters.
hyperparameters = dict(
    learning_rate=st.floats(1e-3, 1.0),
    eta_minus=st.floats(0.1, 0.9),
    eta_plus=st.floats(1.05, 2.0),
    min_step_size=st.floats(1e-6, 1e-3),
    max_step_size=st.floats(1.0, 50.0),
)


def _reference_rprop(p, noise, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size):
  """Rprop (Riedmiller and Braun, 1993) without weight-backtracking, elementwise.

  Runs on the quadratic gradients of `parity.quadratic_grad`, computing every
  operation in the leaf's dtype. Returns the parameters and updates of each step.
  """
  dtype = p.dtype.type
  p = np.array(p)
  half, eta_minus, eta_plus = dtype(0.5), dtype(eta_minus), dtype(eta_plus)
  min_step_size, max_step_size = dtype(min_step_size), dtype(max_step_size)
  step_size = np.full(p.shape, dtype(learning_rate))
  prev_grad = np.zeros(p.shape, p.dtype)
  params, updates = [], []
  for n in noise:
    grad = np.array(half * p + n)
    update = np.zeros(p.shape, p.dtype)
    for i in np.ndindex(p.shape):
      same_sign = np.sign(grad[i]) * np.sign(prev_grad[i])
      if same_sign > 0:
        step_size[i] = min(step_size[i] * eta_plus, max_step_size)
      elif same_sign < 0:
        step_size[i] = max(step_size[i] * eta_minus, min_step_size)
        grad[i] = 0  # no step now, and no adaptation at the next step
      update[i] = -np.sign(grad[i]) * step_size[i]
      prev_grad[i] = grad[i]
    p = np.array(p + update)
    params.append(p)
    updates.append(update)
  return np.stack(params), np.stack(updates)


def _to_numpy(tree):
  return jax.tree.map(lambda x: np.asarray(x), tree)


@given(spec=parity.pytrees(parity.REAL_DTYPES), **hyperparameters)
def test_rprop_matches_reference(
    spec, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size
):
  hyper = (learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
  params, noise = spec.build(), spec.noise(NUM_STEPS)
  our_ps, our_us, _ = parity.trajectory(
      fo.rprop(*hyper), params, noise, apply_updates=fo.apply_updates
  )
  reference = jax.tree.map(
      lambda p, n: _reference_rprop(p, n, *hyper), _to_numpy(params), _to_numpy(noise)
  )
  is_pair = lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.ndarray)
  ref_ps = jax.tree.map(lambda pair: pair[0], reference, is_leaf=is_pair)
  ref_us = jax.tree.map(lambda pair: pair[1], reference, is_leaf=is_pair)
  parity.assert_trees_close(our_us, ref_us, spec.dtype, "updates")
  parity.assert_trees_close(our_ps, ref_ps, spec.dtype, "params")


def test_rprop_first_steps_by_hand():
  tx = fo.scale_by_rprop(learning_rate=0.1, eta_minus=0.5, eta_plus=1.2)
  state = tx.init(jnp.zeros(1))
  emitted = []
  for g in [1.0, 1.0, 1.0, -1.0, 1.0]:
    u, state = tx.update(jnp.array([g]), state)
    emitted.append(float(u[0]))
  # Grows while the sign holds, 0 at the flip (step size halved), then no adaptation.
  np.testing.assert_allclose(emitted, [0.1, 0.12, 0.144, 0.0, 0.072], rtol=1e-6)


@given(spec=parity.pytrees([parity.FLOAT32]), **hyperparameters)
def test_rprop_matches_torch(spec, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size):
  params, noise = spec.build(), spec.noise(NUM_STEPS)
  our_ps, _, our_state = parity.trajectory(
      fo.rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size),
      params, noise, apply_updates=fo.apply_updates,
  )
  torch_params = [torch.tensor(np.asarray(p)) for p in jax.tree.leaves(params)]
  optimizer = torch.optim.Rprop(
      torch_params, lr=learning_rate, etas=(eta_minus, eta_plus),
      step_sizes=(min_step_size, max_step_size), foreach=False,
  )
  torch_ps = [[] for _ in torch_params]
  noise_leaves = [np.asarray(n) for n in jax.tree.leaves(noise)]
  for t in range(NUM_STEPS):
    for p, n in zip(torch_params, noise_leaves):
      p.grad = 0.5 * p.detach() + torch.tensor(n[t])
    optimizer.step()
    for history, p in zip(torch_ps, torch_params):
      history.append(p.detach().numpy().copy())
  torch_ps = [np.stack(h) for h in torch_ps]
  parity.assert_trees_close(jax.tree.leaves(our_ps), torch_ps, spec.dtype, "params")
  rprop_state = our_state[0]
  torch_state = [optimizer.state[p] for p in torch_params]
  parity.assert_trees_close(
      jax.tree.leaves(rprop_state.step_sizes),
      [s["step_size"].numpy() for s in torch_state],
      spec.dtype,
      "step sizes",
  )
  # torch keeps the last gradient (0 after a flip), we keep the last update: same signs.
  for ours, theirs in zip(jax.tree.leaves(rprop_state.prev_updates), torch_state):
    np.testing.assert_array_equal(np.sign(ours), np.sign(theirs["prev"].numpy()))


@given(spec=parity.pytrees(parity.REAL_DTYPES), **hyperparameters)
def test_rprop_relation_to_optax(
    spec, learning_rate, eta_minus, eta_plus, min_step_size, max_step_size
):
  hyper = (learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
  # Gradients that do not depend on the parameters, so both see the same sequence.
  grad_fn = lambda params, noise: noise
  params, noise = spec.build(), spec.noise(NUM_STEPS)
  _, our_us, our_state = parity.trajectory(
      fo.rprop(*hyper), params, noise, apply_updates=fo.apply_updates, grad_fn=grad_fn
  )
  _, their_us, their_state = parity.trajectory(
      optax.rprop(*hyper), params, noise, apply_updates=optax.apply_updates, grad_fn=grad_fn
  )
  if OPTAX_RPROP_EMITS_STALE_UPDATE:
    # optax's update at step t is ours at step t-1, zeroed where g_t flips the sign
    # of that update's gradient; at step 0 it is zero.
    def stale(our_u, g):
      previous = our_u[:-1]
      flipped = g[1:] * previous > 0  # updates oppose gradients: same sign = flip
      shifted = jnp.where(flipped, jnp.zeros_like(previous), previous)
      return jnp.concatenate([jnp.zeros_like(our_u[:1]), shifted])

    expected_us = jax.tree.map(stale, our_us, noise)
  else:
    expected_us = our_us
  parity.assert_trees_close(their_us, expected_us, spec.dtype, "updates")
  parity.assert_trees_close(our_state, their_state, spec.dtype, "final state")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=0.1, eta_minus=0.0), "eta_minus"),
        (dict(learning_rate=0.1, eta_minus=1.5), "eta_minus"),
        (dict(learning_rate=0.1, eta_plus=1.0), "eta_plus"),
        (dict(learning_rate=0.1, min_step_size=-1.0), "min_step_size"),
        (dict(learning_rate=0.1, max_step_size=-1.0), "max_step_size"),
        (dict(learning_rate=0.1, min_step_size=1.0, max_step_size=0.5), "max_step_size"),
    ],
)
@pytest.mark.parametrize("factory", [fo.scale_by_rprop, fo.rprop])
def test_rprop_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
