"""functional_optim.torchlike.radam against torch.optim.RAdam."""

from decimal import Decimal, getcontext

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
from functional_optim.torchlike import _radam
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)
KEYS = torchlike.RADAM_TORCH_STATE_KEYS


def _hyperparameters(beta2):
  return st.fixed_dictionaries(dict(
      lr=helpers.learning_rates,
      betas=st.tuples(helpers.unit_interval, beta2),
      eps=helpers.epsilons,
      weight_decay=helpers.weight_decays,
      decoupled_weight_decay=st.booleans(),
      maximize=st.booleans(),
  ))


@given(spec=helpers.trees(parity.ALL_DTYPES),
       hyper=_hyperparameters(st.one_of(helpers.unit_interval, st.floats(0.99, 0.9999))))
def test_radam_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.radam, torch.optim.RAdam, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=_hyperparameters(helpers.second_moment_decays))
def test_radam_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.radam, torch.optim.RAdam, hyper, spec, KEYS
  )


@given(spec=parity.pytrees((parity.FLOAT32,)), beta2=st.sampled_from([0.6, 0.9, 0.999]))
def test_radam_rectified_steps(spec, beta2):
  # Enough steps for rho_t to pass 5, where the rectified update starts.
  hyper = dict(lr=0.01, betas=(0.9, beta2))
  helpers.assert_trajectory_matches_torch(
      torchlike.radam, torch.optim.RAdam, hyper, spec, KEYS, num_steps=24
  )


@given(spec=parity.pytrees(REAL_AND_COMPLEX), decoupled_weight_decay=st.booleans())
def test_radam_traced_hyperparameters(spec, decoupled_weight_decay):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, betas=(0.875, 0.75), eps=2.0**-20, weight_decay=0.125,
               decoupled_weight_decay=decoupled_weight_decay)
  helpers.assert_trajectory_matches_torch(
      torchlike.radam, torch.optim.RAdam, hyper, spec, KEYS,
      traced=("lr", "betas", "eps", "weight_decay"),
  )


# torch evaluates rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t) in float64, which
# cancels catastrophically for beta2 near 1 (error ~ 1e-16 rho_inf**2 / t: 1e-3 at
# beta2 = 1 - 1e-7). We compute rho_t to float32 precision instead, so for such
# betas we agree with the exact value and not with torch.
RHO_MORE_ACCURATE_THAN_TORCH = True


def test_radam_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.radam, torch.optim.RAdam)


@pytest.mark.parametrize("beta2", [0.0, 0.5, 0.9, 0.999, 0.99999, 1 - 1e-7])
@pytest.mark.parametrize("traced", [False, True])
def test_radam_rho_is_accurate(beta2, traced):
  getcontext().prec = 60
  exact_beta2 = Decimal(float(np.float32(beta2))) if traced else Decimal(beta2)
  for step in (1, 2, 5, 6, 7, 50, 1000):
    _, rho_t = _radam._rho(jnp.float32(beta2) if traced else beta2, jnp.float32(step))
    power = exact_beta2**step
    exact = 2 / (1 - exact_beta2) - 1 - 2 * step * power / (1 - power)
    np.testing.assert_allclose(float(rho_t), float(exact), rtol=5e-7, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, -0.5)), "Invalid beta parameter at index 1: -0.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_radam_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    torchlike.radam(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.RAdam([torch.zeros(1, requires_grad=True)], **kwargs)
