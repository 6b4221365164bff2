"""Drop-ins SGD, Adam, AdamW, Adagrad, RMSprop, Adamax, NAdam, RAdam against torch.optim."""

import pytest
import torch
from hypothesis import given, strategies as st

import torch_bridge
from dropin_harness import assert_matches_torch

lrs = st.floats(1e-3, 5e-2)
decays = st.sampled_from([0.0, 1e-2, 0.1])
betas = st.tuples(st.floats(0.0, 0.95), st.floats(0.9, 0.999))
common = dict(seed=st.integers(0, 100), swap_at=st.sampled_from([None, 3, 6]), drop_grad_at=st.sampled_from([None, 2, 5]))

OPTIONS = {
    "SGD": st.fixed_dictionaries({"lr": lrs, "weight_decay": decays, "maximize": st.booleans()}).flatmap(
        lambda d: st.one_of(
            st.just({**d, "momentum": 0.0}),
            st.builds(lambda m, damp: {**d, "momentum": m, "dampening": damp}, st.floats(0.1, 0.95), st.floats(0.0, 0.5)),
            st.builds(lambda m: {**d, "momentum": m, "nesterov": True}, st.floats(0.1, 0.95)),
        )),
    "Adam": st.fixed_dictionaries({"lr": lrs, "betas": betas, "eps": st.floats(1e-8, 1e-3), "weight_decay": decays,
                                   "amsgrad": st.booleans(), "maximize": st.booleans(), "decoupled_weight_decay": st.booleans()}),
    "AdamW": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "amsgrad": st.booleans(), "maximize": st.booleans()}),
    "Adagrad": st.fixed_dictionaries({"lr": lrs, "lr_decay": st.sampled_from([0.0, 1e-2]), "weight_decay": decays,
                                      "initial_accumulator_value": st.sampled_from([0.0, 0.1]), "eps": st.floats(1e-10, 1e-6), "maximize": st.booleans()}),
    "RMSprop": st.fixed_dictionaries({"lr": lrs, "alpha": st.floats(0.8, 0.99), "eps": st.floats(1e-8, 1e-4), "weight_decay": decays,
                                      "momentum": st.sampled_from([0.0, 0.5, 0.9]), "centered": st.booleans(), "maximize": st.booleans()}),
    "Adamax": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "maximize": st.booleans()}),
    "NAdam": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "momentum_decay": st.floats(1e-3, 1e-2),
                                    "decoupled_weight_decay": st.booleans(), "maximize": st.booleans()}),
    "RAdam": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "decoupled_weight_decay": st.booleans(), "maximize": st.booleans()}),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
@given(data=st.data())
def test_matches_torch_with_checkpoint_interchange(name, data):
  kwargs = data.draw(OPTIONS[name], label="kwargs")
  state_tolerance = RMSPROP_STATE_AMPLIFIES_GRADIENT_ROUNDING if name == "RMSprop" else None
  assert_matches_torch(name, kwargs, state_tolerance=state_tolerance,
                       **{k: data.draw(v, label=k) for k, v in common.items()})


# RMSprop's state (momentum_buffer ~ grad / sqrt(square_avg), grad_avg) inherits the float32 rounding
# of the parameters amplified through torch's backward pass: up to ~3e-5 relative on moderate values
# (seed 100, centered, momentum 0.9, maximize; unchanged since the first bridge, see README "Not
# promised"). Parameters are still compared at RTOL/ATOL after every step.
RMSPROP_STATE_AMPLIFIES_GRADIENT_ROUNDING = dict(rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_signature_and_defaults_match_torch(name):
  import inspect
  ours = inspect.signature(getattr(torch_bridge, name).__init__).parameters
  theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
  assert list(ours) == list(theirs) + ["state_dtype"]  # torch's, plus our one documented extra
  assert ours["state_dtype"].kind == inspect.Parameter.KEYWORD_ONLY and ours["state_dtype"].default is None
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, arg
    assert ours[arg].default == theirs[arg].default, arg


@pytest.mark.parametrize("name,kwargs,message", [
    ("SGD", {"lr": -1.0}, "Invalid learning rate"),
    ("SGD", {"momentum": 0.9, "nesterov": True, "dampening": 0.1}, "Nesterov"),
    ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    ("AdamW", {"eps": -1.0}, "Invalid epsilon"),
    ("RMSprop", {"alpha": -0.1}, "Invalid alpha"),
    ("Adagrad", {"lr_decay": -1.0}, "Invalid lr_decay"),
    ("NAdam", {"momentum_decay": -1.0}, "Invalid momentum_decay"),
])
def test_invalid_hyperparameters_raise_torchs_errors(name, kwargs, message):
  params = [torch.nn.Parameter(torch.zeros(2))]
  with pytest.raises(ValueError, match=message):
    getattr(torch.optim, name)(params, **kwargs)
  with pytest.raises(ValueError, match=message):
    getattr(torch_bridge, name)(params, **kwargs)
