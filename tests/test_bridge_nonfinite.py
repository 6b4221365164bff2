"""Non-finite gradients through the bridge.

* By default the drop-ins do what torch.optim does with NaN and inf gradients:
  the same entries become NaN (or inf), step after step, and the finite ones
  agree as usual.
* `fo.apply_if_finite` and `fo.MultiSteps(..., should_skip_update_fn=fo.skip_not_finite)`
  run inside a `FunctionalOptimizer`: a non-finite step leaves the parameters
  bit-for-bit unchanged, is counted in the state (visible in `state_dict()`),
  and matches the same transformation run in JAX.
* `torch.amp.GradScaler` on CPU skips a step whose gradients hold inf, for the
  drop-ins exactly as for torch.optim.
"""

import copy
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import functional_optim as fo
import torch_bridge
from dropin_harness import ATOL, RTOL, TinyNet, batches

DROPIN_KWARGS = {
    "SGD": {"lr": 0.01, "momentum": 0.9}, "Adam": {"lr": 0.01}, "AdamW": {"lr": 0.01, "amsgrad": True},
    "Adagrad": {"lr": 0.01}, "RMSprop": {"lr": 0.01, "centered": True}, "Adamax": {"lr": 0.01},
    "NAdam": {"lr": 0.01}, "RAdam": {"lr": 0.01}, "Rprop": {"lr": 0.01}, "ASGD": {"lr": 0.01},
    "Adadelta": {}, "Adafactor": {"lr": 0.01}, "Muon": {"lr": 0.01},
}
# Each example compiles a step; a quarter of the profile's examples keeps CI fast.
FEW = settings(max_examples=max(2, settings().max_examples // 4))


def _poison(grad, kind, g):
  """Puts NaN and/or inf into a few entries of a gradient."""
  flat = grad.view(-1)
  picks = torch.randint(0, flat.numel(), (max(1, flat.numel() // 4),), generator=g)
  if kind == "nan":
    flat[picks] = float("nan")
  elif kind == "inf":
    flat[picks] = float("inf") * torch.sign(torch.randn(len(picks), generator=g))
  else:
    flat[picks[: len(picks) // 2 + 1]] = float("nan")
    flat[picks[len(picks) // 2 + 1:]] = -float("inf")



@pytest.mark.parametrize("name", sorted(DROPIN_KWARGS))
@FEW
@given(seed=st.integers(0, 100), kind=st.sampled_from(["nan", "inf", "both"]), bad_step=st.integers(0, 2))
def test_dropins_propagate_non_finite_gradients_as_torch(name, seed, kind, bad_step):
  models = [TinyNet(seed), TinyNet(seed)]
  params = [[m.matrix] if name == "Muon" else list(m.parameters()) for m in models]
  theirs = getattr(torch.optim, name)(params[0], **DROPIN_KWARGS[name])
  ours = getattr(torch_bridge, name)(params[1], **DROPIN_KWARGS[name])
  for t, (x, y) in enumerate(batches(seed + 1, 4)):
    for model, opt, ps in zip(models, (theirs, ours), params):
      opt.zero_grad()
      ((model(x) - y) ** 2).mean().backward()
      if t == bad_step:
        g = torch.Generator().manual_seed(seed)
        for p in ps:
          _poison(p.grad, kind, g)
      opt.step()
    for a, b in zip(params[1], params[0]):
      assert torch.equal(torch.isnan(a), torch.isnan(b)), f"{name} step {t}: NaN pattern"
      assert torch.equal(torch.isinf(a), torch.isinf(b)), f"{name} step {t}: inf pattern"
      torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
  poisoned = any(torch.isnan(p).any() or torch.isinf(p).any() for p in params[1])
  assert poisoned != (name == "Rprop")  # Rprop steps by torch.sign, which is 0 for NaN and finite for inf


def _train_functional(transformation, grads_per_step, seed=0):
  """The same transformation through the bridge and in JAX, on the given gradients."""
  model = TinyNet(seed)
  params = list(model.parameters())
  opt = torch_bridge.FunctionalOptimizer(params, transformation)
  jax_params = tuple(jnp.asarray(p.detach().numpy().copy()) for p in params)
  jax_state = transformation.init(jax_params)
  update = jax.jit(transformation.update)
  history = []
  for grads in grads_per_step:
    before = [p.detach().clone() for p in params]
    for p, g in zip(params, grads):
      p.grad = g.clone()
    opt.step()
    updates, jax_state = update(tuple(jnp.asarray(g.numpy()) for g in grads), jax_state, jax_params)
    jax_params = fo.apply_updates(jax_params, updates)
    for p, e in zip(params, jax_params):
      np.testing.assert_allclose(p.detach().numpy(), np.asarray(e), rtol=RTOL, atol=ATOL)
    history.append(([torch.equal(p, b) for p, b in zip(params, before)], copy.deepcopy(opt.state_dict())))
  return history


def _gradient_steps(seed, bad_steps, num_steps=6):
  model = TinyNet(seed)
  g = torch.Generator().manual_seed(seed)
  steps = []
  for t in range(num_steps):
    grads = [torch.randn(p.shape, generator=g) for p in model.parameters()]
    if t in bad_steps:
      grads[t % len(grads)].view(-1)[0] = float("nan") if t % 2 else float("inf")
    steps.append(grads)
  return steps


@FEW
@given(seed=st.integers(0, 100), bad_steps=st.sets(st.integers(0, 5), max_size=3))
def test_apply_if_finite_skips_and_counts_non_finite_steps(seed, bad_steps):
  tx = fo.apply_if_finite(fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(1e-2)), max_consecutive_errors=5)
  history = _train_functional(tx, _gradient_steps(seed, bad_steps))
  total = 0
  for t, (unchanged, state) in enumerate(history):
    global_state = state["state"][0]  # global fields live in every parameter's state
    total += t in bad_steps
    assert all(unchanged) == (t in bad_steps), t
    assert bool(global_state["last_finite"]) == (t not in bad_steps)
    assert int(global_state["total_notfinite"]) == total
    assert int(global_state["inner_state.scale_by_adam.count"]) == t + 1 - total


def test_apply_if_finite_applies_after_max_consecutive_errors_as_optax():
  # The third NaN step in a row is applied (as in optax): the parameters become NaN.
  tx = fo.apply_if_finite(fo.sgd(1e-2), max_consecutive_errors=2)
  history = _train_functional(tx, _gradient_steps(0, {1, 2, 3}, num_steps=4))
  assert [all(unchanged) for unchanged, _ in history] == [False, True, True, False]
  assert int(history[-1][1]["state"][0]["notfinite_count"]) == 3


@FEW
@given(seed=st.integers(0, 100), bad_steps=st.sets(st.integers(0, 5), max_size=3))
def test_multisteps_with_skip_not_finite_skips_and_counts(seed, bad_steps):
  tx = fo.MultiSteps(fo.adam(1e-2), every_k_schedule=2, should_skip_update_fn=fo.skip_not_finite)
  history = _train_functional(tx, _gradient_steps(seed, bad_steps))
  good = 0
  for t, (unchanged, state) in enumerate(history):
    global_state = state["state"][0]  # global fields live in every parameter's state
    if t in bad_steps:
      assert all(unchanged)
      assert bool(global_state["skip_state.should_skip"])
      assert int(global_state["skip_state.num_not_finite"]) >= 1
    else:
      good += 1
      assert not bool(global_state["skip_state.should_skip"])
      assert all(unchanged) == (good % 2 == 1), t  # applied every second good step
    assert int(global_state["gradient_step"]) == good // 2


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_grad_scaler_skips_inf_steps_like_torch(name):
  kwargs = {"lr": 0.01}
  models = [TinyNet(3), TinyNet(3)]
  opts = [getattr(torch.optim, name)(models[0].parameters(), **kwargs),
          getattr(torch_bridge, name)(models[1].parameters(), **kwargs)]
  scalers = [torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2) for _ in range(2)]
  for t, (x, y) in enumerate(batches(4, 6)):
    skipped = []
    for model, opt, scaler in zip(models, opts, scalers):
      opt.zero_grad()
      loss = ((model(x) - y) ** 2).mean() * (float("inf") if t in (1, 4) else 1.0)
      scaler.scale(loss).backward()
      before = [p.detach().clone() for p in model.parameters()]
      scaler.step(opt)
      scaler.update()
      skipped.append(all(torch.equal(p, b) for p, b in zip(model.parameters(), before)))
    assert skipped[0] == skipped[1] == (t in (1, 4)), t
    assert scalers[0].get_scale() == scalers[1].get_scale()
    for a, b in zip(models[1].parameters(), models[0].parameters()):
      torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
