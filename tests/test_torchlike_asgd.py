"""functional_optim.torchlike.asgd against torch.optim.ASGD."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim.torchlike._asgd import ASGD_TORCH_STATE_KEYS as KEYS
from functional_optim.torchlike._asgd import asgd
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)

# t0 within the 12 steps, so that the averaging (mu < 1) is exercised.
hyperparameters = st.fixed_dictionaries(dict(
    lr=helpers.learning_rates,
    lambd=st.one_of(st.just(0.0), st.floats(1e-5, 0.5)),
    alpha=st.floats(0.0, 1.0),
    t0=st.one_of(st.sampled_from([0.0, 1e6]), st.floats(0.0, 10.0)),
    weight_decay=helpers.weight_decays,
    maximize=st.booleans(),
))


@given(spec=parity.pytrees(parity.ALL_DTYPES), hyper=hyperparameters)
def test_asgd_steps(spec, hyper):
  helpers.assert_steps_match_torch(asgd, torch.optim.ASGD, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=hyperparameters)
def test_asgd_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(asgd, torch.optim.ASGD, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX))
def test_asgd_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, lambd=0.125, alpha=0.75, t0=4.0, weight_decay=0.03125)
  helpers.assert_trajectory_matches_torch(
      asgd, torch.optim.ASGD, hyper, spec, KEYS,
      traced=("lr", "lambd", "alpha", "t0", "weight_decay"),
  )


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_asgd_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    asgd(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.ASGD([torch.zeros(1, requires_grad=True)], **kwargs)
