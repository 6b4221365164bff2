"""torch_bridge._threads: the bridge's copies use fewer CPU threads, and the user's count is restored."""

import pytest
import torch

import torch_bridge
from torch_bridge import _threads


@pytest.fixture
def four_threads():
  before = torch.get_num_threads()
  torch.set_num_threads(4)
  yield
  torch.set_num_threads(before)


def test_copies_run_with_half_the_threads_and_the_count_comes_back(four_threads):
  with _threads.fewer_copy_threads():
    inside = torch.get_num_threads()
  assert (inside, torch.get_num_threads()) == (2, 4)


def test_the_count_comes_back_when_the_block_raises(four_threads):
  with pytest.raises(ValueError):
    with _threads.fewer_copy_threads():
      raise ValueError("boom")
  assert torch.get_num_threads() == 4


def test_one_thread_stays_one():
  before = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    with _threads.fewer_copy_threads():
      assert torch.get_num_threads() == 1
  finally:
    torch.set_num_threads(before)


def test_step_leaves_the_thread_count_as_it_was_also_when_it_raises(four_threads):
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.AdamW([w], lr=0.1)
  w.grad = torch.ones(3)
  opt.step()
  assert torch.get_num_threads() == 4
  w.grad = torch.ones(3).to_sparse()  # AdamW refuses it inside the scoped block
  with pytest.raises(RuntimeError, match="sparse"):
    opt.step()
  assert torch.get_num_threads() == 4
