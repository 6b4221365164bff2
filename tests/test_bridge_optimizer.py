"""torch_bridge.FunctionalOptimizer: generic transformations in a torch loop."""

import copy
import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from hypothesis import given, settings, strategies as st

import torch_bridge
from dropin_harness import CompileCounter

OPTAX_TRANSFORMATIONS = {
    "adam": lambda: optax.adam(1e-2),
    "adamw_masked": lambda: optax.adamw(1e-2, weight_decay=0.1, mask=lambda p: jax.tree.map(lambda x: x.ndim > 1, p)),
    "sgd_nesterov": lambda: optax.sgd(1e-2, momentum=0.9, nesterov=True),
    "clip_then_lion": lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.lion(1e-3)),
    "adafactor": lambda: optax.adafactor(1e-2),
    "noisy_sgd": lambda: optax.noisy_sgd(1e-2, key=0),
    "multisteps": lambda: optax.MultiSteps(optax.adam(1e-2), every_k_schedule=2),
}


def make_model(seed, widths):
  torch.manual_seed(seed)
  layers = []
  for fan_in, fan_out in zip(widths[:-1], widths[1:]):
    layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.Tanh()]
  return torch.nn.Sequential(*layers[:-1])


def batches(seed, num_steps, width_in, width_out):
  g = torch.Generator().manual_seed(seed)
  return [(torch.randn(8, width_in, generator=g), torch.randn(8, width_out, generator=g)) for _ in range(num_steps)]


def loss_of(model, x, y):
  return ((model(x) - y) ** 2).mean()


def as_jax(tensors):
  return tuple(jnp.asarray(t.detach().numpy().copy()) for t in tensors)


def assert_params_close(model, expected, rtol=2e-5, atol=2e-6):
  for p, e in zip(model.parameters(), expected):
    np.testing.assert_allclose(p.detach().numpy(), np.asarray(e), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(OPTAX_TRANSFORMATIONS))
@settings(max_examples=3)
@given(seed=st.integers(0, 1000), widths=st.lists(st.integers(1, 5), min_size=2, max_size=4))
def test_optax_transformation_in_torch_loop_equals_optax(name, seed, widths):
  model = make_model(seed, widths)
  tx = OPTAX_TRANSFORMATIONS[name]()
  params = as_jax(model.parameters())
  state = tx.init(params)
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), tx)
  for x, y in batches(seed, 10, widths[0], widths[-1]):
    opt.zero_grad()
    loss_of(model, x, y).backward()
    updates, state = jax.jit(tx.update)(as_jax(p.grad for p in model.parameters()), state, params)
    params = optax.apply_updates(params, updates)
    opt.step()
    assert_params_close(model, params)


def _train(opt, model, data):
  for x, y in data:
    opt.zero_grad()
    loss_of(model, x, y).backward()
    opt.step()


def test_factory_form_with_lr_scheduler_and_groups_equals_injected_optax():
  model = make_model(0, [3, 4, 2])
  groups = [
      {"params": model[0].parameters()},
      {"params": model[2].parameters(), "weight_decay": 0.0, "lr": 3e-2},
  ]
  opt = torch_bridge.FunctionalOptimizer(groups, optax.adamw, learning_rate=1e-2, weight_decay=0.1)
  scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
  reference = [optax.inject_hyperparams(optax.adamw)(learning_rate=g["lr"], weight_decay=g["weight_decay"]) for g in opt.param_groups]
  group_params = [as_jax(model[0].parameters()), as_jax(model[2].parameters())]
  states = [tx.init(p) for tx, p in zip(reference, group_params)]
  compiles = CompileCounter().__enter__()
  for t, (x, y) in enumerate(batches(0, 8, 3, 2)):
    for state, group in zip(states, opt.param_groups):
      state.hyperparams["learning_rate"] = jnp.asarray(group["lr"])
    opt.zero_grad()
    loss_of(model, x, y).backward()
    for k, module in enumerate((model[0], model[2])):
      grads = as_jax(p.grad for p in module.parameters())
      updates, states[k] = reference[k].update(grads, states[k], group_params[k])
      group_params[k] = optax.apply_updates(group_params[k], updates)
    opt.step()
    scheduler.step()
    assert_params_close(model, group_params[0] + group_params[1])
    if t == 0:
      compiled_by_first_step = compiles.count
  compiles.__exit__()
  assert compiles.count == compiled_by_first_step, "changing lr must not recompile"


def test_missing_gradient_leaves_value_and_state_untouched_and_does_not_recompile():
  model = make_model(1, [3, 3, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam(1e-2))
  data = batches(1, 4, 3, 1)
  _train(opt, model, data[:2])
  compiles = CompileCounter().__enter__()
  frozen = model[2].bias
  value, state = frozen.detach().clone(), {k: v.clone() for k, v in opt.state[frozen].items()}
  opt.zero_grad()
  loss_of(model, *data[2]).backward()
  frozen.grad = None
  opt.step()
  assert torch.equal(frozen, value)
  per_param = {k for k in state if not k.endswith("count")}
  assert per_param == {"scale_by_adam.mu", "scale_by_adam.nu"}
  assert all(torch.equal(opt.state[frozen][k], state[k]) for k in per_param)
  # optax's `count` is the group's (global): every parameter's copy of it advances.
  assert opt.state[frozen]["scale_by_adam.count"] == state["scale_by_adam.count"] + 1
  compiles.__exit__()
  assert compiles.count == 0


def test_parameter_without_any_gradient_has_no_state_like_torch():
  model = make_model(2, [2, 2, 1])
  model[2].weight.requires_grad_(False)
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam(1e-2))
  _train(opt, model, batches(2, 2, 2, 1))
  assert model[2].weight not in opt.state
  assert 2 not in opt.state_dict()["state"]
  assert set(opt.state_dict()["state"]) == {0, 1, 3}


def test_parameters_updated_in_place_and_views_stay_valid():
  model = make_model(3, [3, 2])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.sgd(0.1))
  weight = model[0].weight
  view = weight[0]
  pointers = [p.data_ptr() for p in model.parameters()]
  _train(opt, model, batches(3, 3, 3, 2))
  assert [p.data_ptr() for p in model.parameters()] == pointers
  assert torch.equal(view, weight[0])


def test_is_a_torch_optimizer_and_zero_grad_modes():
  model = make_model(4, [2, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.sgd(0.1))
  assert isinstance(opt, torch.optim.Optimizer)
  loss_of(model, *batches(4, 1, 2, 1)[0]).backward()
  opt.zero_grad(set_to_none=False)
  assert all(torch.count_nonzero(p.grad) == 0 for p in model.parameters())
  opt.zero_grad()
  assert all(p.grad is None for p in model.parameters())


def test_step_with_closure_returns_loss():
  model = make_model(5, [2, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.sgd(0.1))
  x, y = batches(5, 1, 2, 1)[0]

  def closure():
    opt.zero_grad()
    loss = loss_of(model, x, y)
    loss.backward()
    return loss

  before = loss_of(model, x, y).item()
  loss = opt.step(closure)
  assert loss.item() == pytest.approx(before)
  assert loss_of(model, x, y).item() < before


def test_hooks_are_called():
  model = make_model(6, [2, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam(1e-2))
  calls = []
  opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
  opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
  opt.register_state_dict_pre_hook(lambda o: calls.append("sd_pre"))
  opt.register_state_dict_post_hook(lambda o, sd: calls.append("sd_post"))
  opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_pre"))
  opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
  _train(opt, model, batches(6, 1, 2, 1))
  opt.load_state_dict(opt.state_dict())
  assert calls == ["pre", "post", "sd_pre", "sd_post", "load_pre", "load_post"]


def test_add_param_group_mid_training():
  model = make_model(7, [3, 3, 1])
  opt = torch_bridge.FunctionalOptimizer([model[0].weight], optax.adamw, learning_rate=1e-2)
  data = batches(7, 4, 3, 1)
  _train(opt, model, data[:2])
  opt.add_param_group({"params": [model[2].weight], "lr": 1e-3})
  before = model[2].weight.detach().clone()
  _train(opt, model, data[2:])
  assert not torch.equal(before, model[2].weight)
  assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 1e-3
  with pytest.raises(ValueError, match="more than one parameter group"):
    opt.add_param_group({"params": [model[0].weight]})
  assert len(opt.param_groups) == 2


def test_grad_scaler_skips_inf_steps():
  model = make_model(8, [2, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.sgd(0.1))
  scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
  x, y = batches(8, 1, 2, 1)[0]
  expected = [p.detach() - 0.1 * g for p, g in zip(model.parameters(), torch.autograd.grad(loss_of(model, x, y), list(model.parameters())))]
  opt.zero_grad()
  scaler.scale(loss_of(model, x, y)).backward()
  scaler.step(opt)
  scaler.update()
  for p, e in zip(model.parameters(), expected):
    torch.testing.assert_close(p.detach(), e)
  before = [p.detach().clone() for p in model.parameters()]
  opt.zero_grad()
  scaler.scale(loss_of(model, x, y) * float("inf")).backward()
  scaler.step(opt)
  scaler.update()
  assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
  assert scaler.get_scale() < 4.0


@pytest.mark.parametrize("name", ["adam", "clip_then_lion", "multisteps", "noisy_sgd"])
def test_checkpoint_round_trip_is_exact(name):
  data = batches(9, 8, 3, 2)
  model_a = make_model(9, [3, 4, 2])
  opt_a = torch_bridge.FunctionalOptimizer(model_a.parameters(), OPTAX_TRANSFORMATIONS[name]())
  _train(opt_a, model_a, data[:4])
  buffer = io.BytesIO()
  torch.save({"model": model_a.state_dict(), "opt": opt_a.state_dict()}, buffer)
  _train(opt_a, model_a, data[4:])

  buffer.seek(0)
  checkpoint = torch.load(buffer, weights_only=True)
  model_b = make_model(0, [3, 4, 2])
  model_b.load_state_dict(checkpoint["model"])
  opt_b = torch_bridge.FunctionalOptimizer(model_b.parameters(), OPTAX_TRANSFORMATIONS[name]())
  opt_b.load_state_dict(checkpoint["opt"])
  _train(opt_b, model_b, data[4:])
  for a, b in zip(model_a.parameters(), model_b.parameters()):
    assert torch.equal(a, b)


def _corruptions(state_dict):
  yield "missing", {"state": state_dict["state"]}
  yield "groups", {**state_dict, "param_groups": state_dict["param_groups"] * 2}
  group = dict(state_dict["param_groups"][0])
  yield "parameters", {**state_dict, "param_groups": [{**group, "params": group["params"][:-1]}]}
  yield "hyperparameters", {**state_dict, "param_groups": [{**group, "momentum": 0.9}]}
  entry = dict(state_dict["state"][0])
  name = sorted(entry)[0]
  yield "keys", {**state_dict, "state": {**state_dict["state"], 0: {**entry, "extra": entry[name]}}}
  yield "shape", {**state_dict, "state": {**state_dict["state"], 0: {**entry, name: entry[name].reshape(-1)[:1]}}}
  yield "dense tensor", {**state_dict, "state": {**state_dict["state"], 0: {**entry, name: entry[name].to_sparse()}}}
  yield "parameters", {**state_dict, "state": {**state_dict["state"], 99: entry}}


def test_invalid_state_dict_raises_and_changes_nothing():
  model = make_model(10, [3, 2])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adamw, learning_rate=1e-2)
  _train(opt, model, batches(10, 2, 3, 2))
  good = opt.state_dict()
  for expected, bad in _corruptions(good):
    with pytest.raises(ValueError, match=expected):
      opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["param_groups"] == good["param_groups"]
    for i in good["state"]:
      for k in good["state"][i]:
        assert torch.equal(after["state"][i][k], good["state"][i][k])


def test_hyperparameters_only_with_a_factory():
  model = make_model(11, [2, 1])
  with pytest.raises(TypeError, match="factory"):
    torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam(1e-3), lr=0.1)
  with pytest.raises(TypeError, match="no argument 'beta'"):
    torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam, learning_rate=0.1, beta=0.9)


ELEMENTWISE_TRANSFORMATIONS = {
    "adam": lambda: optax.adam(1e-2),
    "clip+adamw": lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(1e-2, weight_decay=0.1)),
    "sgd+nesterov": lambda: optax.sgd(1e-2, momentum=0.9, nesterov=True),
}


@settings(deadline=None)
@given(
    name=st.sampled_from(sorted(ELEMENTWISE_TRANSFORMATIONS)),
    seed=st.integers(0, 2**16),
    dropped=st.lists(st.sampled_from([None, 0, 1, 3]), min_size=4, max_size=4),
)
def test_elementwise_form_matches_per_parameter_form(name, seed, dropped):
  """The flat form (one array per dtype) gives the per-parameter form's numbers and state."""
  models = [make_model(seed, [3, 4, 2]) for _ in range(2)]
  opts = [
      torch_bridge.FunctionalOptimizer(m.parameters(), ELEMENTWISE_TRANSFORMATIONS[name](), elementwise=flat)
      for m, flat in zip(models, (False, True))
  ]
  for (x, y), drop in zip(batches(seed, 4, 3, 2), dropped):
    for model, opt in zip(models, opts):
      opt.zero_grad()
      loss_of(model, x, y).backward()
      if drop is not None:
        list(model.parameters())[drop].grad = None
      opt.step()
    for a, b in zip(*(m.parameters() for m in models)):
      torch.testing.assert_close(b, a, rtol=2e-6, atol=2e-7)
  per_param, flat = (opt.state_dict() for opt in opts)
  assert per_param["state"].keys() == flat["state"].keys()
  for index, entry in per_param["state"].items():
    assert entry.keys() == flat["state"][index].keys()
    for key, value in entry.items():
      torch.testing.assert_close(flat["state"][index][key], value, rtol=2e-6, atol=2e-7)


def test_elementwise_form_missing_gradient_leaves_value_and_state_untouched_without_recompiling():
  model = make_model(1, [3, 3, 1])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adam(1e-2), elementwise=True)
  data = batches(1, 5, 3, 1)
  _train(opt, model, data[:2])
  frozen = model[2].bias
  value, state = frozen.detach().clone(), {k: v.clone() for k, v in opt.state[frozen].items()}
  with CompileCounter() as compiles:
    for x, y in data[2:]:
      opt.zero_grad()
      loss_of(model, x, y).backward()
      frozen.grad = None
      opt.step()
  assert torch.equal(frozen, value)
  per_param = {k for k in state if not k.endswith("count")}  # optax's global count advances
  assert all(torch.equal(opt.state[frozen][k], state[k]) for k in per_param)
  assert compiles.count == 0


def test_state_of_another_floating_dtype_is_cast_on_load_as_torch_casts_it():
  model = make_model(10, [3, 2])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), optax.adamw, learning_rate=1e-2)
  _train(opt, model, batches(10, 2, 3, 2))
  good = opt.state_dict()
  wide = {**good, "state": {i: {k: v.double() if v.is_floating_point() else v for k, v in e.items()}
                            for i, e in good["state"].items()}}
  opt.load_state_dict(copy.deepcopy(wide))
  for i, entry in opt.state_dict()["state"].items():
    for k, v in entry.items():
      assert v.dtype == good["state"][i][k].dtype and torch.equal(v, wide["state"][i][k].to(v.dtype))


def test_parameter_given_new_storage_is_stepped_from_its_new_value_as_torch_does():
  results = []
  for make in (torch.optim.SGD, torch_bridge.SGD):
    w = torch.nn.Parameter(torch.zeros(3))
    opt = make([w], lr=0.1)
    w.data = torch.full((3,), 2.0)  # new storage after the optimizer was built
    w.grad = torch.ones(3)
    opt.step()
    w.grad = torch.ones(3)
    opt.step()
    results.append(w.detach().clone())
  torch.testing.assert_close(results[1], results[0])


def test_parameter_converted_after_construction_raises_and_changes_nothing():
  model = torch.nn.Linear(3, 2)
  opt = torch_bridge.Adam(model.parameters(), lr=0.1)
  model(torch.ones(1, 3)).sum().backward()
  opt.step()
  before = opt.state_dict()
  model.double()
  for p in model.parameters():
    p.grad = torch.ones_like(p)
  with pytest.raises(RuntimeError, match=r"replaced after the optimizer was built .*float64"):
    opt.step()
  after = opt.state_dict()
  assert all(torch.equal(before["state"][i][k], after["state"][i][k]) for i in before["state"] for k in before["state"][i])


def test_parameter_reshaped_before_the_first_step_is_stepped_as_torch_steps_it():
  """torch.optim creates state at the first step; FSDP1 flattens parameters after the optimizer is built."""
  results = []
  for make in (torch.optim.Adam, torch_bridge.Adam):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = make(model.parameters(), lr=0.1)
    with torch.no_grad():
      for p in model.parameters():
        p.data = p.data.double().reshape(-1)  # a new dtype and shape, same Parameter objects
    for p in model.parameters():
      p.grad = torch.ones_like(p)
    opt.step()
    results.append([p.detach().clone() for p in model.parameters()])
  for a, b in zip(*results):
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("num_params", [1, 2])
def test_missing_or_graph_carrying_gradients_of_a_lone_parameter(num_params):
  """A dtype with one tensor imports its gradient (or, when missing, the parameter) directly."""
  params = [torch.nn.Parameter(torch.ones(3)) for _ in range(num_params)]
  opt = torch_bridge.Adam(params, lr=0.1)
  (params[0] ** 2).sum().backward(create_graph=True)  # a gradient that requires grad
  opt.step()
  assert params[0][0].item() == pytest.approx(0.9)
  assert all(torch.equal(p, torch.ones(3)) for p in params[1:])
  opt.zero_grad()
  opt.step()  # no gradient at all: nothing happens
  params[-1].grad = torch.ones(3)
  params[0].grad = None
  opt.step()


def test_lone_parameter_without_gradient_in_its_group_is_skipped():
  first, second = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
  opt = torch_bridge.Adam([{"params": [first]}, {"params": [second]}], lr=0.1)
  second.grad = torch.ones(2)
  opt.step()
  assert torch.equal(first, torch.ones(3)) and second[0].item() == pytest.approx(0.9)
