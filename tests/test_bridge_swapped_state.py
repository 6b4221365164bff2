"""State buffers that take over the step's output memory (see `_store`, "swapped").

On CPU, a state buffer whose views are large stops being copied into: after each
step it becomes the memory XLA wrote the new values into, the tensors in
`optimizer.state` are re-pointed there (the same objects), and its old memory is
reused by the next step's outputs. Here every buffer is made to swap (the size
threshold set to 0, autouse fixture below), and torch's contract is checked again:
the contract, atomicity and steady-state tests and the drop-ins' property tests
are imported and rerun in this mode, next to tests of what only swapping can break.
"""

import pytest
import torch

import torch_bridge
from dropin_harness import ATOL, RTOL
from torch_bridge import _store

# Rerun here with every state buffer swapped (pytest collects the imported tests in this module).
from test_bridge_atomic import (  # noqa: F401
    test_fault_before_the_compiled_step_changes_nothing,
    test_fault_inside_the_compiled_step_changes_nothing,
    test_fault_while_copying_back_the_second_group_changes_nothing,
    test_fault_while_tracing_the_update_changes_nothing,
    test_step_post_hook_fault_keeps_the_step_as_torch_does,
)
from test_bridge_adaptive import test_matches_torch_with_checkpoint_interchange as test_adaptive_matches_torch  # noqa: F401
from test_bridge_contract import _assert_close, _step_both
from test_bridge_contract import (  # noqa: F401
    test_an_assigned_tensor_holds_the_stepped_value_after_the_step,
    test_deepcopy_and_pickle_give_an_independent_optimizer,
    test_edits_to_state_take_effect_at_the_next_step,
    test_functional_optimizer_deepcopies,
    test_interleaved_state_edits_and_steps_match_torch,
    test_parameters_keep_their_storage,
    test_schedule_free_eval_and_train_swap_parameters_as_optax_computes_them,
    test_state_dict_is_torch_s_own_and_linear,
    test_state_is_a_live_mapping_of_torch_tensors,
)
from test_bridge_first_order import test_matches_torch_with_checkpoint_interchange as test_first_order_matches_torch  # noqa: F401
from test_bridge_steady_state import (  # noqa: F401
    test_a_parameter_given_new_storage_after_steady_steps_is_written_there,
    test_state_edits_after_steady_steps_take_effect,
)


DEFAULT_THRESHOLD = _store.SWAP_MIN_ELEMENTS_PER_VIEW


@pytest.fixture(autouse=True)
def every_buffer_swaps(monkeypatch):
  monkeypatch.setattr(_store, "SWAP_MIN_ELEMENTS_PER_VIEW", 0)


def _adamw_pair(sizes, seed=0, *, groups=False):
  gen = torch.Generator().manual_seed(seed)
  values = [torch.randn(n, generator=gen) for n in sizes]
  theirs = [torch.nn.Parameter(v.clone()) for v in values]
  ours = [torch.nn.Parameter(v.clone()) for v in values]
  wrap = (lambda params: [{"params": [p]} for p in params]) if groups else list
  return (torch.optim.AdamW(wrap(theirs), lr=0.05), theirs), (torch_bridge.AdamW(wrap(ours), lr=0.05), ours)


def test_large_state_takes_the_outputs_memory_and_small_state_is_copied(monkeypatch):
  monkeypatch.setattr(_store, "SWAP_MIN_ELEMENTS_PER_VIEW", DEFAULT_THRESHOLD)
  pairs = _adamw_pair([DEFAULT_THRESHOLD, DEFAULT_THRESHOLD - 1], groups=True)
  ours, (big, little) = pairs[1]
  pointers = {"big": [], "little": []}
  for seed in range(5):
    _step_both(pairs, seed)
    _assert_close(pairs)
    pointers["big"].append(ours.state[big]["exp_avg"].data_ptr())
    pointers["little"].append(ours.state[little]["exp_avg"].data_ptr())
  # Swapped: two memories taking turns (last step's and this step's), nothing copied.
  assert len(set(pointers["big"][1:])) == 2 and pointers["big"][1] == pointers["big"][3]
  assert len(set(pointers["little"])) == 1


def test_tensors_held_from_optimizer_state_hold_each_new_step():
  pairs = _adamw_pair([300, 5])
  _step_both(pairs, 0)
  ours, params = pairs[1]
  held = dict(ours.state[params[0]])
  for seed in range(1, 4):
    _step_both(pairs, seed)
    _assert_close(pairs)
    for key, tensor in held.items():
      assert ours.state[params[0]][key] is tensor
    assert held["exp_avg"]._base is None  # not a view of a buffer: that would keep old memory alive


def test_a_view_someone_takes_of_a_state_tensor_sees_every_step():
  pairs = _adamw_pair([300])
  _step_both(pairs, 0)
  (theirs, their_params), (ours, params) = pairs
  theirs_view = theirs.state[their_params[0]]["exp_avg"][10:20]
  ours_view = ours.state[params[0]]["exp_avg"][10:20]  # keeps the buffer's memory: copied into from now on
  pointer = ours.state[params[0]]["exp_avg"].data_ptr()
  for seed in range(1, 4):
    _step_both(pairs, seed)
    torch.testing.assert_close(ours_view, theirs_view, rtol=RTOL, atol=ATOL)
    assert ours.state[params[0]]["exp_avg"].data_ptr() == pointer
  del ours_view
  _step_both(pairs, 4)
  _assert_close(pairs)
  assert ours.state[params[0]]["exp_avg"].data_ptr() != pointer  # swapping again


def test_a_view_of_an_edited_state_tensor_sees_the_edit_and_the_steps():
  pairs = _adamw_pair([40])
  _step_both(pairs, 0)
  views = []
  for opt, params in pairs:
    state = opt.state[params[0]]["exp_avg_sq"]
    state.mul_(4.0)
    views.append(state.view(4, 10))
  for seed in range(1, 3):
    _step_both(pairs, seed)
    torch.testing.assert_close(views[1], views[0], rtol=RTOL, atol=ATOL)
  _assert_close(pairs)


def test_a_loaded_checkpoint_continues_in_swapped_memory():
  pairs = _adamw_pair([500, 7])
  for seed in range(3):
    _step_both(pairs, seed)
  (theirs, _), (ours, _) = pairs
  ours.load_state_dict(theirs.state_dict())
  for seed in range(3, 6):
    _step_both(pairs, seed)
    _assert_close(pairs)
