"""torch's schedulers that cycle momentum (`OneCycleLR`, `CyclicLR`) drive a factory's `b1` / `momentum`."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_optim as fo
import torch_bridge

torch.set_default_dtype(torch.float32)

SCHEDULERS = {
    "OneCycleLR": lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1e-2, 3e-3], total_steps=12),
    "CyclicLR": lambda opt: torch.optim.lr_scheduler.CyclicLR(opt, base_lr=1e-3, max_lr=1e-2, step_size_up=3),
}
# (torch.optim's optimizer, the same as a factory, the factory's momentum-like group key)
PAIRS = {
    "AdamW": (lambda groups: torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01),
              lambda groups: torch_bridge.FunctionalOptimizer(groups, fo.adamw, lr=1e-3, weight_decay=0.01)),
    "Adam": (lambda groups: torch.optim.Adam(groups, lr=1e-3, betas=(0.9, 0.99)),
             lambda groups: torch_bridge.FunctionalOptimizer(groups, fo.adam, lr=1e-3, b2=0.99)),
    "SGD": (lambda groups: torch.optim.SGD(groups, lr=1e-3, momentum=0.9),
            lambda groups: torch_bridge.FunctionalOptimizer(groups, fo.sgd, lr=1e-3, momentum=0.9)),
    "drop-in AdamW": (lambda groups: torch.optim.AdamW(groups, lr=1e-3),
                      lambda groups: torch_bridge.AdamW(groups, lr=1e-3)),
}


def _groups(model):
  return [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 3e-3}]


def _run(model, opt, scheduler, data):
  history = []
  for x, y in data:
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    scheduler.step()
    history.append([(g["lr"], g.get("betas", g.get("momentum"))) for g in opt.param_groups])
  return history


@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**16))
@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_cycled_momentum_reaches_the_step_as_in_torch(scheduler, pair, seed):
  torch.manual_seed(seed)
  model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
  data = [(torch.randn(6, 5), torch.randn(6, 2)) for _ in range(12)]
  make_torch, make_ours = PAIRS[pair]
  theirs_model, ours_model = copy.deepcopy(model), copy.deepcopy(model)
  theirs, ours = make_torch(_groups(theirs_model)), make_ours(_groups(ours_model))
  theirs_history = _run(theirs_model, theirs, SCHEDULERS[scheduler](theirs), data)
  ours_history = _run(ours_model, ours, SCHEDULERS[scheduler](ours), data)
  assert ours_history == theirs_history  # the scheduler wrote the same lr and momentum
  assert len({h[0][1] for h in ours_history}) > 3  # and the momentum moved
  for a, b in zip(theirs_model.parameters(), ours_model.parameters()):
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)  # float32 rounding over 12 steps
  assert len(ours._compiled) == 2  # the common and general variants, compiled once: no recompilation


def test_a_factory_s_b1_b2_are_torch_s_betas_both_ways():
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1, b1=0.8)
  assert opt.param_groups[0]["betas"] == (0.8, 0.999) and "b1" not in opt.param_groups[0]
  same = torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1, betas=(0.8, 0.999))
  assert same.param_groups[0]["betas"] == (0.8, 0.999)
  assert opt._transformation_hyperparams(opt.param_groups[0])["b1"] == 0.8
  with pytest.raises(TypeError, match="give betas or b1, not both"):
    torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1, b1=0.8, betas=(0.8, 0.999))
  with pytest.raises(ValueError, match=r"betas must be a tuple of 2 numbers \(b1, b2\), got betas=0.9"):
    torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1, betas=0.9)


def test_a_group_with_b1_is_a_group_with_betas():
  w, v = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
  opt = torch_bridge.FunctionalOptimizer([{"params": [w], "b1": 0.5}], fo.adam, learning_rate=0.1, b2=0.9)
  opt.add_param_group({"params": [v], "b2": 0.99})
  assert [g["betas"] for g in opt.param_groups] == [(0.5, 0.9), (0.9, 0.99)]
  assert all("b1" not in g and "b2" not in g for g in opt.param_groups)


def test_a_group_s_betas_change_the_step_without_recompiling():
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.adam, learning_rate=0.1)
  ref_w = torch.nn.Parameter(torch.ones(3))
  ref = torch.optim.Adam([ref_w], lr=0.1)
  for betas in [(0.9, 0.999), (0.5, 0.9), (0.7, 0.99)]:
    for o, p in ((opt, w), (ref, ref_w)):
      o.param_groups[0]["betas"] = betas
      p.grad = torch.tensor([0.5, -1.0, 2.0])
      o.step()
  torch.testing.assert_close(w, ref_w, rtol=1e-6, atol=1e-7)
  assert len(opt._compiled) == 2


def test_checkpoints_with_b1_in_their_groups_still_load():
  """Groups of earlier versions kept a factory's `b1` under its own name, or not at all (its default)."""
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1)
  saved = opt.state_dict()
  group = {k: v for k, v in saved["param_groups"][0].items() if k != "betas"}
  opt.load_state_dict({"state": {}, "param_groups": [{**group, "b1": 0.5}]})
  assert opt.param_groups[0]["betas"] == (0.5, 0.999)
  opt.load_state_dict({"state": {}, "param_groups": [group]})
  assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_a_factory_without_momentum_refuses_cycle_momentum_as_torch():
  """fo.sgd without `momentum` has none to cycle: torch's scheduler says so (pass momentum=0.9 to cycle it)."""
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.sgd, learning_rate=0.1)
  with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
    torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
  torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)
