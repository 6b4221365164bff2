"""functional_optim.torchlike.adam and adamw against torch.optim.Adam and AdamW."""

import pytest
import torch
from hypothesis import given, strategies as st

from functional_optim import torchlike
import parity
import torchlike_helpers as helpers

KEYS = torchlike.ADAM_TORCH_STATE_KEYS
REAL_AND_COMPLEX = (parity.FLOAT32, parity.COMPLEX64)


def _hyperparameters(beta2, decoupled):
  return st.fixed_dictionaries(dict(
      lr=helpers.learning_rates,
      betas=st.tuples(helpers.unit_interval, beta2),
      eps=helpers.epsilons,
      weight_decay=st.floats(0.0, 1.0) if decoupled is None else helpers.weight_decays,
      amsgrad=st.booleans(),
      maximize=st.booleans(),
      **({} if decoupled is None else dict(decoupled_weight_decay=decoupled)),
  ))


@given(spec=helpers.trees(parity.ALL_DTYPES),
       hyper=_hyperparameters(helpers.unit_interval, st.booleans()))
def test_adam_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.adam, torch.optim.Adam, hyper, spec, KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX),
       hyper=_hyperparameters(helpers.second_moment_decays, st.booleans()))
def test_adam_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(torchlike.adam, torch.optim.Adam, hyper, spec, KEYS)


# adamw takes no decoupled_weight_decay (decoupled=None): torch's AdamW has none.
@given(spec=helpers.trees(parity.ALL_DTYPES), hyper=_hyperparameters(helpers.unit_interval, None))
def test_adamw_steps(spec, hyper):
  helpers.assert_steps_match_torch(torchlike.adamw, torch.optim.AdamW, hyper, spec,
                                   torchlike.ADAMW_TORCH_STATE_KEYS)


@given(spec=parity.pytrees(REAL_AND_COMPLEX),
       hyper=_hyperparameters(helpers.second_moment_decays, None))
def test_adamw_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(torchlike.adamw, torch.optim.AdamW, hyper, spec,
                                          torchlike.ADAMW_TORCH_STATE_KEYS)


@given(spec=parity.pytrees((parity.FLOAT32,)), amsgrad=st.booleans(),
       decoupled_weight_decay=st.booleans())
def test_adam_traced_hyperparameters(spec, amsgrad, decoupled_weight_decay):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.0625, betas=(0.875, 0.9990234375), eps=2.0**-20, weight_decay=0.125,
               amsgrad=amsgrad, decoupled_weight_decay=decoupled_weight_decay)
  helpers.assert_trajectory_matches_torch(torchlike.adam, torch.optim.Adam, hyper, spec, KEYS,
                                          traced=("lr", "betas", "eps", "weight_decay"))


@given(spec=parity.pytrees((parity.FLOAT32,)), beta2=st.sampled_from([0.99999, 0.999999]))
def test_adam_beta2_near_one(spec, beta2):
  # 1 - beta2**step must keep float32 relative precision although beta2 rounds to
  # float32 with an error far above 1 - beta2.
  hyper = dict(lr=0.01, betas=(0.9, beta2))
  helpers.assert_trajectory_matches_torch(torchlike.adam, torch.optim.Adam, hyper, spec, KEYS)


def test_adam_without_amsgrad_has_no_max():
  assert torchlike.adam().init(1.0).max_exp_avg_sq is None


def test_adam_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.adam, torch.optim.Adam)


def test_adamw_signature_matches_torch():
  helpers.assert_signature_matches(torchlike.adamw, torch.optim.AdamW)


@pytest.mark.parametrize("factory, torch_cls", [
    (torchlike.adam, torch.optim.Adam), (torchlike.adamw, torch.optim.AdamW),
])
@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
])
def test_adam_invalid(factory, torch_cls, kwargs, message):
  with pytest.raises(ValueError, match=message):
    factory(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch_cls([torch.zeros(1, requires_grad=True)], **kwargs)
