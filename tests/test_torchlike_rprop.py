"""functional_optim.torchlike.rprop against torch.optim.Rprop."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim.torchlike._rprop import RPROP_TORCH_STATE_KEYS as KEYS
from functional_optim.torchlike._rprop import rprop
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)

hyperparameters = st.fixed_dictionaries(dict(
    lr=helpers.learning_rates,
    etas=st.tuples(st.floats(0.05, 0.95), st.floats(1.05, 3.0)),
    step_sizes=st.tuples(st.sampled_from([0.0, 1e-6, 1e-3]), st.sampled_from([0.05, 1.0, 50])),
    maximize=st.booleans(),
))


@given(spec=parity.pytrees(parity.ALL_DTYPES), hyper=hyperparameters)
def test_rprop_steps(spec, hyper):
  helpers.assert_steps_match_torch(rprop, torch.optim.Rprop, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=hyperparameters)
def test_rprop_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(rprop, torch.optim.Rprop, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX))
def test_rprop_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, etas=(0.375, 1.25), step_sizes=(2.0**-10, 0.5))
  helpers.assert_trajectory_matches_torch(
      rprop, torch.optim.Rprop, hyper, spec, KEYS, traced=("lr", "etas", "step_sizes")
  )


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(etas=(0.0, 1.2)), "Invalid eta values: 0.0, 1.2"),
    (dict(etas=(0.5, 1.0)), "Invalid eta values: 0.5, 1.0"),
    (dict(etas=(1.5, 2.0)), "Invalid eta values: 1.5, 2.0"),
])
def test_rprop_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    rprop(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Rprop([torch.zeros(1, requires_grad=True)], **kwargs)
