"""functional_optim.torchlike.adamax against torch.optim.Adamax."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)
KEYS = torchlike.ADAMAX_TORCH_STATE_KEYS


def _hyperparameters(beta2):
  return st.fixed_dictionaries(dict(
      lr=helpers.learning_rates,
      betas=st.tuples(helpers.unit_interval, beta2),
      eps=helpers.epsilons,
      weight_decay=helpers.weight_decays,
      maximize=st.booleans(),
  ))


@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=_hyperparameters(helpers.unit_interval))
def test_adamax_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.adamax, torch.optim.Adamax, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=_hyperparameters(helpers.second_moment_decays))
def test_adamax_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.adamax, torch.optim.Adamax, hyper, spec, KEYS
  )


@given(spec=parity.pytrees(REAL_AND_COMPLEX))
def test_adamax_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, betas=(0.875, 0.9990234375), eps=2.0**-20, weight_decay=0.125)
  helpers.assert_trajectory_matches_torch(
      torchlike.adamax, torch.optim.Adamax, hyper, spec, KEYS,
      traced=("lr", "betas", "eps", "weight_decay"),
  )


def test_adamax_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.adamax, torch.optim.Adamax)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_adamax_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    torchlike.adamax(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Adamax([torch.zeros(1, requires_grad=True)], **kwargs)
