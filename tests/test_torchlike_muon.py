"""functional_optim.torchlike.muon against torch.optim.Muon (matrices only)."""

import contextlib
from unittest import mock

import jax.numpy as jnp
import pytest
import torch
import torch.optim._muon
from hypothesis import given, strategies as st

from functional_optim.torchlike._muon import MUON_TORCH_STATE_KEYS as KEYS
from functional_optim.torchlike._muon import muon
import parity
import torchlike_helpers as helpers

DEFAULT_COEFFICIENTS = (3.4445, -4.7750, 2.0315)

hyperparameters = st.fixed_dictionaries(dict(
    lr=st.floats(1e-4, 0.1),
    weight_decay=st.one_of(st.just(0.0), st.floats(0.0, 0.2)),
    momentum=st.one_of(st.just(0.0), st.floats(0.0, 0.99)),
    nesterov=st.booleans(),
    ns_coefficients=st.sampled_from([DEFAULT_COEFFICIENTS, (1.5, -0.5, 0.0), (3.0, -3.2, 1.2)]),
    eps=st.floats(1e-8, 1e-3),
    ns_steps=st.integers(0, 6),
    adjust_lr_fn=st.sampled_from([None, "original", "match_rms_adamw"]),
))
matrices = parity.pytrees(min_rank=2, max_rank=2, max_side=5)


# torch 2.13 normalizes a bfloat16 momentum buffer in place when nesterov=False:
# `grad.bfloat16()` returns the buffer itself, which `div_` then divides by its norm
# (fixed upstream by https://github.com/pytorch/pytorch/pull/194664). We keep the
# buffer that torch keeps for every other dtype, and compare with torch patched
# like upstream's fix: the orthogonalization works on a copy.
TORCH_ALIASES_BFLOAT16_MOMENTUM_BUFFER = True
_original_zeropower = torch.optim._muon._zeropower_via_newtonschulz


def _zeropower_on_a_copy(grad, *args):
  return _original_zeropower(grad.clone(), *args)


class TorchMuon:
  """torch.optim.Muon with upstream's aliasing fix; takes the helpers' `foreach` (it has none)."""

  def __init__(self, params, foreach=None, **kwargs):
    del foreach
    self._optimizer = torch.optim.Muon(params, **kwargs)
    self.state = self._optimizer.state

  def step(self):
    patch = mock.patch.object(
        torch.optim._muon, "_zeropower_via_newtonschulz", _zeropower_on_a_copy
    )
    with patch if TORCH_ALIASES_BFLOAT16_MOMENTUM_BUFFER else contextlib.nullcontext():
      self._optimizer.step()


def test_torch_aliases_bfloat16_momentum_buffer():
  # Fails once torch is fixed: then drop the flag and the patch.
  param = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.bfloat16))
  optimizer = torch.optim.Muon([param], momentum=0.5, nesterov=False)
  param.grad = torch.full((2, 2), 4.0, dtype=torch.bfloat16)
  optimizer.step()
  buffer = optimizer.state[param]["momentum_buffer"]
  assert TORCH_ALIASES_BFLOAT16_MOMENTUM_BUFFER == bool((buffer == 0.5).all())  # 2.0 unaliased


@given(spec=parity.pytrees(parity.REAL_DTYPES, min_rank=2, max_rank=2, max_side=5),
       hyper=hyperparameters)
def test_muon_steps(spec, hyper):
  helpers.assert_steps_match_torch(muon, TorchMuon, hyper, spec, KEYS)


@given(spec=matrices, hyper=hyperparameters)
def test_muon_trajectory(spec, hyper):
  helpers.assert_trajectory_matches_torch(muon, TorchMuon, hyper, spec, KEYS)


@given(spec=matrices, nesterov=st.booleans())
def test_muon_traced_hyperparameters(spec, nesterov):
  # Values exact in float32, so that the traced (float32) and Python values agree.
  hyper = dict(lr=0.015625, weight_decay=0.125, momentum=0.875, nesterov=nesterov,
               ns_coefficients=(3.4375, -4.75, 2.03125), eps=2.0**-20)
  helpers.assert_trajectory_matches_torch(
      muon, TorchMuon, hyper, spec, KEYS,
      traced=("lr", "weight_decay", "momentum", "ns_coefficients", "eps"),
  )


@pytest.mark.parametrize("shape", [(), (3,), (2, 2, 2)])
def test_muon_rejects_non_matrices(shape):
  message = r"Muon only supports 2D parameters whereas we found a parameter with size: torch.Size\("
  with pytest.raises(ValueError, match=message):
    muon().init({"w": jnp.ones((2, 2)), "b": jnp.ones(shape)})
  with pytest.raises(ValueError, match=message + rf"\{list(shape)}\)"):
    torch.optim.Muon([torch.zeros(shape, requires_grad=True)])


def test_muon_rejects_complex_parameters():
  with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
    muon().init(jnp.ones((2, 2), jnp.complex64))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
    (dict(momentum=-0.5), "momentum should be >= 0 but is: -0.5"),
    (dict(weight_decay=-0.1), "weight decay should be >= 0 but is: -0.1"),
    (dict(adjust_lr_fn="sqrt"), "Adjust learning rate function sqrt is not supported"),
])
def test_muon_invalid(kwargs, message):
  with pytest.raises(ValueError, match=message):
    muon(**kwargs)
  with pytest.raises(ValueError, match=message):
    torch.optim.Muon([torch.zeros((2, 2), requires_grad=True)], **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(ns_steps=100), "Number of steps must be less than 100 for computational efficiency"),
    (dict(ns_coefficients=(1.0, 2.0)), "Coefficients must be a tuple of exactly 3 values"),
])
def test_muon_invalid_at_first_step_in_torch(kwargs, message):
  # torch raises these when it first orthogonalizes; the factory raises them at once.
  with pytest.raises(ValueError, match=message):
    muon(**kwargs)
  param = torch.zeros((2, 2), requires_grad=True)
  optimizer = torch.optim.Muon([param], **kwargs)
  param.grad = torch.ones((2, 2))
  with pytest.raises(ValueError, match=message):
    optimizer.step()
