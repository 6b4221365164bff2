"""functional_optim.torchlike.adagrad against torch.optim.Adagrad."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
import parity
import torchlike_helpers as helpers

REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)
KEYS = torchlike.ADAGRAD_TORCH_STATE_KEYS


hyperparameters = st.fixed_dictionaries(dict(
    lr=helpers.learning_rates,
    lr_decay=st.one_of(st.just(0.0), st.floats(0.0, 0.5)),
    weight_decay=helpers.weight_decays,
    initial_accumulator_value=st.one_of(st.just(0.0), st.floats(0.0, 2.0)),
    eps=st.one_of(st.just(1e-10), st.floats(0.0, 1e-3)),
    maximize=st.booleans(),
))


@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=hyperparameters)
def test_adagrad_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.adagrad, torch.optim.Adagrad, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX), hyper=hyperparameters)
def test_adagrad_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(
      torchlike.adagrad, torch.optim.Adagrad, hyper, spec, KEYS
  )


@given(spec=parity.pytrees(REAL_AND_COMPLEX))
def test_adagrad_traced_hyperparameters(spec):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, lr_decay=0.125, weight_decay=0.03125, initial_accumulator_value=0.5,
               eps=2.0**-30)
  helpers.assert_trajectory_matches_torch(
      torchlike.adagrad, torch.optim.Adagrad, hyper, spec, KEYS,
      traced=("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
  )


def test_adagrad_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.adagrad, torch.optim.Adagrad)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(lr_decay=-0.5), "Invalid lr_decay value: -0.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
])
def test_adagrad_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    torchlike.adagrad(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Adagrad([torch.zeros(1, requires_grad=True)], **kwargs)
