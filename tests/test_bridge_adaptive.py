"""Drop-ins Rprop, ASGD, Adadelta, Adafactor and Muon against torch.optim.

`dropin_harness.assert_matches_torch` finds drop-ins by name on `torch_bridge`;
`assert_matches_torch` here takes them from `torch_bridge._adaptive` and trains
Muon, which takes only matrices, on `MatrixNet` instead of `TinyNet`.
"""

import inspect

import pytest
import torch
from hypothesis import given, strategies as st

import parity
from dropin_harness import ATOL, RTOL, CompileCounter, TinyNet, _saved, _step, assert_state_dicts_close, batches
from torch_bridge._adaptive import ASGD, Adadelta, Adafactor, Muon, Rprop

DROPINS = {cls.__name__: cls for cls in (ASGD, Adadelta, Adafactor, Muon, Rprop)}
FLOAT32_TOLERANCES = dict(rtol=RTOL, atol=ATOL)
BFLOAT16_TOLERANCES = parity.TOLERANCES[parity.BFLOAT16]


class MatrixNet(torch.nn.Module):
  """Matrices only, for Muon: `bias` is a 1 x 3 matrix, as TinyNet's batches need."""

  def __init__(self, seed: int, dtype=torch.float32):
    super().__init__()
    g = torch.Generator().manual_seed(seed)
    self.kernel = torch.nn.Parameter(torch.randn(4, 5, generator=g, dtype=dtype) * 0.5)
    self.matrix = torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=dtype) * 0.5)
    self.bias = torch.nn.Parameter(torch.randn(1, 3, generator=g, dtype=dtype) * 0.1)

  def forward(self, x):
    return torch.tanh(x @ self.kernel) @ self.matrix + self.bias


# torch.optim.ASGD.load_state_dict casts `eta` and `mu` to the parameter's dtype
# (torch exempts only `step`), so after a load torch keeps bfloat16 ones for
# bfloat16 parameters; the drop-in keeps float32, as torch creates them.
TORCH_CASTS_ETA_MU_ON_LOAD = {"ASGD": ("eta", "mu")}


def _as_created(state_dict, name):
  """torch's state dict with the fields it casts on load back in float32."""
  cast = TORCH_CASTS_ETA_MU_ON_LOAD.get(name, ())
  return {**state_dict, "state": {
      index: {k: v.float() if k in cast else v for k, v in entry.items()}
      for index, entry in state_dict["state"].items()
  }}


def _model(name, seed, dtype):
  return (MatrixNet if name == "Muon" else TinyNet)(seed, dtype)


def assert_matches_torch(name, kwargs, *, seed=0, num_steps=10, swap_at=None, drop_grad_at=None,
                         dtype=torch.float32, tolerances=FLOAT32_TOLERANCES):
  """`dropin_harness.assert_matches_torch` for the drop-ins of this module."""
  theirs_model, ours_model = _model(name, seed, dtype), _model(name, seed, dtype)
  theirs = getattr(torch.optim, name)(theirs_model.parameters(), **kwargs)
  ours = DROPINS[name](ours_model.parameters(), **kwargs)
  for t, (x, y) in enumerate(batches(seed + 1, num_steps, dtype)):
    if t == swap_at:  # each continues from the other's checkpoint
      assert_state_dicts_close(ours.state_dict(), theirs.state_dict(), **tolerances)
      our_checkpoint, their_checkpoint = _saved(ours), _saved(theirs)
      ours.load_state_dict(their_checkpoint)
      theirs.load_state_dict(our_checkpoint)
    drop = "bias" if t == drop_grad_at else None
    _step(theirs_model, theirs, x, y, drop)
    _step(ours_model, ours, x, y, drop)
    for (pname, a), b in zip(ours_model.named_parameters(), theirs_model.parameters()):
      torch.testing.assert_close(a, b, **tolerances, msg=f"{name} step {t} {pname}")
  assert_state_dicts_close(ours.state_dict(), _as_created(theirs.state_dict(), name), **tolerances)


lrs = st.floats(1e-3, 5e-2)
decays = st.sampled_from([0.0, 1e-2, 0.1])
common = dict(seed=st.integers(0, 100), swap_at=st.sampled_from([None, 3, 6]),
              drop_grad_at=st.sampled_from([None, 2, 5]))

OPTIONS = {
    "Rprop": st.fixed_dictionaries({
        "lr": lrs, "etas": st.tuples(st.floats(0.3, 0.7), st.floats(1.1, 1.5)),
        "step_sizes": st.sampled_from([(1e-6, 50), (1e-4, 0.1)]), "maximize": st.booleans()}),
    "ASGD": st.fixed_dictionaries({
        "lr": lrs, "lambd": st.sampled_from([0.0, 1e-4, 1e-2]), "alpha": st.floats(0.5, 1.0),
        "t0": st.sampled_from([1e6, 0.0, 3.0]), "weight_decay": decays, "maximize": st.booleans()}),
    "Adadelta": st.fixed_dictionaries({
        "lr": st.floats(0.1, 1.0), "rho": st.floats(0.8, 0.99),
        "eps": st.sampled_from([1e-6, 1e-4]), "weight_decay": decays, "maximize": st.booleans()}),
    "Adafactor": st.fixed_dictionaries({
        "lr": lrs, "beta2_decay": st.floats(-1.0, -0.5),
        "eps": st.sampled_from([(None, 1e-3), (1e-30, 1e-3), (None, 1e-2)]),
        "d": st.sampled_from([1.0, 2.0]), "weight_decay": decays, "maximize": st.booleans()}),
    "Muon": st.fixed_dictionaries({
        "lr": lrs, "weight_decay": decays, "momentum": st.floats(0.0, 0.95),
        "nesterov": st.booleans(), "ns_steps": st.sampled_from([3, 5]),
        "adjust_lr_fn": st.sampled_from([None, "original", "match_rms_adamw"])}),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
@given(data=st.data())
def test_matches_torch_with_checkpoint_interchange(name, data):
  kwargs = data.draw(OPTIONS[name], label="kwargs")
  assert_matches_torch(name, kwargs, **{k: data.draw(v, label=k) for k, v in common.items()})


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_bfloat16_matches_torch(name):
  kwargs = {"lr": 0.5} if name == "Adadelta" else {"lr": 0.02}
  assert_matches_torch(name, kwargs, swap_at=4, drop_grad_at=2, dtype=torch.bfloat16,
                       tolerances=BFLOAT16_TOLERANCES)


def test_asgd_loads_torchs_bfloat16_eta_and_mu():
  theirs_model, ours_model = TinyNet(0, torch.bfloat16), TinyNet(0, torch.bfloat16)
  theirs, ours = torch.optim.ASGD(theirs_model.parameters()), ASGD(ours_model.parameters())
  x, y = batches(1, 1, torch.bfloat16)[0]
  _step(theirs_model, theirs, x, y)
  theirs.load_state_dict(_saved(theirs))
  assert theirs.state_dict()["state"][0]["eta"].dtype == torch.bfloat16
  ours.load_state_dict(_saved(theirs))
  assert ours.state_dict()["state"][0]["eta"].dtype == torch.float32
  assert_state_dicts_close(ours.state_dict(), _as_created(theirs.state_dict(), "ASGD"))


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_lr_schedule_matches_torch_without_recompiling(name):
  # Rprop's step_size and ASGD's eta start from the lr of the first step, not of
  # construction: the schedule moves lr before it.
  theirs_model, ours_model = _model(name, 0, torch.float32), _model(name, 0, torch.float32)
  theirs = getattr(torch.optim, name)(theirs_model.parameters(), lr=0.05)
  ours = DROPINS[name](ours_model.parameters(), lr=0.05)
  schedules = [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=4)
               for opt in (theirs, ours)]
  with CompileCounter() as compiles:
    for t, (x, y) in enumerate(batches(1, 6)):
      for model, opt, schedule in zip((theirs_model, ours_model), (theirs, ours), schedules):
        _step(model, opt, x, y)
        schedule.step()
      for a, b in zip(ours_model.parameters(), theirs_model.parameters()):
        torch.testing.assert_close(a, b, **FLOAT32_TOLERANCES, msg=f"{name} step {t}")
      if t == 0:
        compiled_by_first_step = compiles.count
  assert_state_dicts_close(ours.state_dict(), theirs.state_dict())
  assert compiles.count == compiled_by_first_step, "a changing lr must not recompile"


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_signature_and_defaults_match_torch(name):
  ours = inspect.signature(DROPINS[name].__init__).parameters
  theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
  assert list(ours) == list(theirs) + ["state_dtype"]  # torch's, plus our one documented extra
  assert ours["state_dtype"].kind == inspect.Parameter.KEYWORD_ONLY and ours["state_dtype"].default is None
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, arg
    assert ours[arg].default == theirs[arg].default, arg


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_param_group_keys_in_torchs_order(name):
  params = list(_model(name, 0, torch.float32).parameters())
  ours, theirs = DROPINS[name](params), getattr(torch.optim, name)(params)
  assert list(ours.param_groups[0]) == list(theirs.param_groups[0])
  assert ours.param_groups[0] == theirs.param_groups[0]


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_no_differentiable_argument_as_in_torch(name):
  params = [torch.nn.Parameter(torch.zeros(2, 2))]
  for cls in (getattr(torch.optim, name), DROPINS[name]):
    with pytest.raises(TypeError, match="differentiable"):
      cls(params, differentiable=True)


@pytest.mark.parametrize("name,kwargs,message", [
    ("Rprop", {"lr": -1.0}, "Invalid learning rate: -1.0"),
    ("Rprop", {"etas": (0.5, 0.9)}, "Invalid eta values: 0.5, 0.9"),
    ("ASGD", {"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
    ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
    ("Adadelta", {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ("Adafactor", {"beta2_decay": 0.5}, "beta2_decay should be <= 0 but is: 0.5"),
    ("Adafactor", {"d": 0.5}, "Clipping threshold d should be >= 1 but is: 0.5"),
    ("Adafactor", {"eps": (-1.0, 1e-3)}, "epsilon1 should be >= 0 but is: -1.0"),
    ("Muon", {"momentum": -0.5}, "momentum should be >= 0 but is: -0.5"),
    ("Muon", {"adjust_lr_fn": "sqrt"}, "Adjust learning rate function sqrt is not supported"),
])
def test_invalid_hyperparameters_raise_torchs_errors(name, kwargs, message):
  params = [torch.nn.Parameter(torch.zeros(2, 2))]
  with pytest.raises(ValueError, match=message):
    getattr(torch.optim, name)(params, **kwargs)
  with pytest.raises(ValueError, match=message):
    DROPINS[name](params, **kwargs)


def test_muon_rejects_non_matrices_with_torchs_error():
  params = [torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(3))]
  message = (r"Muon only supports 2D parameters whereas we found a parameter with size: "
             r"torch.Size\(\[3\]\)")
  with pytest.raises(ValueError, match=message):
    torch.optim.Muon(params)
  with pytest.raises(ValueError, match=message):
    Muon(params)


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_complex_parameters_are_rejected(name):
  # Both raise when they first step the parameter.
  param = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.complex64))
  param.grad = torch.ones_like(param)
  for optimizer in (getattr(torch.optim, name)([param]), DROPINS[name]([param])):
    with pytest.raises(RuntimeError, match=f"{name} does not support complex parameters"):
      optimizer.step()
  assert torch.equal(param, torch.zeros_like(param))
