"""functional_optim.torchlike.sgd against torch.optim.SGD."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
import parity
import torchlike_helpers as helpers

KEYS = torchlike.SGD_TORCH_STATE_KEYS
FLAGS = {"has_momentum_buffer": "momentum_buffer"}
REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)


def _hyperparameters(nesterov):
  return st.fixed_dictionaries(dict(
      lr=helpers.learning_rates,
      momentum=st.floats(0.01, 0.99) if nesterov else st.one_of(st.just(0.0), st.floats(0.0, 0.99)),
      dampening=st.just(0.0) if nesterov else st.floats(0.0, 1.0),
      weight_decay=helpers.weight_decays,
      nesterov=st.just(nesterov),
      maximize=st.booleans(),
  ))


@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=_hyperparameters(nesterov=False))
def test_sgd_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.sgd, torch.optim.SGD, hyper, spec, KEYS, flags=FLAGS)


@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=_hyperparameters(nesterov=True))
def test_sgd_nesterov_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.sgd, torch.optim.SGD, hyper, spec, KEYS, flags=FLAGS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=_hyperparameters(nesterov=False))
def test_sgd_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.sgd, torch.optim.SGD, hyper, spec, KEYS, flags=FLAGS
  )


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=_hyperparameters(nesterov=True))
def test_sgd_nesterov_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.sgd, torch.optim.SGD, hyper, spec, KEYS, flags=FLAGS
  )


@given(spec=parity.pytrees((parity.FLOAT32,)), nesterov=st.booleans())
def test_sgd_traced_hyperparameters(spec, nesterov):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, momentum=0.875, dampening=0.0 if nesterov else 0.25,
               weight_decay=0.03125, nesterov=nesterov)
  helpers.assert_trajectory_matches_torch(
      torchlike.sgd, torch.optim.SGD, hyper, spec, KEYS, flags=FLAGS,
      traced=("lr", "momentum", "dampening", "weight_decay"),
  )


def test_sgd_without_momentum_has_no_state():
  assert torchlike.sgd(lr=0.1).init({"w": 1.0}) == torchlike.SGDState(None, None)


def test_sgd_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.sgd, torch.optim.SGD)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (dict(momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
])
def test_sgd_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    torchlike.sgd(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], **kwargs)
