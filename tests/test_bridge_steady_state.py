"""The bridge's per-step shortcuts for an unchanged structure (see _buffers, _sync_state_in).

After a few steps the bridge skips its per-entry state checks while a snapshot of
`optimizer.state` is unchanged, and reuses its write-back views while parameters'
data pointers hold. Every edit must still take effect once those shortcuts are on.
"""

import pytest
import torch

from test_bridge_contract import EDITS, _assert_close, _pair, _step_both

STEADY = 3  # steps after which both shortcuts are in use


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_state_edits_after_steady_steps_take_effect(edit):
  pairs = _pair("Adam", lr=0.1)
  for seed in range(STEADY):
    _step_both(pairs, seed)
  for opt, params in pairs:
    EDITS[edit](opt, params[0])
  _step_both(pairs, STEADY)
  _assert_close(pairs)


def test_a_parameter_given_new_storage_after_steady_steps_is_written_there():
  pairs = _pair("Adam", lr=0.1)
  for seed in range(STEADY):
    _step_both(pairs, seed)
  replacement = torch.randn(3, 2)
  for _, params in pairs:
    params[0].data = replacement.clone()  # as DDP or FSDP re-point parameters
  _step_both(pairs, STEADY)
  _assert_close(pairs)
  _step_both(pairs, STEADY + 1)
  _assert_close(pairs)


def test_a_gradient_that_stops_matching_after_steady_steps_raises_and_changes_nothing():
  pairs = _pair("Adam", lr=0.1)
  for seed in range(STEADY):
    _step_both(pairs, seed)
  opt, params = pairs[1]
  before = [p.detach().clone() for p in params]
  for p in params:
    p.grad = torch.ones_like(p)
  params[1].grad.data = torch.ones(1)  # past the grad setter's check: broadcastable, but wrong
  with pytest.raises(ValueError, match="gradient does not match its parameter"):
    opt.step()
  assert all(torch.equal(a, b) for a, b in zip(before, params))


def test_a_square_parameter_given_its_own_storage_transposed_after_steady_steps_is_read_and_written_so():
  # Same data pointer and shape, other strides: the cached flat views of the parameters must not be used.
  pairs = _pair("Adam", shapes=((3, 3), (2,)), lr=0.1)
  for seed in range(STEADY):
    _step_both(pairs, seed)
  for _, params in pairs:
    params[0].data = params[0].data.t()
  for seed in range(STEADY, STEADY + 2):
    _step_both(pairs, seed)
    _assert_close(pairs)
