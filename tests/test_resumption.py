"""Resumption is exact: stop, save, restore into fresh objects, continue == never stopping.

Each property trains k steps, writes `{"model": ..., "opt": ..., "sched": ...}`
to a file with `torch.save`, keeps training n more steps, then builds a fresh
model (with other initial weights), a fresh optimizer (and scheduler), loads the
file with `torch.load(weights_only=True)` and trains the same n steps. The
parameters and the optimizer's `state_dict()` must be bit-identical
(`torch.equal`), for every drop-in over a variety of options and for
`FunctionalOptimizer` running composed chains, schedules, `MultiSteps`,
`inject_hyperparams` and torch lr schedulers. One case restores in a fresh
Python process.
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest
import torch
from hypothesis import given, settings, strategies as st

import functional_optim as fo
import torch_bridge
from dropin_harness import TinyNet, batches

# Each example compiles two optimizers; a quarter of the profile's examples keeps CI fast.
FEW = settings(max_examples=max(2, settings().max_examples // 4))

lrs = st.sampled_from([1e-3, 1e-2, 5e-2])
decays = st.sampled_from([0.0, 0.1])
flags = st.booleans()
betas = st.tuples(st.sampled_from([0.0, 0.9]), st.sampled_from([0.99, 0.999]))

DROPIN_OPTIONS = {
    "SGD": st.one_of(
        st.fixed_dictionaries({"lr": lrs, "weight_decay": decays, "maximize": flags}),
        st.fixed_dictionaries({"lr": lrs, "momentum": st.sampled_from([0.5, 0.9]), "dampening": st.sampled_from([0.0, 0.3])}),
        st.fixed_dictionaries({"lr": lrs, "momentum": st.just(0.9), "nesterov": st.just(True), "weight_decay": decays})),
    "Adam": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "amsgrad": flags,
                                   "maximize": flags, "decoupled_weight_decay": flags}),
    "AdamW": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "amsgrad": flags}),
    "Adagrad": st.fixed_dictionaries({"lr": lrs, "lr_decay": st.sampled_from([0.0, 0.01]), "weight_decay": decays,
                                      "initial_accumulator_value": st.sampled_from([0.0, 0.1])}),
    "RMSprop": st.fixed_dictionaries({"lr": lrs, "momentum": st.sampled_from([0.0, 0.9]), "centered": flags,
                                      "weight_decay": decays}),
    "Adamax": st.fixed_dictionaries({"lr": lrs, "betas": betas, "weight_decay": decays, "maximize": flags}),
    "NAdam": st.fixed_dictionaries({"lr": lrs, "weight_decay": decays, "decoupled_weight_decay": flags,
                                    "momentum_decay": st.sampled_from([4e-3, 1e-2])}),
    "RAdam": st.fixed_dictionaries({"lr": lrs, "weight_decay": decays, "decoupled_weight_decay": flags}),
    "Rprop": st.fixed_dictionaries({"lr": lrs, "etas": st.sampled_from([(0.5, 1.2), (0.3, 1.5)]), "maximize": flags}),
    "ASGD": st.fixed_dictionaries({"lr": lrs, "t0": st.sampled_from([1.0, 3.0, 1e6]), "lambd": st.sampled_from([1e-4, 1e-2]),
                                   "weight_decay": decays}),
    "Adadelta": st.fixed_dictionaries({"lr": st.sampled_from([0.5, 1.0]), "rho": st.sampled_from([0.9, 0.5]),
                                       "weight_decay": decays}),
    "Adafactor": st.fixed_dictionaries({"lr": lrs, "beta2_decay": st.sampled_from([-0.8, -0.5]), "weight_decay": decays,
                                        "maximize": flags}),
    "Muon": st.fixed_dictionaries({"lr": lrs, "nesterov": flags, "weight_decay": decays,
                                   "adjust_lr_fn": st.sampled_from([None, "match_rms_adamw"])}),
    "SparseAdam": st.fixed_dictionaries({"lr": lrs, "betas": betas, "maximize": flags}),
    "LBFGS": st.fixed_dictionaries({"lr": st.sampled_from([0.5, 1.0]), "max_iter": st.sampled_from([2, 4]),
                                    "history_size": st.sampled_from([2, 10]),
                                    "line_search_fn": st.sampled_from([None, "strong_wolfe"])}),
}


class SparseNet(torch.nn.Module):
  """An embedding with sparse gradients, for SparseAdam."""

  def __init__(self, seed):
    super().__init__()
    torch.manual_seed(seed)
    self.embedding = torch.nn.Embedding(6, 3, sparse=True)

  def forward(self, x):
    index = (x.abs().sum(1) * 7).long() % 6
    return self.embedding(index)


def make_model(name, seed):
  return SparseNet(seed) if name == "SparseAdam" else TinyNet(seed)


def trainable(name, model):
  return [model.matrix] if name == "Muon" else list(model.parameters())


def train(model, opt, data, drop_at=(), first_step=0):
  for t, (x, y) in enumerate(data, start=first_step):
    def closure():
      opt.zero_grad()
      loss = ((model(x) - y) ** 2).mean()
      loss.backward()
      if t in drop_at and hasattr(model, "bias"):
        model.bias.grad = None
      return loss

    if isinstance(opt, (torch_bridge.LBFGS, torch.optim.LBFGS)):
      opt.step(closure)
    else:
      closure()
      opt.step()


def assert_bit_identical(model_a, opt_a, model_b, opt_b):
  for (name, a), b in zip(model_a.named_parameters(), model_b.parameters()):
    assert torch.equal(a, b), name
  sa, sb = opt_a.state_dict(), opt_b.state_dict()
  assert _identical(sa["param_groups"], sb["param_groups"])
  assert set(sa["state"]) == set(sb["state"])
  for index, entry in sa["state"].items():
    assert set(entry) == set(sb["state"][index])
    for key, value in entry.items():
      assert _identical(value, sb["state"][index][key]), (index, key)


def _identical(a, b) -> bool:
  if isinstance(a, torch.Tensor):
    return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
  if isinstance(a, (list, tuple)):  # LBFGS's histories, param group lists
    return type(a) is type(b) and len(a) == len(b) and all(_identical(u, v) for u, v in zip(a, b))
  if isinstance(a, dict):  # param groups, with a FunctionalOptimizer's global state
    return isinstance(b, dict) and a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
  return type(a) is type(b) and a == b


def resume_and_compare(make_model_fn, make_opt, k, n, seed, drop_at=(), make_sched=None):
  data = batches(seed + 1, k + n)
  model = make_model_fn(seed)
  opt = make_opt(model)
  sched = make_sched(opt) if make_sched else None

  def run(model, opt, sched, steps, first):
    for t, batch in enumerate(steps, start=first):
      train(model, opt, [batch], drop_at, first_step=t)
      if sched is not None:
        sched.step()

  run(model, opt, sched, data[:k], 0)
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "checkpoint.pt")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict() if sched else None}, path)
    run(model, opt, sched, data[k:], k)
    checkpoint = torch.load(path, weights_only=True)
  fresh_model = make_model_fn(seed + 1000)
  fresh_model.load_state_dict(checkpoint["model"])
  fresh_opt = make_opt(fresh_model)
  fresh_sched = make_sched(fresh_opt) if make_sched else None
  fresh_opt.load_state_dict(checkpoint["opt"])
  if fresh_sched is not None:
    fresh_sched.load_state_dict(checkpoint["sched"])
  run(fresh_model, fresh_opt, fresh_sched, data[k:], k)
  assert_bit_identical(model, opt, fresh_model, fresh_opt)


@pytest.mark.parametrize("name", sorted(DROPIN_OPTIONS))
@FEW
@given(data=st.data(), k=st.integers(1, 4), n=st.integers(1, 3), seed=st.integers(0, 100))
def test_dropin_resumes_bit_identically(name, data, k, n, seed):
  kwargs = data.draw(DROPIN_OPTIONS[name], label="kwargs")
  drop_at = data.draw(st.sampled_from([(), (k - 1,), (k,)]), label="drop_at") if name not in ("LBFGS", "SparseAdam") else ()
  cls = getattr(torch_bridge, name)
  resume_and_compare(lambda s: make_model(name, s), lambda m: cls(trainable(name, m), **kwargs), k, n, seed, drop_at)


def _warmup_cosine():
  return fo.schedules.warmup_cosine_decay_schedule(0.0, 1e-2, warmup_steps=2, decay_steps=8)


FUNCTIONAL = {
    "clip_adamw_schedule": lambda: fo.chain(fo.clip_by_global_norm(0.5), fo.adamw(_warmup_cosine(), weight_decay=0.1)),
    "multisteps": lambda: fo.MultiSteps(fo.chain(fo.clip(0.1), fo.adam(1e-2)), every_k_schedule=3),
    "inject_hyperparams": lambda: fo.inject_hyperparams(fo.adamw)(learning_rate=_warmup_cosine(), weight_decay=0.05),
    "noisy_sgd": lambda: fo.noisy_sgd(1e-2, key=3),
    "apply_if_finite_lion": lambda: fo.apply_if_finite(fo.lion(1e-3), max_consecutive_errors=2),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
@FEW
@given(k=st.integers(1, 5), n=st.integers(1, 4), seed=st.integers(0, 100))
def test_functional_optimizer_chains_resume_bit_identically(name, k, n, seed):
  resume_and_compare(TinyNet, lambda m: torch_bridge.FunctionalOptimizer(m.parameters(), FUNCTIONAL[name]()), k, n, seed)


SCHEDULERS = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "cosine": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    "one_cycle": lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20, cycle_momentum=False),
    "warmup_then_exp": lambda opt: torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=3),
              torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)], milestones=[3]),
}
SCHEDULED_OPTIMIZERS = {
    "factory_adamw": lambda m: torch_bridge.FunctionalOptimizer(
        [{"params": [m.kernel, m.matrix]}, {"params": [m.bias, m.scale], "weight_decay": 0.0}],
        fo.adamw, learning_rate=1e-2, weight_decay=0.1),
    "dropin_sgd": lambda m: torch_bridge.SGD(m.parameters(), lr=1e-2, momentum=0.9),
    "dropin_adam": lambda m: torch_bridge.Adam(m.parameters(), lr=1e-2, amsgrad=True),
}


@pytest.mark.parametrize("sched", sorted(SCHEDULERS))
@pytest.mark.parametrize("optimizer", sorted(SCHEDULED_OPTIMIZERS))
@settings(max_examples=max(1, settings().max_examples // 8))
@given(k=st.integers(1, 5), n=st.integers(1, 4), seed=st.integers(0, 100))
def test_torch_lr_schedulers_resume_bit_identically(optimizer, sched, k, n, seed):
  resume_and_compare(TinyNet, SCHEDULED_OPTIMIZERS[optimizer], k, n, seed, make_sched=SCHEDULERS[sched])


FRESH_PROCESS_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import functional_optim as fo
    import torch_bridge
    sys.path.insert(0, sys.argv[3])
    from dropin_harness import TinyNet, batches

    checkpoint = torch.load(sys.argv[1], weights_only=True)
    model = TinyNet(1234)
    model.load_state_dict(checkpoint["model"])
    opt = torch_bridge.FunctionalOptimizer(
        model.parameters(), fo.chain(fo.clip_by_global_norm(0.5), fo.adamw(1e-2, weight_decay=0.1)))
    opt.load_state_dict(checkpoint["opt"])
    for x, y in batches(5, 6)[3:]:
      opt.zero_grad()
      ((model(x) - y) ** 2).mean().backward()
      opt.step()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, sys.argv[2])
""")


def test_resumes_bit_identically_in_a_fresh_process():
  model = TinyNet(5)
  make_opt = lambda m: torch_bridge.FunctionalOptimizer(
      m.parameters(), fo.chain(fo.clip_by_global_norm(0.5), fo.adamw(1e-2, weight_decay=0.1)))
  opt = make_opt(model)
  data = batches(5, 6)
  with tempfile.TemporaryDirectory() as directory:
    checkpoint, result = os.path.join(directory, "checkpoint.pt"), os.path.join(directory, "result.pt")
    train(model, opt, data[:3])
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, checkpoint)
    train(model, opt, data[3:])
    subprocess.run([sys.executable, "-c", FRESH_PROCESS_SCRIPT, checkpoint, result, os.path.dirname(__file__)],
                   check=True, timeout=300)
    resumed = torch.load(result, weights_only=True)
  for name, value in model.state_dict().items():
    assert torch.equal(value, resumed["model"][name]), name
  ours = opt.state_dict()
  assert ours["param_groups"] == resumed["opt"]["param_groups"]
  for index, entry in ours["state"].items():
    for key, value in entry.items():
      assert torch.equal(value, resumed["opt"]["state"][index][key]), (index, key)
