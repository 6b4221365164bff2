"""`state_dtype`: low-precision torch parameters with float32 optimizer state."""

import copy
import io

import pytest
import torch

import functional_optim as fo
import torch_bridge

DROPINS = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD",
           "Adadelta", "Adafactor", "Muon", "SparseAdam"]  # LBFGS runs torch's own code: no state_dtype
OPTIONS = {"SGD": dict(lr=0.1, momentum=0.9), "ASGD": dict(t0=1)}


def _model(dtype, seed=0):
  torch.manual_seed(seed)
  model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
  return model.to(dtype)


def _data():
  generator = torch.Generator().manual_seed(1)
  x = torch.randn(64, 8, generator=generator)
  return x, torch.sin(x[:, :4] * 2) + x[:, 4:]


def _train(dtype, steps=100, **kwargs):
  """AdamW on a small MLP; the parameters (as float32) after every step."""
  model = _model(dtype)
  optimizer = torch_bridge.AdamW(model.parameters(), lr=1e-2, **kwargs)
  x, y = _data()
  trajectory = []
  for _ in range(steps):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x.to(dtype)).float(), y).backward()
    optimizer.step()
    trajectory.append(torch.cat([p.detach().float().reshape(-1) for p in model.parameters()]))
  return trajectory


def _max_relative_deviation(run, reference):
  deviations = torch.tensor([float((a - b).norm() / b.norm()) for a, b in zip(run, reference)])
  worst = float(deviations.max())  # NaN if any step is NaN
  return float("inf") if worst != worst else worst  # a diverged run is infinitely far


def test_low_precision_models_with_float32_state_track_the_float32_run():
  """AdamW, 100 steps, lr 1e-2, on a bfloat16 and a float16 copy of a float32 MLP.

  Measured (max over the steps of |params - float32 params| / |float32 params|):
  bfloat16 model 3.05e-2 with float32 state, 3.54e-2 with bfloat16 state (the
  bfloat16 forward pass and the parameters' own rounding dominate; there are no
  float32 master weights); float16 model 1.31e-2 with float32 state, while float16
  state gives NaN from the first step (eps = 1e-8 and small second moments round to
  0 in float16, as in torch.optim.AdamW).
  """
  reference = _train(torch.float32)
  deviation = {
      (name, state): _max_relative_deviation(
          _train(dtype, state_dtype=torch.float32 if state == "float32 state" else None), reference)
      for name, dtype in [("bfloat16", torch.bfloat16), ("float16", torch.float16)]
      for state in ["float32 state", "own-dtype state"]
  }
  print({k: f"{v:.2e}" for k, v in deviation.items()})
  assert deviation["bfloat16", "float32 state"] < 0.05
  assert deviation["bfloat16", "float32 state"] < deviation["bfloat16", "own-dtype state"]
  assert deviation["float16", "float32 state"] < 0.03
  assert not deviation["float16", "own-dtype state"] < 2 * deviation["float16", "float32 state"]  # NaN or far off


def _step(model, optimizer, x, y, dtype):
  optimizer.zero_grad()
  torch.nn.functional.mse_loss(model(x.to(dtype)).float(), y).backward()
  optimizer.step()


def test_float32_state_survives_save_and_load_and_training_continues_exactly():
  x, y = _data()
  straight_model = _model(torch.bfloat16)
  straight = torch_bridge.AdamW(straight_model.parameters(), lr=1e-2, state_dtype=torch.float32)
  for _ in range(6):
    _step(straight_model, straight, x, y, torch.bfloat16)

  model = _model(torch.bfloat16)
  optimizer = torch_bridge.AdamW(model.parameters(), lr=1e-2, state_dtype=torch.float32)
  for _ in range(3):
    _step(model, optimizer, x, y, torch.bfloat16)
  file = io.BytesIO()
  torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, file)
  file.seek(0)
  saved = torch.load(file, weights_only=True)
  assert {v.dtype for entry in saved["optimizer"]["state"].values() for v in entry.values()} == {torch.float32}

  resumed_model = _model(torch.bfloat16, seed=5)
  resumed_model.load_state_dict(saved["model"])
  resumed = torch_bridge.AdamW(resumed_model.parameters(), lr=1e-2, state_dtype=torch.float32)
  resumed.load_state_dict(saved["optimizer"])
  for entry in resumed.state_dict()["state"].values():
    assert {name: value.dtype for name, value in entry.items()} == {
        "step": torch.float32, "exp_avg": torch.float32, "exp_avg_sq": torch.float32}
  for _ in range(3):
    _step(resumed_model, resumed, x, y, torch.bfloat16)
  for a, b in zip(resumed_model.parameters(), straight_model.parameters()):
    assert a.dtype == torch.bfloat16 and torch.equal(a, b)
  for a, b in zip(resumed.state_dict()["state"].values(), straight.state_dict()["state"].values()):
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("saved_with,loaded_with", [(torch.float32, None), (None, torch.float32)])
def test_loading_state_of_another_dtype_casts_it_as_torch_does(saved_with, loaded_with):
  """torch.optim casts loaded state to its parameter's dtype; the bridge casts it to its state's."""
  x, y = _data()
  model = _model(torch.bfloat16)
  saver = torch_bridge.AdamW(model.parameters(), lr=1e-2, state_dtype=saved_with)
  _step(model, saver, x, y, torch.bfloat16)
  loader = torch_bridge.AdamW(model.parameters(), lr=1e-2, state_dtype=loaded_with)
  _step(model, loader, x, y, torch.bfloat16)
  own_dtypes = {i: {k: v.dtype for k, v in e.items()} for i, e in loader.state_dict()["state"].items()}
  saved = copy.deepcopy(saver.state_dict())
  loader.load_state_dict(saved)
  for i, entry in loader.state_dict()["state"].items():
    for k, v in entry.items():
      assert v.dtype == own_dtypes[i][k]
      assert torch.equal(v, saved["state"][i][k].to(v.dtype))


def _dropin_case(name, dtype):
  """A model the drop-in takes, and a function that gives it gradients."""
  torch.manual_seed(0)
  if name == "SparseAdam":
    module = torch.nn.Embedding(6, 3, sparse=True).to(dtype)
    return module, lambda: module(torch.tensor([0, 2, 2, 5])).float().square().sum().backward()
  module = torch.nn.Linear(4, 3, bias=name != "Muon").to(dtype)  # Muon takes 2-D parameters only
  return module, lambda: module(torch.ones(2, 4, dtype=dtype)).float().square().sum().backward()


@pytest.mark.parametrize("name", DROPINS)
def test_every_dropin_keeps_float32_state_for_bfloat16_parameters(name):
  module, backward = _dropin_case(name, torch.bfloat16)
  optimizer = getattr(torch_bridge, name)(module.parameters(), **OPTIONS.get(name, {}), state_dtype=torch.float32)
  plain_module, plain_backward = _dropin_case(name, torch.bfloat16)
  plain = getattr(torch_bridge, name)(plain_module.parameters(), **OPTIONS.get(name, {}))
  for _ in range(2):
    optimizer.zero_grad()
    backward()
    optimizer.step()
    plain.zero_grad()
    plain_backward()
    plain.step()
  ours, theirs = optimizer.state_dict()["state"], plain.state_dict()["state"]
  assert ours.keys() == theirs.keys() and ours  # torch's state names, for the same parameters
  for index in ours:
    assert ours[index].keys() == theirs[index].keys()
    for key, value in ours[index].items():
      if isinstance(value, torch.Tensor) and value.is_floating_point():
        assert value.dtype == torch.float32, (name, key)
  assert all(p.dtype == torch.bfloat16 for p in module.parameters())
  assert "state_dtype" not in optimizer.param_groups[0]  # not a hyperparameter: checkpoints stay torch's


@pytest.mark.parametrize("form", ["transformation", "factory"])
def test_functional_optimizer_takes_state_dtype(form):
  module = torch.nn.Linear(3, 2).to(torch.float16)
  if form == "transformation":
    optimizer = torch_bridge.FunctionalOptimizer(module.parameters(), fo.adam(1e-2), state_dtype=torch.float32)
  else:
    optimizer = torch_bridge.FunctionalOptimizer(module.parameters(), fo.adam, learning_rate=1e-2,
                                                 state_dtype=torch.float32)
  module(torch.ones(1, 3, dtype=torch.float16)).sum().backward()
  optimizer.step()
  state = optimizer.state_dict()
  assert state["state"][0]["scale_by_adam.mu"].dtype == torch.float32 and state["state"][0]["scale_by_adam.nu"].dtype == torch.float32
  assert state["state"][0]["scale_by_adam.count"].dtype == torch.int32  # global: in every parameter's state
  assert module.weight.dtype == torch.float16


@pytest.mark.parametrize("bad", [torch.int32, "float32", torch.complex64])
def test_bad_state_dtype_raises_before_anything_changes(bad):
  module = torch.nn.Linear(3, 2).to(torch.bfloat16)
  pointers = [p.data_ptr() for p in module.parameters()]
  with pytest.raises(TypeError, match="state_dtype must be a floating-point torch.dtype or None"):
    torch_bridge.AdamW(module.parameters(), state_dtype=bad)
  assert [p.data_ptr() for p in module.parameters()] == pointers
