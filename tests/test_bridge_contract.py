"""torch's Optimizer contract (DESIGN.md, "Ownership"): torch owns the parameters and the state.

Each test does the same thing to `torch.optim.<Name>` and `torch_bridge.<Name>` side by
side and compares: parameter storage is never re-pointed, `optimizer.state` is the live
state (reads, in-place edits, item and entry assignment, clearing and replacing the
mapping take effect at the next step, and tensors read before a step hold the stepped
values after it), deepcopy and pickling, float64, older checkpoints, duplicate
parameters, tensor kinds the bridge refuses, and `torch.compile`.
"""

import collections
import copy
import pickle

import pytest
import torch
from hypothesis import given, settings, strategies as st

import functional_optim as fo
import torch_bridge
from dropin_harness import ATOL, RTOL


def _pair(name, shapes=((3, 2), (2,)), dtype=torch.float32, seed=0, **kwargs):
  gen = torch.Generator().manual_seed(seed)
  values = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
  theirs = [torch.nn.Parameter(v.clone()) for v in values]
  ours = [torch.nn.Parameter(v.clone()) for v in values]
  return (getattr(torch.optim, name)(theirs, **kwargs), theirs), (getattr(torch_bridge, name)(ours, **kwargs), ours)


def _grads(params, seed):
  gen = torch.Generator().manual_seed(1000 + seed)
  return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def _step_both(pairs, seed):
  for opt, params in pairs:
    for p, g in zip(params, _grads(params, seed)):
      p.grad = g
    opt.step()


def _assert_close(pairs, rtol=RTOL, atol=ATOL):
  (theirs, their_params), (ours, our_params) = pairs
  for a, b in zip(their_params, our_params):
    torch.testing.assert_close(b.detach(), a.detach(), rtol=rtol, atol=atol)
  for a, b in zip(their_params, our_params):
    assert set(theirs.state[a]) == set(ours.state[b])
    for key, value in theirs.state[a].items():
      torch.testing.assert_close(ours.state[b][key], value, rtol=rtol, atol=atol, msg=key)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adafactor"])
def test_parameters_keep_their_storage(name):
  kwargs = {"momentum": 0.9} if name == "SGD" else {}
  pairs = _pair(name, **kwargs)
  _, params = pairs[1]
  pointers = [p.data_ptr() for p in params]
  for seed in range(3):
    _step_both(pairs, seed)
  assert [p.data_ptr() for p in params] == pointers
  _assert_close(pairs)


def test_non_contiguous_parameters_are_stepped_in_place():
  base = torch.randn(4, 3)
  theirs = torch.nn.Parameter(base.clone().t())  # a transposed view: not contiguous
  ours = torch.nn.Parameter(base.clone().t())
  assert not ours.is_contiguous()
  pairs = [(torch.optim.Adam([theirs], lr=0.1), [theirs]), (torch_bridge.Adam([ours], lr=0.1), [ours])]
  pointer = ours.data_ptr()
  for seed in range(3):
    _step_both(pairs, seed)
  assert ours.data_ptr() == pointer and not ours.is_contiguous()
  _assert_close(pairs)


def test_state_is_a_live_mapping_of_torch_tensors():
  pairs = _pair("Adam")
  _step_both(pairs, 0)
  ours, params = pairs[1]
  held = ours.state[params[0]]["exp_avg"]
  before = held.clone()
  _step_both(pairs, 1)
  assert not torch.equal(held, before)  # a tensor read before a step holds the stepped value
  assert held is ours.state[params[0]]["exp_avg"]
  assert isinstance(ours.state, collections.defaultdict)
  _assert_close(pairs)


EDITS = {
    "zero in place": lambda opt, p: opt.state[p]["exp_avg"].zero_(),
    "scale in place": lambda opt, p: opt.state[p]["exp_avg_sq"].mul_(3.0),
    "assign a tensor": lambda opt, p: opt.state[p].__setitem__("exp_avg", torch.full_like(p, 0.25)),
    "assign the step": lambda opt, p: opt.state[p].__setitem__("step", torch.tensor(7.0)),
    "replace the entry": lambda opt, p: opt.state.__setitem__(
        p, {k: v.clone() * 0.5 if k != "step" else v.clone() for k, v in opt.state[p].items()}),
    "clear": lambda opt, p: opt.state.clear(),
    "replace the mapping": lambda opt, p: setattr(
        opt, "state", collections.defaultdict(dict, {q: dict(v) for q, v in opt.state.items()})),
    "drop one entry": lambda opt, p: opt.state.pop(p),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edits_to_state_take_effect_at_the_next_step(edit):
  pairs = _pair("Adam", lr=0.1)
  _step_both(pairs, 0)
  for opt, params in pairs:
    EDITS[edit](opt, params[0])
  _step_both(pairs, 1)
  _assert_close(pairs)
  _step_both(pairs, 2)
  _assert_close(pairs)


def test_an_assigned_tensor_holds_the_stepped_value_after_the_step():
  pairs = _pair("Adam", lr=0.1)
  _step_both(pairs, 0)
  assigned = []
  for opt, params in pairs:
    t = torch.full_like(params[0], 0.25)
    opt.state[params[0]]["exp_avg"] = t
    assigned.append(t)
  _step_both(pairs, 1)
  torch.testing.assert_close(assigned[1], assigned[0], rtol=RTOL, atol=ATOL)
  assert not torch.equal(assigned[1], torch.full_like(assigned[1], 0.25))
  assert pairs[1][0].state[pairs[1][1][0]]["exp_avg"] is assigned[1]


@settings(max_examples=6)
@given(st.lists(st.tuples(st.sampled_from(["step"] * 3 + sorted(EDITS)), st.integers(0, 1)), min_size=3, max_size=8),
       st.sampled_from(["Adam", "SGD", "Adagrad"]))
def test_interleaved_state_edits_and_steps_match_torch(program, name):
  kwargs = {"momentum": 0.9, "lr": 0.1} if name == "SGD" else {"lr": 0.1}
  pairs = _pair(name, **kwargs)
  _step_both(pairs, 0)
  for t, (action, which) in enumerate(program):
    if action == "step":
      _step_both(pairs, t + 1)
      continue
    for opt, params in pairs:
      p = params[which]
      has = all(k in opt.state.get(p, {}) for k in ("exp_avg", "exp_avg_sq", "step"))
      if action in ("zero in place", "scale in place", "assign a tensor", "assign the step", "replace the entry"):
        if name != "Adam" or not has:
          continue
      EDITS[action](opt, p)
    _assert_close(pairs)
  _step_both(pairs, 99)
  _assert_close(pairs)


def test_deepcopy_and_pickle_give_an_independent_optimizer():
  pairs = _pair("AdamW", lr=0.1)
  _step_both(pairs, 0)
  copies = [copy.deepcopy((opt, params)) for opt, params in pairs]
  assert {k for k in vars(copies[1][0]) if not k.startswith("_")} == {k for k in vars(copies[0][0]) if not k.startswith("_")}
  _step_both(copies, 1)
  _assert_close(copies)
  _assert_close(pairs)  # the originals did not move
  restored = pickle.loads(pickle.dumps(pairs[1]))
  _step_both([pairs[0], restored], 1)
  _assert_close([pairs[0], restored])


def test_functional_optimizer_deepcopies():
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.chain(fo.clip_by_global_norm(1.0), fo.adam(0.1)))
  w.grad = torch.ones(3)
  opt.step()
  other_w, other = copy.deepcopy((w, opt))
  for o, p in ((opt, w), (other, other_w)):
    p.grad = torch.full((3,), 0.5)
    o.step()
  assert torch.equal(w, other_w)
  assert torch.equal(opt.state[w]["scale_by_adam.count"], other.state[other_w]["scale_by_adam.count"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Rprop"])
def test_float64_is_computed_in_float64(name):
  kwargs = {"momentum": 0.9} if name == "SGD" else {}
  pairs = _pair(name, dtype=torch.float64, **kwargs)
  for seed in range(4):
    _step_both(pairs, seed)
  _assert_close(pairs, rtol=1e-12, atol=1e-13)
  import jax
  assert not jax.config.jax_enable_x64  # the user's setting is untouched


def test_older_checkpoint_without_flags_and_with_a_number_step_loads_as_torch_loads_it():
  pairs = _pair("Adam", lr=0.1)
  _step_both(pairs, 0)
  old = copy.deepcopy(pairs[0][0].state_dict())
  for group in old["param_groups"]:
    for key in ("foreach", "maximize", "capturable", "differentiable", "fused", "decoupled_weight_decay"):
      group.pop(key)
  for entry in old["state"].values():
    entry["step"] = float(entry["step"])
  for opt, _ in pairs:
    opt.load_state_dict(copy.deepcopy(old))
  assert pairs[1][0].param_groups[0]["maximize"] is False
  _step_both(pairs, 1)
  _assert_close(pairs)


def test_adam_checkpoint_into_adamw_decouples_weight_decay_as_torch():
  results = []
  for module in (torch.optim, torch_bridge):
    w = torch.nn.Parameter(torch.ones(3))
    adam = module.Adam([w], lr=0.1, weight_decay=0.1)
    w.grad = torch.ones(3)
    adam.step()
    adamw = module.AdamW([w], lr=0.1, weight_decay=0.1)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True
    w.grad = torch.ones(3)
    adamw.step()
    results.append(w.detach().clone())
  torch.testing.assert_close(results[1], results[0], rtol=RTOL, atol=ATOL)


def test_duplicate_parameters_warn_and_step_as_torch():
  """torch steps a parameter listed twice twice per step (sharing its state)."""
  base = torch.randn(3)
  results = []
  for module in (torch.optim, torch_bridge):
    w = torch.nn.Parameter(base.clone())
    with pytest.warns(UserWarning, match="duplicate parameters"):
      opt = module.Adam([w, w], lr=0.1)
    for seed in range(2):
      w.grad = _grads([w], seed)[0]
      opt.step()
    results.append((w.detach().clone(), opt.state[w]["exp_avg"].clone(), opt.state[w]["step"].clone()))
  for a, b in zip(*results):
    torch.testing.assert_close(b, a, rtol=RTOL, atol=ATOL)


def test_tensors_the_bridge_cannot_step_raise_a_type_error_first():
  with pytest.raises(TypeError, match="meta"):
    torch_bridge.Adam([torch.nn.Parameter(torch.empty(3, device="meta"))])

  class Custom(torch.Tensor):
    pass

  with pytest.raises(TypeError, match="Custom"):
    torch_bridge.Adam([torch.zeros(3).as_subclass(Custom).requires_grad_()])


def test_a_plain_transformation_refuses_lr_schedulers_with_a_message():
  w = torch.nn.Parameter(torch.ones(3))
  opt = torch_bridge.FunctionalOptimizer([w], fo.adam(0.1))
  with pytest.raises(KeyError, match="factory"):
    torch.optim.lr_scheduler.StepLR(opt, step_size=1)
  with pytest.raises(ValueError, match="lr"):
    torch_bridge.FunctionalOptimizer([{"params": [w], "lr": 0.1}], fo.adam(0.1))


def test_torch_compile_of_a_train_step_works():
  model_t, model_o = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
  model_o.load_state_dict(model_t.state_dict())
  results = []
  for module, model in ((torch.optim, model_t), (torch_bridge, model_o)):
    opt = module.AdamW(model.parameters(), lr=0.1)

    @torch.compile(backend="eager")
    def train_step(x):
      opt.zero_grad()
      loss = model(x).pow(2).sum()
      loss.backward()
      opt.step()
      return loss

    for seed in range(3):
      train_step(torch.randn(4, 3, generator=torch.Generator().manual_seed(seed)))
    results.append([p.detach().clone() for p in model.parameters()])
  for a, b in zip(*results):
    torch.testing.assert_close(b, a, rtol=RTOL, atol=ATOL)


def test_state_dict_is_torch_s_own_and_linear():
  params = [torch.nn.Parameter(torch.randn(2)) for _ in range(300)]
  opt = torch_bridge.Adam(params, lr=0.1)
  for p in params:
    p.grad = torch.ones(2)
  opt.step()
  state_dict = opt.state_dict()
  assert set(state_dict["state"]) == set(range(300))
  assert state_dict["state"][7]["exp_avg"] is opt.state[params[7]]["exp_avg"]  # no copies, as torch


@pytest.mark.parametrize("name", ["schedule_free_adamw", "schedule_free_sgd"])
def test_schedule_free_eval_and_train_swap_parameters_as_optax_computes_them(name):
  import jax.numpy as jnp
  import optax
  ours_tx, their_tx = getattr(fo.contrib, name)(learning_rate=0.1), getattr(optax.contrib, name)(learning_rate=0.1)
  w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
  opt = torch_bridge.FunctionalOptimizer([w], ours_tx)
  params = (jnp.array([1.0, -2.0, 0.5]),)
  state = their_tx.init(params)
  for seed in range(4):
    g = _grads([w], seed)[0]
    w.grad = g
    opt.step()
    updates, state = their_tx.update((jnp.asarray(g.numpy()),), state, params)
    params = optax.apply_updates(params, updates)
  torch.testing.assert_close(w.detach(), torch.tensor(params[0].tolist()), rtol=RTOL, atol=ATOL)
  training = w.detach().clone()
  opt.eval()
  expected = optax.contrib.schedule_free_eval_params(state, params)[0]
  torch.testing.assert_close(w.detach(), torch.tensor(expected.tolist()), rtol=RTOL, atol=ATOL)
  with pytest.raises(RuntimeError, match="train()"):
    opt.step()
  opt.train()
  torch.testing.assert_close(w.detach(), training, rtol=RTOL, atol=ATOL)


def test_eval_needs_a_schedule_free_transformation():
  w = torch.nn.Parameter(torch.ones(2))
  with pytest.raises(TypeError, match="schedule-free"):
    torch_bridge.FunctionalOptimizer([w], fo.adam(0.1)).eval()


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}),
                                         ("Adagrad", {"lr": 0.1}), ("Adagrad", {"lr": 0.1, "lr_decay": 0.01})])
def test_sgd_and_adagrad_step_sparse_gradients_as_torch(name, kwargs):
  results = []
  for module in (torch.optim, torch_bridge):
    embedding = torch.nn.Embedding(6, 3, sparse=True)
    with torch.no_grad():
      embedding.weight.copy_(torch.arange(18.0).reshape(6, 3) / 10)
    opt = getattr(module, name)(embedding.parameters(), **kwargs)
    for rows in ([1, 1, 4], [0, 4], [5]):
      opt.zero_grad()
      embedding(torch.tensor(rows)).pow(2).sum().backward()
      opt.step()
    results.append(embedding.weight.detach().clone())
  torch.testing.assert_close(results[1], results[0], rtol=RTOL, atol=ATOL)


def test_adagrad_refuses_weight_decay_with_sparse_gradients_as_torch():
  embedding = torch.nn.Embedding(4, 2, sparse=True)
  opt = torch_bridge.Adagrad(embedding.parameters(), weight_decay=0.1)
  embedding(torch.tensor([1])).sum().backward()
  with pytest.raises(RuntimeError, match="weight_decay option is not compatible with sparse gradients"):
    opt.step()
