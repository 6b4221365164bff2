"""Bad input to torch_bridge: torch's error (type and message), and nothing changed.

Every case runs torch.optim side by side where torch checks the same thing, and
asserts the same exception type and message. Where torch has no check (it fails
later, or silently does something else) the bridge raises a clear error of its
own; each such difference is a named flag below. After every error, parameters
(values and storage) and `state_dict()` are exactly as before, and the next good
step gives what it would have given without the bad call.
"""

import copy
import functools
import io

import pytest
import torch

import functional_optim as fo
from functional_optim import torchlike
import torch_bridge
from dropin_harness import TinyNet, assert_state_dicts_equal, batches, state_dict_copy

# Named differences from torch.optim (each used by the test that shows it).
TORCH_ACCEPTS_NAN_LR_IN_SGD = True  # `nan < 0.0` is False; the bridge's `0 <= lr` check rejects it
TORCH_CHECKS_NO_GROUP_HYPERPARAMETERS_IN_ADD_PARAM_GROUP = True
TORCH_HAS_NO_GRADIENT_SHAPE_OR_DTYPE_CHECK = True  # it fails inside an op with an incidental message
TORCH_LOADS_STATE_DICTS_UNCHECKED = True  # wrong keys, shapes or algorithm load; the step fails later

DROPINS = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD",
           "Adadelta", "Adafactor", "Muon", "SparseAdam", "LBFGS"]


def matrix_params(seed=0):
  g = torch.Generator().manual_seed(seed)
  return [torch.nn.Parameter(torch.randn(2, 3, generator=g)), torch.nn.Parameter(torch.randn(3, 2, generator=g))]


def raised(make):
  with pytest.raises(Exception) as info:
    make()
  return info.value


def assert_same_error(ours, theirs):
  assert type(ours) is type(theirs), (ours, theirs)
  assert str(ours) == str(theirs)


class Snapshot:
  """Parameter values and storage, and the optimizer's state_dict, to compare after an error."""

  def __init__(self, params, opt=None):
    self.params = list(params)
    self.values = [p.detach().clone() for p in self.params]
    self.pointers = [p.data_ptr() for p in self.params]
    self.state = None if opt is None else state_dict_copy(opt)

  def assert_unchanged(self, opt=None):
    for p, value, pointer in zip(self.params, self.values, self.pointers):
      assert torch.equal(p.detach(), value)
      assert p.data_ptr() == pointer
    if opt is not None:
      assert_state_dicts_equal(opt.state_dict(), self.state)


def loss_step(model, opt, x, y):
  opt.zero_grad()
  ((model(x) - y) ** 2).mean().backward()
  opt.step()


def trained(name, kwargs=None, seed=0, steps=2):
  model = TinyNet(seed)
  opt = getattr(torch_bridge, name)(model.parameters(), **(kwargs or {}))
  for x, y in batches(seed, steps):
    loss_step(model, opt, x, y)
  return model, opt


@functools.lru_cache(maxsize=None)
def _reference_next_step(name, kwargs_items, seed, steps):
  model, opt = trained(name, dict(kwargs_items), seed, steps)
  loss_step(model, opt, *batches(seed + 7, 1)[0])
  return [p.detach().clone() for p in model.parameters()], state_dict_copy(opt)


def assert_next_step_as_if_nothing_happened(name, model, opt, kwargs=None, seed=0, steps=2):
  """One more step equals that of an optimizer that never saw the bad input."""
  params, state = _reference_next_step(name, tuple(sorted((kwargs or {}).items())), seed, steps)
  loss_step(model, opt, *batches(seed + 7, 1)[0])
  for a, b in zip(model.parameters(), params):
    assert torch.equal(a, b)
  assert_state_dicts_equal(opt.state_dict(), state)


# ---- hyperparameters: torch's checks, torch's messages ---------------------------------------

BAD = -1.0
HYPERPARAMETER_CASES = [
    ("SGD", {"lr": BAD}), ("SGD", {"momentum": BAD}), ("SGD", {"weight_decay": BAD}),
    ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}), ("SGD", {"nesterov": True}),
    ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": BAD}), ("Adam", {"eps": BAD}), ("Adam", {"weight_decay": BAD}),
    ("Adam", {"betas": (1.0, 0.999)}), ("Adam", {"betas": (0.9, 1.0)}), ("Adam", {"betas": (-0.1, 0.999)}),
    ("Adam", {"betas": (torch.tensor(0.9), 0.999)}), ("Adam", {"betas": (0, 0.999)}),
    ("Adam", {"betas": (torch.tensor(0.9), torch.tensor(0.99)), "foreach": True}),
    ("Adam", {"lr": torch.tensor(0.1), "foreach": True}), ("Adam", {"fused": True, "foreach": True}),
    ("AdamW", {"lr": BAD}), ("AdamW", {"eps": BAD}), ("AdamW", {"weight_decay": BAD}),
    ("AdamW", {"betas": (0.9, 1.5)}), ("AdamW", {"fused": True, "foreach": True}),
    ("Adagrad", {"lr": BAD}), ("Adagrad", {"lr_decay": BAD}), ("Adagrad", {"weight_decay": BAD}),
    ("Adagrad", {"initial_accumulator_value": BAD}), ("Adagrad", {"eps": BAD}),
    ("Adagrad", {"fused": True, "foreach": True}),
    ("RMSprop", {"lr": BAD}), ("RMSprop", {"eps": BAD}), ("RMSprop", {"momentum": BAD}),
    ("RMSprop", {"weight_decay": BAD}), ("RMSprop", {"alpha": BAD}),
    ("Adamax", {"lr": BAD}), ("Adamax", {"eps": BAD}), ("Adamax", {"betas": (1.0, 0.999)}),
    ("Adamax", {"betas": (0.9, BAD)}), ("Adamax", {"weight_decay": BAD}),
    ("NAdam", {"lr": BAD}), ("NAdam", {"eps": BAD}), ("NAdam", {"betas": (1.0, 0.999)}),
    ("NAdam", {"betas": (0.9, 1.0)}), ("NAdam", {"weight_decay": BAD}), ("NAdam", {"momentum_decay": BAD}),
    ("RAdam", {"lr": BAD}), ("RAdam", {"eps": BAD}), ("RAdam", {"betas": (1.0, 0.999)}),
    ("RAdam", {"betas": (0.9, 1.0)}), ("RAdam", {"weight_decay": BAD}),
    ("Rprop", {"lr": BAD}), ("Rprop", {"etas": (0.5, 0.9)}), ("Rprop", {"etas": (0.0, 1.2)}),
    ("Rprop", {"etas": (1.0, 1.2)}),
    ("ASGD", {"lr": BAD}), ("ASGD", {"weight_decay": BAD}),
    ("Adadelta", {"lr": BAD}), ("Adadelta", {"rho": 1.5}), ("Adadelta", {"rho": BAD}),
    ("Adadelta", {"eps": BAD}), ("Adadelta", {"weight_decay": BAD}),
    ("Adafactor", {"lr": BAD}), ("Adafactor", {"beta2_decay": 0.5}), ("Adafactor", {"eps": (BAD, 1e-3)}),
    ("Adafactor", {"eps": (None, BAD)}), ("Adafactor", {"d": 0.5}), ("Adafactor", {"weight_decay": BAD}),
    ("Muon", {"lr": BAD}), ("Muon", {"momentum": BAD}), ("Muon", {"weight_decay": BAD}),
    ("Muon", {"adjust_lr_fn": "sqrt"}),
    ("SparseAdam", {"lr": 0.0}), ("SparseAdam", {"eps": 0.0}), ("SparseAdam", {"betas": (1.0, 0.999)}),
    ("SparseAdam", {"betas": (0.9, BAD)}),
    ("LBFGS", {"lr": BAD}),
] + [(name, {"lr": torch.tensor([0.1, 0.2])}) for name in DROPINS]


def _case_id(case):
  name, kwargs = case
  return f"{name}-" + "-".join(f"{k}={v!r}".replace(" ", "") for k, v in kwargs.items())


@pytest.mark.parametrize("case", HYPERPARAMETER_CASES, ids=_case_id)
def test_invalid_hyperparameters_raise_torchs_error_and_change_nothing(case):
  name, kwargs = case
  theirs = raised(lambda: getattr(torch.optim, name)(matrix_params(), **kwargs))
  params = matrix_params()
  snapshot = Snapshot(params)
  ours = raised(lambda: getattr(torch_bridge, name)(params, **kwargs))
  assert_same_error(ours, theirs)
  snapshot.assert_unchanged()


@pytest.mark.parametrize("name", ["SGD", "Adam", "Muon"])
def test_non_number_lr_raises_type_error_as_in_torch(name):
  theirs = raised(lambda: getattr(torch.optim, name)(matrix_params(), lr="0.1"))
  ours = raised(lambda: getattr(torch_bridge, name)(matrix_params(), lr="0.1"))
  assert type(theirs) is type(ours) is TypeError
  assert "learning rate" in str(ours) and "'0.1'" in str(ours)


def test_nan_lr_rejected_where_torch_sgd_accepts_it():
  assert TORCH_ACCEPTS_NAN_LR_IN_SGD
  torch.optim.SGD(matrix_params(), lr=float("nan"))
  theirs = raised(lambda: torch.optim.Adam(matrix_params(), lr=float("nan")))
  for name in ("SGD", "Adam"):
    ours = raised(lambda: getattr(torch_bridge, name)(matrix_params(), lr=float("nan")))
    assert_same_error(ours, theirs)


def test_muon_with_a_non_matrix_and_too_many_newton_schulz_steps():
  params = matrix_params() + [torch.nn.Parameter(torch.zeros(3))]
  snapshot = Snapshot(params)
  assert_same_error(raised(lambda: torch_bridge.Muon(params)), raised(lambda: torch.optim.Muon(params)))
  snapshot.assert_unchanged()
  # torch checks ns_steps and ns_coefficients at its first step; the bridge no later than that.
  for kwargs in ({"ns_steps": 100}, {"ns_coefficients": (3.0, -4.0)}):
    theirs_params = matrix_params()
    theirs_opt = torch.optim.Muon(theirs_params, **kwargs)
    for p in theirs_params:
      p.grad = torch.ones_like(p)
    theirs = raised(theirs_opt.step)
    params = matrix_params()
    snapshot = Snapshot(params)

    def build_and_step():
      opt = torch_bridge.Muon(params, **kwargs)
      for p in params:
        p.grad = torch.ones_like(p)
      opt.step()

    assert_same_error(raised(build_and_step), theirs)
    snapshot.assert_unchanged()


# ---- parameters ------------------------------------------------------------------------------

def _bridge_factories():
  yield "SGD", lambda params: torch_bridge.SGD(params, lr=0.1), lambda params: torch.optim.SGD(params, lr=0.1)
  yield "Adam", torch_bridge.Adam, torch.optim.Adam
  yield "Muon", torch_bridge.Muon, torch.optim.Muon
  yield "LBFGS", torch_bridge.LBFGS, torch.optim.LBFGS
  yield ("FunctionalOptimizer", lambda params: torch_bridge.FunctionalOptimizer(params, fo.adam, learning_rate=0.1),
         lambda params: torch.optim.Adam(params, lr=0.1))


FACTORIES = {name: (ours, theirs) for name, ours, theirs in _bridge_factories()}


def _bad_params():
  a, b = matrix_params()
  non_leaf = a * 2
  yield "empty", [], (a, b)
  yield "empty_generator", iter([]), (a, b)
  yield "non_leaf", [a, non_leaf], (a, b)
  yield "in_two_groups", [{"params": [a]}, {"params": [b, a]}], (a, b)
  yield "a_tensor", a, (a, b)
  yield "not_a_tensor", [a, 3.0], (a, b)
  yield "names_mixed", [("a", a), b], (a, b)
  yield "named_and_unnamed_groups", [{"params": [("a", a)]}, {"params": [b]}], (a, b)
  yield "group_not_a_dict", [{"params": [a]}, [b]], (a, b)


@pytest.mark.parametrize("optimizer", sorted(FACTORIES))
@pytest.mark.parametrize("bad", [name for name, _, _ in _bad_params()])
def test_invalid_parameters_raise_torchs_error_and_change_nothing(optimizer, bad):
  ours_make, theirs_make = FACTORIES[optimizer]
  theirs_params, _ = _bad_case(bad)  # fresh tensors for each side
  theirs = raised(lambda: theirs_make(theirs_params))
  params, tensors = _bad_case(bad)
  snapshot = Snapshot(tensors)
  ours = raised(lambda: ours_make(params))
  assert_same_error(ours, theirs)
  snapshot.assert_unchanged()


def _bad_case(bad):
  return next((params, tensors) for name, params, tensors in _bad_params() if name == bad)


def test_lbfgs_rejects_parameter_groups_as_torch():
  a, b = matrix_params()
  groups = [{"params": [a]}, {"params": [b]}]
  assert_same_error(raised(lambda: torch_bridge.LBFGS(copy.deepcopy(groups))),
                    raised(lambda: torch.optim.LBFGS(copy.deepcopy(groups))))


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool])
def test_non_floating_parameters_are_rejected(dtype):
  p = torch.zeros(3, dtype=dtype)
  with pytest.raises(TypeError, match=f"can only optimize floating-point or complex tensors, got {dtype}"):
    torch_bridge.Adam([p])


# ---- add_param_group mid-training -------------------------------------------------------------

def _bad_groups(model):
  extra = torch.nn.Parameter(torch.ones(2))
  yield "already_in_a_group", {"params": [model.bias]}, ValueError, "some parameters appear in more than one parameter group"
  yield "non_leaf", {"params": [extra * 2]}, ValueError, "can't optimize a non-leaf Tensor"
  yield "a_set", {"params": {extra}}, TypeError, "ordered collections"
  yield "not_a_dict", [extra], TypeError, "param_group must be a dict"
  yield "named", {"params": [("extra", extra)]}, ValueError, "all optimizer param groups should be with/without names"
  yield "negative_lr", {"params": [extra], "lr": -1.0}, ValueError, "Invalid learning rate: -1.0"
  yield "bad_betas", {"params": [extra], "betas": (0.9, 1.0)}, ValueError, "Invalid beta parameter at index 1: 1.0"
  yield "integer", {"params": [torch.zeros(2, dtype=torch.int64)]}, TypeError, "floating-point"


@pytest.mark.parametrize("bad", ["already_in_a_group", "non_leaf", "a_set", "not_a_dict", "named",
                                 "negative_lr", "bad_betas", "integer"])
def test_invalid_param_group_raises_and_changes_nothing(bad):
  assert TORCH_CHECKS_NO_GROUP_HYPERPARAMETERS_IN_ADD_PARAM_GROUP  # torch takes lr=-1 in a new group
  model, opt = trained("Adam")
  _, group, error, message = next(case for case in _bad_groups(model) if case[0] == bad)
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(error, match=message):
    opt.add_param_group(group)
  assert len(opt.param_groups) == 1
  snapshot.assert_unchanged(opt)
  assert_next_step_as_if_nothing_happened("Adam", model, opt)


# ---- gradients -------------------------------------------------------------------------------

SPARSE_REJECTING = ["Adam", "AdamW", "RMSprop", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD", "Adadelta",
                    "Adafactor", "Muon"]


def _sparse_setup(module, seed=0):
  torch.manual_seed(seed)
  embedding = torch.nn.Embedding(5, 3, sparse=True)
  dense = torch.nn.Linear(3, 3, bias=False)  # the sparse gradient comes last
  opt = module([dense.weight, embedding.weight])

  def backward():
    opt.zero_grad()
    dense(embedding(torch.tensor([0, 2, 2]))).sum().backward()

  return opt, [dense.weight, embedding.weight], backward


@pytest.mark.parametrize("name", SPARSE_REJECTING)
def test_sparse_gradient_raises_torchs_error_and_changes_nothing(name):
  theirs_opt, _, theirs_backward = _sparse_setup(lambda p: getattr(torch.optim, name)(p))
  theirs_backward()
  theirs = raised(theirs_opt.step)
  opt, params, backward = _sparse_setup(lambda p: getattr(torch_bridge, name)(p))
  backward()
  snapshot = Snapshot(params, opt)
  assert_same_error(raised(opt.step), theirs)
  snapshot.assert_unchanged(opt)


def test_dense_gradient_to_sparse_adam_raises_torchs_error():
  # (tests/test_bridge_sparse_adam.py checks the same on a single parameter)
  embedding = torch.nn.Embedding(4, 2, sparse=True)
  dense = torch.nn.Parameter(torch.ones(2))
  opt = torch_bridge.SparseAdam([embedding.weight, dense])
  (embedding(torch.tensor([1])).sum() + dense.sum()).backward()
  snapshot = Snapshot([embedding.weight, dense], opt)
  with pytest.raises(RuntimeError, match="^SparseAdam does not support dense gradients, please consider Adam instead$"):
    opt.step()
  snapshot.assert_unchanged(opt)


def _mismatched(p, kind):
  if kind == "shape":
    return torch.ones(p.numel() + 1, dtype=p.dtype)
  if kind == "dtype":
    return torch.ones_like(p, dtype=torch.float64)
  return torch.ones(p.shape[::-1] or (1,), dtype=p.dtype)  # same size, other shape


@pytest.mark.parametrize("name", ["SGD", "Adam", "Rprop", "FunctionalOptimizer"])
@pytest.mark.parametrize("kind", ["shape", "dtype", "transposed"])
def test_gradient_not_matching_its_parameter_raises_and_changes_nothing(name, kind):
  assert TORCH_HAS_NO_GRADIENT_SHAPE_OR_DTYPE_CHECK
  make = {"FunctionalOptimizer": lambda ps: torch_bridge.FunctionalOptimizer(ps, fo.adam, learning_rate=1e-2)}.get(
      name, lambda ps: getattr(torch_bridge, name)(ps))
  model = TinyNet(0)
  opt = make(model.parameters())
  x, y = batches(0, 1)[0]
  loss_step(model, opt, x, y)
  opt.zero_grad()
  ((model(x) - y) ** 2).mean().backward()
  last = model.scale if kind != "transposed" else model.matrix
  last.grad.data = _mismatched(last, kind)  # `.grad = ` refuses this; `.grad.data = ` does not
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(ValueError, match=r"^gradient does not match its parameter: grad "):
    opt.step()
  snapshot.assert_unchanged(opt)


# ---- state dicts -----------------------------------------------------------------------------

def _saved(opt):
  buffer = io.BytesIO()
  torch.save(opt.state_dict(), buffer)
  buffer.seek(0)
  return torch.load(buffer, weights_only=True)


def _replace_entry(sd, index, entry):
  return {**sd, "state": {**sd["state"], index: entry}}


def _state_corruptions(sd):
  """(case, corrupted state_dict, expected message) for a trained two-step Adam state_dict."""
  group, entry = sd["param_groups"][0], sd["state"][0]
  yield "no_state", {"param_groups": sd["param_groups"]}, r"state_dict is missing \['state'\]"
  yield "no_param_groups", {"state": sd["state"]}, r"state_dict is missing \['param_groups'\]"
  yield "two_groups", {**sd, "param_groups": [group, group]}, "different number of parameter groups: 2"
  yield "no_groups", {**sd, "param_groups": []}, "different number of parameter groups: 0"
  yield "one_param_less", {**sd, "param_groups": [{**group, "params": group["params"][:-1]}]}, \
      "doesn't match the size of optimizer's group: group 0 has 3 parameters, the optimizer's has 4"
  yield "one_param_more", {**sd, "param_groups": [{**group, "params": group["params"] + [4]}]}, \
      "group 0 has 5 parameters"
  yield "missing_hyperparameter", {**sd, "param_groups": [{k: v for k, v in group.items() if k != "lr"}]}, \
      r"different hyperparameters: missing \['lr'\], unexpected \[\]"
  yield "extra_hyperparameter", {**sd, "param_groups": [{**group, "momentum": 0.9}]}, \
      r"missing \[\], unexpected \['momentum'\]"
  yield "missing_field", _replace_entry(sd, 0, {k: v for k, v in entry.items() if k != "exp_avg"}), \
      r"state of parameter 0 has keys \['exp_avg_sq', 'step'\], expected \['exp_avg', 'exp_avg_sq', 'step'\]"
  yield "extra_field", _replace_entry(sd, 0, {**entry, "max_exp_avg_sq": entry["exp_avg_sq"]}), \
      "state of parameter 0 has keys"
  yield "wrong_shape", _replace_entry(sd, 0, {**entry, "exp_avg": entry["exp_avg"].reshape(-1)}), \
      r"state\[0\]\['exp_avg'\]: expected shape \(2, 5, 4\), got \(40,\)"
  yield "transposed", _replace_entry(sd, 1, {**sd["state"][1], "exp_avg": sd["state"][1]["exp_avg"].T}), \
      r"state\[1\]\['exp_avg'\]: expected shape \(5, 3\), got \(3, 5\)"
  yield "complex_into_real", _replace_entry(sd, 0, {**entry, "exp_avg_sq": entry["exp_avg_sq"].to(torch.complex64)}), \
      r"state\[0\]\['exp_avg_sq'\]: expected a real tensor, got torch.complex64"
  yield "not_a_tensor", _replace_entry(sd, 0, {**entry, "exp_avg": entry["exp_avg"].tolist()}), \
      r"state\[0\]\['exp_avg'\]: expected a tensor, got list"
  yield "unknown_parameter", _replace_entry(sd, 9, entry), r"state for parameters \[9\] that no group lists"
  yield "last_entry_bad", _replace_entry(sd, 3, {**sd["state"][3], "exp_avg": torch.zeros(2)}), \
      r"state\[3\]\['exp_avg'\]: expected shape \(\), got \(2,\)"


STATE_CORRUPTIONS = [case for case, _, _ in _state_corruptions(trained("Adam")[1].state_dict())]


@pytest.mark.parametrize("case", STATE_CORRUPTIONS)
def test_invalid_state_dict_raises_and_changes_nothing(case):
  assert TORCH_LOADS_STATE_DICTS_UNCHECKED
  model, opt = trained("Adam", {"lr": 0.05})
  _, bad, message = next(c for c in _state_corruptions(_saved(opt)) if c[0] == case)
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(ValueError, match=message):
    opt.load_state_dict(bad)
  snapshot.assert_unchanged(opt)
  assert_next_step_as_if_nothing_happened("Adam", model, opt, {"lr": 0.05})


@pytest.mark.parametrize("case", ["two_groups", "one_param_less"])
def test_group_and_parameter_counts_use_torchs_messages(case):
  theirs_model = TinyNet(0)
  theirs = torch.optim.Adam(theirs_model.parameters(), lr=0.05)
  for x, y in batches(0, 2):
    loss_step(theirs_model, theirs, x, y)
  _, bad, _ = next(c for c in _state_corruptions(theirs.state_dict()) if c[0] == case)
  their_error = raised(lambda: theirs.load_state_dict(copy.deepcopy(bad)))
  _, opt = trained("Adam", {"lr": 0.05})
  ours = raised(lambda: opt.load_state_dict(bad))
  assert type(ours) is type(their_error)
  assert str(ours).startswith(str(their_error))


OTHER_ALGORITHMS = [("SGD", {"momentum": 0.9}, "Adam"), ("Adam", {}, "RMSprop"), ("Adagrad", {}, "Adam"),
                    ("AdamW", {}, "NAdam")]
# (RAdam -> Adam loads, as in torch: same state names, and Adam's extra flags take their defaults.)


@pytest.mark.parametrize("source,kwargs,target", OTHER_ALGORITHMS)
def test_state_dict_of_another_algorithm_raises_and_changes_nothing(source, kwargs, target):
  _, other = trained(source, kwargs, seed=3)
  model, opt = trained(target)
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(ValueError, match="has different hyperparameters|state of parameter 0 has keys"):
    opt.load_state_dict(_saved(other))
  snapshot.assert_unchanged(opt)
  assert_next_step_as_if_nothing_happened(target, model, opt)


@pytest.mark.parametrize("factory,dropins", [
    (torchlike.adam, r"torch_bridge\.Adam or torch_bridge\.AdamW"),
    (fo.adamw, "the torch_bridge drop-in named as the torch.optim class"),
])
def test_a_torch_checkpoint_into_a_factory_names_the_drop_in(factory, dropins):
  model, ref_model = TinyNet(0), TinyNet(0)
  ref = torch.optim.AdamW(ref_model.parameters(), lr=1e-2)
  loss_step(ref_model, ref, *batches(0, 1)[0])
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), factory, lr=1e-2)
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(ValueError, match=r"unexpected \[.*'foreach'.*\]\. This looks like a torch\.optim checkpoint.*"
                                       f"load it into {dropins}, whose param groups and state names are torch's"):
    opt.load_state_dict(ref.state_dict())
  snapshot.assert_unchanged(opt)
  dropin = torch_bridge.AdamW(model.parameters(), lr=1e-2)
  dropin.load_state_dict(ref.state_dict())  # what the message says to do


def test_functional_optimizer_checkpoint_of_another_transformation():
  model = TinyNet(0)
  opt = torch_bridge.FunctionalOptimizer(model.parameters(), fo.adam(1e-2))
  loss_step(model, opt, *batches(0, 1)[0])
  other_model = TinyNet(0)
  other = torch_bridge.FunctionalOptimizer(other_model.parameters(), fo.chain(fo.clip(1.0), fo.sgd(1e-2, momentum=0.9)))
  loss_step(other_model, other, *batches(0, 1)[0])
  snapshot = Snapshot(model.parameters(), opt)
  with pytest.raises(ValueError, match=r"state of parameter 0 has keys \['trace.trace'\], expected \['scale_by_adam.count', 'scale_by_adam.mu', 'scale_by_adam.nu'\]"):
    opt.load_state_dict(_saved(other))
  snapshot.assert_unchanged(opt)
