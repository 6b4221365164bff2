"""functional_optim.torchlike.adadelta against torch.optim.Adadelta."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim.torchlike._adadelta import ADADELTA_TORCH_STATE_KEYS as KEYS
from functional_optim.torchlike._adadelta import adadelta
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)

hyperparameters = st.fixed_dictionaries(dict(
    lr=st.floats(1e-3, 2.0),
    rho=st.one_of(st.floats(0.0, 1.0), st.just(1.0)),
    eps=st.floats(1e-8, 1e-2),
    weight_decay=helpers.weight_decays,
    maximize=st.booleans(),
))


@given(spec=parity.pytrees(parity.ALL_DTYPES), hyper=hyperparameters)
def test_adadelta_steps(spec, hyper):
  helpers.assert_steps_match_torch(adadelta, torch.optim.Adadelta, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=hyperparameters)
def test_adadelta_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(adadelta, torch.optim.Adadelta, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX))
def test_adadelta_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.5, rho=0.875, eps=2.0**-16, weight_decay=0.03125)
  helpers.assert_trajectory_matches_torch(
      adadelta, torch.optim.Adadelta, hyper, spec, KEYS,
      traced=("lr", "rho", "eps", "weight_decay"),
  )


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(rho=1.5), "Invalid rho value: 1.5"),
    (dict(rho=-0.1), "Invalid rho value: -0.1"),
    (dict(eps=-1e-6), "Invalid epsilon value: -1e-06"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_adadelta_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    adadelta(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Adadelta([torch.zeros(1, requires_grad=True)], **kwargs)
