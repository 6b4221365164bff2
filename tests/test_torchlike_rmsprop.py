"""functional_optim.torchlike.rmsprop against torch.optim.RMSprop."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)
KEYS = torchlike.RMSPROP_TORCH_STATE_KEYS


hyperparameters = st.fixed_dictionaries(dict(
    lr=st.floats(1e-4, 0.05),
    alpha=st.floats(0.5, 0.9999),
    eps=helpers.epsilons,
    weight_decay=helpers.weight_decays,
    momentum=st.one_of(st.just(0.0), st.floats(0.0, 0.99)),
    centered=st.booleans(),
    maximize=st.booleans(),
))


@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=hyperparameters)
def test_rmsprop_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.rmsprop, torch.optim.RMSprop, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=hyperparameters)
def test_rmsprop_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.rmsprop, torch.optim.RMSprop, hyper, spec, KEYS
  )


@given(spec=parity.pytrees(REAL_AND_COMPLEX), centered=st.booleans())
def test_rmsprop_traced_hyperparameters(spec, centered):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=2.0**-8, alpha=0.9375, eps=2.0**-20, weight_decay=0.03125, momentum=0.75,
               centered=centered)
  helpers.assert_trajectory_matches_torch(
      torchlike.rmsprop, torch.optim.RMSprop, hyper, spec, KEYS,
      traced=("lr", "alpha", "eps", "weight_decay", "momentum"),
  )


def test_rmsprop_signature_matches_torch():
  # torch takes maximize positionally, after its runtime flags capturable and foreach.
  helpers.assert_signature_matches(
      torchlike.rmsprop, torch.optim.RMSprop, keyword_only=("maximize",)
  )


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(alpha=-0.5), "Invalid alpha value: -0.5"),
])
def test_rmsprop_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    torchlike.rmsprop(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], **kwargs)
