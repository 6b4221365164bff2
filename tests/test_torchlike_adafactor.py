"""functional_optim.torchlike.adafactor against torch.optim.Adafactor.

torch keeps `row_var`/`col_var` only for parameters of two or more dimensions and
`variance` only for the others, so the state fields have None entries; the state
checks here read them per parameter (`torchlike_helpers` expects full fields).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import functional_optim as fo
from functional_optim.torchlike._adafactor import ADAFACTOR_TORCH_STATE_KEYS as KEYS
from functional_optim.torchlike._adafactor import AdafactorState, adafactor
import parity
import torchlike_helpers as helpers

hyperparameters = st.fixed_dictionaries(dict(
    lr=helpers.learning_rates,
    beta2_decay=st.one_of(st.just(0.0), st.floats(-1.0, 0.0)),
    eps=st.tuples(st.one_of(st.none(), st.floats(0.0, 1e-3)), st.floats(0.0, 1e-2)),
    d=st.floats(1.0, 3.0),
    weight_decay=helpers.weight_decays,
    maximize=st.booleans(),
))


def _close(actual, expected, dtype, message):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, f"{message}: shape {actual.shape} vs {expected.shape}"
  assert actual.dtype == expected.dtype, f"{message}: dtype {actual.dtype} vs {expected.dtype}"
  np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                             err_msg=message, equal_nan=True, **parity.TOLERANCES[dtype])


def _per_param(state, field, treedef):
  return treedef.flatten_up_to(getattr(state, field))


def _assert_state_matches(state, torch_states, treedef, dtype, message=""):
  for field in state._fields:
    for i, (leaf, torch_state) in enumerate(zip(_per_param(state, field, treedef), torch_states)):
      if leaf is None:
        assert field not in torch_state, f"{message}{field} of param {i} is None but torch has it"
      else:
        assert field in torch_state, f"{message}torch has no {field} for param {i}"
        _close(leaf, helpers.to_numpy(torch_state[field]), dtype, f"{message}{field} of param {i}")
  for torch_state in torch_states:
    assert set(torch_state) <= set(KEYS)


def _state_from_torch(template, torch_states, treedef):
  return AdafactorState(*(
      treedef.unflatten([
          jnp.asarray(helpers.to_numpy(s[field])) if leaf is not None and field in s else leaf
          for leaf, s in zip(_per_param(template, field, treedef), torch_states, strict=True)
      ])
      for field in template._fields
  ))


def _assert_steps_match_torch(hyper, spec, num_steps=helpers.NUM_STEPS):
  """`torchlike_helpers.assert_steps_match_torch`, with per-parameter None fields."""
  params = spec.build()
  noise = spec.noise(num_steps)
  treedef = jax.tree.structure(params)
  tx = adafactor(**hyper)
  update = jax.jit(tx.update)
  torch_params = [torch.nn.Parameter(helpers.to_torch(p)) for p in jax.tree.leaves(params)]
  optimizer = torch.optim.Adafactor(torch_params, **hyper, foreach=False)
  for t in range(num_steps):
    params = treedef.unflatten([jnp.asarray(helpers.to_numpy(p)) for p in torch_params])
    state = _state_from_torch(tx.init(params), [optimizer.state[p] for p in torch_params], treedef)
    grads = parity.quadratic_grad(params, jax.tree.map(lambda x: x[t], noise))
    updates, state = update(grads, state, params)
    params = fo.apply_updates(params, updates)
    for p, g in zip(torch_params, jax.tree.leaves(grads), strict=True):
      p.grad = helpers.to_torch(g)
    optimizer.step()
    for i, (a, p) in enumerate(zip(jax.tree.leaves(params), torch_params, strict=True)):
      _close(a, helpers.to_numpy(p), spec.dtype, f"param {i} at step {t + 1}")
    _assert_state_matches(state, [optimizer.state[p] for p in torch_params], treedef, spec.dtype,
                          f"step {t + 1}: ")


def _assert_trajectory_matches_torch(hyper, spec, traced=(), num_steps=helpers.NUM_STEPS):
  """`torchlike_helpers.assert_trajectory_matches_torch`, with per-parameter None fields."""
  params = spec.build()
  noise = spec.noise(num_steps)
  ours, state = helpers.jax_trajectory(adafactor, hyper, traced, params, noise)
  theirs, torch_states = helpers.torch_trajectory(
      torch.optim.Adafactor, dict(hyper, foreach=False), jax.tree.leaves(params),
      jax.tree.leaves(noise), num_steps,
  )
  for t in range(num_steps):
    for i, (a, e) in enumerate(zip(jax.tree.leaves(jax.tree.map(lambda x: x[t], ours)), theirs[t])):
      _close(a, e, spec.dtype, f"param {i} after step {t + 1}")
  _assert_state_matches(state, torch_states, jax.tree.structure(params), spec.dtype)


@given(spec=parity.pytrees(parity.REAL_DTYPES), hyper=hyperparameters)
def test_adafactor_steps(spec, hyper):
  _assert_steps_match_torch(hyper, spec)


@given(spec=parity.pytrees((parity.FLOAT32,)), hyper=hyperparameters)
def test_adafactor_trajectory(spec, hyper):
  _assert_trajectory_matches_torch(hyper, spec)


@given(spec=parity.pytrees((parity.FLOAT32,)))
def test_adafactor_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, beta2_decay=-0.75, eps=(2.0**-20, 2.0**-10), d=1.5,
               weight_decay=0.03125)
  _assert_trajectory_matches_torch(
      hyper, spec, traced=("lr", "beta2_decay", "eps", "d", "weight_decay")
  )


def test_adafactor_state_layout():
  params = {"scalar": jnp.ones(()), "vector": jnp.ones(3), "matrix": jnp.ones((2, 3)),
            "tensor": jnp.ones((4, 2, 3), jnp.bfloat16)}
  state = adafactor().init(params)
  assert state.row_var["tensor"].shape == (4, 2, 1)
  assert state.col_var["tensor"].shape == (4, 1, 3)
  assert state.row_var["tensor"].dtype == jnp.bfloat16
  assert state.variance["matrix"] is None and state.row_var["vector"] is None
  assert state.variance["scalar"].shape == ()


def test_adafactor_rejects_complex_parameters():
  with pytest.raises(RuntimeError, match="Adafactor does not support complex parameters"):
    adafactor().init(jnp.ones(2, jnp.complex64))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (dict(beta2_decay=0.5), "beta2_decay should be <= 0 but is: 0.5"),
    (dict(eps=(-1.0, 1e-3)), "epsilon1 should be >= 0 but is: -1.0"),
    (dict(eps=(None, -1e-3)), "epsilon2 should be >= 0 but is: -0.001"),
    (dict(d=0.5), "Clipping threshold d should be >= 1 but is: 0.5"),
    (dict(weight_decay=-0.1), "weight_decay should be >= 0 but is: -0.1"),
])
def test_adafactor_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    adafactor(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Adafactor([torch.zeros(1, requires_grad=True)], **kwargs)
