"""Named parameters and readable state names in `torch_bridge.FunctionalOptimizer`."""

import copy

import jax
import pytest
import torch

import functional_optim as fo
import torch_bridge

torch.set_default_dtype(torch.float32)


def _model(seed=0):
  torch.manual_seed(seed)
  return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def _train(model, opt, steps=4, seed=1):
  generator = torch.Generator().manual_seed(seed)
  for _ in range(steps):
    x = torch.randn(5, 3, generator=generator)
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()


def _by_name_or_shape(params):
  """Labels: by name when the parameters are named, else by rank (the same split for this model)."""
  if isinstance(params, dict):
    return {name: "decay" if name.endswith("weight") else "plain" for name in params}
  return jax.tree.map(lambda p: "decay" if p.ndim == 2 else "plain", params)


def _mask(params):
  if isinstance(params, dict):
    return {name: name.endswith("weight") for name in params}
  return jax.tree.map(lambda p: p.ndim == 2, params)


TRANSFORMATIONS = {
    "multi_transform": lambda: fo.multi_transform(
        {"decay": fo.adamw(0.05, weight_decay=0.1), "plain": fo.sgd(0.05, momentum=0.9)}, _by_name_or_shape),
    "masked": lambda: fo.chain(fo.masked(fo.adam(0.05), _mask), fo.sgd(0.01)),
    "add_decayed_weights": lambda: fo.adamw(0.05, weight_decay=0.1, mask=_mask),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMATIONS))
def test_named_parameters_step_as_unnamed(name):
  """Labels and masks by name give the numbers and the state of the same split by position."""
  plain_model, named_model = _model(), _model()
  plain = torch_bridge.FunctionalOptimizer(plain_model.parameters(), TRANSFORMATIONS[name]())
  named = torch_bridge.FunctionalOptimizer(named_model.named_parameters(), TRANSFORMATIONS[name]())
  _train(plain_model, plain)
  _train(named_model, named)
  for a, b in zip(plain_model.parameters(), named_model.parameters()):
    assert torch.equal(a, b)
  plain_state, named_state = plain.state_dict(), named.state_dict()
  assert named_state["param_groups"][0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
  for index, entry in plain_state["state"].items():
    assert sorted(entry) == sorted(named_state["state"][index])
    assert all(torch.equal(value, named_state["state"][index][key]) for key, value in entry.items())


def test_label_function_receives_the_parameter_names():
  seen = []

  def labels(params):
    seen.append(params)
    return {name: "decay" if name.endswith("weight") else "plain" for name in params}

  model = _model()
  opt = torch_bridge.FunctionalOptimizer(
      model.named_parameters(), fo.multi_transform({"decay": fo.adamw(0.05), "plain": fo.sgd(0.05)}, labels))
  _train(model, opt, steps=2)
  # (JAX's tree functions sort a dict's keys: some calls see them in that order)
  assert seen and all(isinstance(p, dict) and sorted(p) == ["0.bias", "0.weight", "2.bias", "2.weight"]
                      for p in seen)
  assert tuple(seen[0]["0.weight"].shape) == (4, 3)


def test_named_parameters_round_trip_through_state_dict():
  model = _model()
  opt = torch_bridge.FunctionalOptimizer(model.named_parameters(), TRANSFORMATIONS["multi_transform"]())
  _train(model, opt, steps=2)
  saved = copy.deepcopy(opt.state_dict())
  resumed_model = copy.deepcopy(model)
  resumed = torch_bridge.FunctionalOptimizer(resumed_model.named_parameters(), TRANSFORMATIONS["multi_transform"]())
  resumed.load_state_dict(saved)
  _train(model, opt, steps=2, seed=2)
  _train(resumed_model, resumed, steps=2, seed=2)
  for a, b in zip(model.parameters(), resumed_model.parameters()):
    assert torch.equal(a, b)


def test_named_parameter_groups_and_a_factory():
  """Groups of named parameters, a factory's per-group lr: the names reach each group's transformation."""
  seen = []

  def mask(params):
    seen.append(sorted(params))
    return {name: name.endswith("weight") for name in params}

  model = _model()
  named = dict(model.named_parameters())
  groups = [{"params": [("0.weight", named["0.weight"]), ("0.bias", named["0.bias"])]},
            {"params": [("2.weight", named["2.weight"]), ("2.bias", named["2.bias"])], "lr": 0.01}]
  opt = torch_bridge.FunctionalOptimizer(groups, fo.adamw, learning_rate=0.05, weight_decay=0.1, mask=mask)
  _train(model, opt, steps=1)
  assert ["0.bias", "0.weight"] in seen and ["2.bias", "2.weight"] in seen


def test_state_names_are_readable_and_stable():
  model = _model()
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(0.1)))
  _train(model, opt, steps=1)
  assert sorted(opt.state_dict()["state"][0]) == ["scale_by_adam.count", "scale_by_adam.mu", "scale_by_adam.nu"]
  twice = torch_bridge.FunctionalOptimizer(model.parameters(), fo.chain(fo.adam(0.1), fo.sgd(0.1, momentum=0.9)))
  _train(model, twice, steps=1)
  assert sorted(twice.state_dict()["state"][0]) == [
      "scale_by_adam.count", "scale_by_adam.mu", "scale_by_adam.nu", "trace.trace"]
  same = torch_bridge.FunctionalOptimizer(model.parameters(), fo.chain(fo.adam(0.1), fo.adam(0.1)))
  _train(model, same, steps=1)  # two states of one kind keep their positions
  assert sorted(same.state_dict()["state"][0]) == [
      "0.0:scale_by_adam.count", "0.0:scale_by_adam.mu", "0.0:scale_by_adam.nu",
      "1.0:scale_by_adam.count", "1.0:scale_by_adam.mu", "1.0:scale_by_adam.nu"]


@pytest.mark.parametrize("elementwise", [False, True])
def test_checkpoints_with_index_path_names_still_load(elementwise):
  """Checkpoints of earlier versions named state by index paths (`1.0.mu`): they load as today's names."""
  legacy = {"scale_by_adam.mu": "1.0.mu", "scale_by_adam.nu": "1.0.nu", "scale_by_adam.count": "1.0.count"}
  make = lambda: fo.chain(fo.clip_by_global_norm(1.0), fo.adam(0.1))
  model = _model()
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), make(), elementwise=elementwise)
  _train(model, opt, steps=2)
  saved = opt.state_dict()
  old = {"state": {i: {legacy[k]: v.clone() for k, v in entry.items()} for i, entry in saved["state"].items()},
         "param_groups": saved["param_groups"]}
  resumed_model = copy.deepcopy(model)
  resumed = torch_bridge.FunctionalOptimizer(resumed_model.parameters(), make(), elementwise=elementwise)
  resumed.load_state_dict(old)
  _train(model, opt, steps=2, seed=2)
  _train(resumed_model, resumed, steps=2, seed=2)
  for a, b in zip(model.parameters(), resumed_model.parameters()):
    assert torch.equal(a, b)
