"""Atomic steps: when `step()` raises, parameters and state are exactly as before.

Each test trains two steps, injects one fault into the third, and checks that
the parameters are bit-equal (same values, same storage), `state_dict()` is
equal, and that the step retried without the fault gives bit-for-bit what an
optimizer that never saw the fault gives. Faults: a closure that raises (before
and after backward), a step pre-hook that raises, a gradient that does not match
its parameter on the last parameter of the last group, a sparse gradient there,
a transformation whose `update` raises while it is traced, a fault raised at run
time inside the compiled program (through `jax.pure_callback`), and a fault while
the new values are copied back. A step post-hook that raises runs after the step
is complete, as in torch, which keeps the step too.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import functional_optim as fo
import torch_bridge
from dropin_harness import TinyNet, assert_state_dicts_equal, batches, state_dict_copy


class InjectedFault(Exception):
  pass


def faulty(inner: fo.GradientTransformation, control: dict) -> fo.GradientTransformation:
  """`inner`, with two fault switches read from `control`.

  `control["trace"]`: `update` raises while it is being traced (compile time).
  `control["run_at"]`: the compiled program raises when it runs for the n-th time
  (counted in `control["runs"]`), from inside XLA through a host callback.
  """

  def host_check(_):
    control["runs"] += 1
    if control["runs"] == control.get("run_at"):
      raise InjectedFault(f"fault inside the compiled step, run {control['runs']}")
    return np.zeros((), np.float32)

  def update(updates, state, params=None, **extra):
    if control.get("trace"):
      raise InjectedFault("fault while tracing update")
    zero = jax.pure_callback(host_check, jax.ShapeDtypeStruct((), jnp.float32), jnp.zeros(()))
    updates = jax.tree.map(lambda u: u + zero.astype(u.dtype), updates)
    return inner.update(updates, state, params, **extra)

  return fo.GradientTransformation(inner.init, update)


def groups(model):
  return [{"params": [model.kernel, model.matrix]}, {"params": [model.bias, model.scale], "lr": 0.02}]


def faulty_adamw_factory(control):
  def factory(learning_rate, weight_decay):
    return faulty(fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(learning_rate, weight_decay=weight_decay)), control)
  return factory


OPTIMIZERS = {
    "Adam": lambda model, control: torch_bridge.Adam(groups(model), lr=0.01, amsgrad=True),
    "SGD": lambda model, control: torch_bridge.SGD(groups(model), lr=0.01, momentum=0.9, nesterov=True),
    "FunctionalOptimizer": lambda model, control: torch_bridge.FunctionalOptimizer(
        groups(model), faulty_adamw_factory(control), learning_rate=0.01, weight_decay=0.1),
}


def backward(model, opt, x, y):
  opt.zero_grad()
  loss = ((model(x) - y) ** 2).mean()
  loss.backward()
  return loss


class Scenario:
  """Two good steps, then a third step that the test makes fail."""

  def __init__(self, optimizer):
    self.optimizer = optimizer
    self.control = {"runs": 0}
    self.model = TinyNet(0)
    self.opt = OPTIMIZERS[optimizer](self.model, self.control)
    self.data = batches(1, 3)
    for x, y in self.data[:2]:
      backward(self.model, self.opt, x, y)
      self.opt.step()
    self.values = [p.detach().clone() for p in self.model.parameters()]
    self.pointers = [p.data_ptr() for p in self.model.parameters()]
    self.state = state_dict_copy(self.opt)

  @property
  def last_batch(self):
    return self.data[2]

  def assert_unchanged(self):
    for p, value, pointer in zip(self.model.parameters(), self.values, self.pointers):
      assert torch.equal(p.detach(), value)
      assert p.data_ptr() == pointer
    assert_state_dicts_equal(self.opt.state_dict(), self.state)

  def assert_retry_as_if_nothing_happened(self):
    backward(self.model, self.opt, *self.last_batch)
    self.opt.step()
    reference = Scenario(self.optimizer)
    backward(reference.model, reference.opt, *reference.last_batch)
    reference.opt.step()
    for a, b in zip(self.model.parameters(), reference.model.parameters()):
      assert torch.equal(a, b)
    assert_state_dicts_equal(self.opt.state_dict(), reference.opt.state_dict())


def _run(optimizer, inject, expected=InjectedFault):
  scenario = Scenario(optimizer)
  with pytest.raises(expected):
    inject(scenario)
  scenario.assert_unchanged()
  scenario.assert_retry_as_if_nothing_happened()


def closure_raises_before_backward(s):
  def closure():
    s.opt.zero_grad()
    raise InjectedFault("closure")
  s.opt.step(closure)


def closure_raises_after_backward(s):
  def closure():
    backward(s.model, s.opt, *s.last_batch)
    raise InjectedFault("closure after backward")
  s.opt.step(closure)


def step_pre_hook_raises(s):
  def hook(optimizer, args, kwargs):
    raise InjectedFault("pre-hook")
  handle = s.opt.register_step_pre_hook(hook)
  backward(s.model, s.opt, *s.last_batch)
  try:
    s.opt.step()
  finally:
    handle.remove()


def mismatched_gradient(s):
  backward(s.model, s.opt, *s.last_batch)
  s.model.scale.grad.data = torch.ones(2)  # the last parameter of the last group
  s.opt.step()


def mismatched_gradient_dtype(s):
  backward(s.model, s.opt, *s.last_batch)
  s.model.scale.grad.data = s.model.scale.grad.double()
  s.opt.step()


def sparse_gradient(s):
  backward(s.model, s.opt, *s.last_batch)
  s.model.scale.grad = s.model.scale.grad.to_sparse()
  s.opt.step()


FAULTS_BEFORE_THE_PROGRAM = {
    "closure_before_backward": (closure_raises_before_backward, InjectedFault),
    "closure_after_backward": (closure_raises_after_backward, InjectedFault),
    "step_pre_hook": (step_pre_hook_raises, InjectedFault),
    "grad_shape_last_param": (mismatched_gradient, ValueError),
    "grad_dtype_last_param": (mismatched_gradient_dtype, ValueError),
    "sparse_grad_last_param": (sparse_gradient, RuntimeError),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("fault", sorted(FAULTS_BEFORE_THE_PROGRAM))
def test_fault_before_the_compiled_step_changes_nothing(optimizer, fault):
  if fault == "sparse_grad_last_param" and optimizer in ("SGD", "Adagrad"):
    pytest.skip("SGD and Adagrad step sparse gradients, as torch does")
  _run(optimizer, *FAULTS_BEFORE_THE_PROGRAM[fault])


def test_fault_while_tracing_the_update_changes_nothing():
  def trace_fault(s):
    s.opt.param_groups[1]["weight_decay"] = 0.0  # a zero is static: this step compiles a new program
    s.control["trace"] = True
    backward(s.model, s.opt, *s.last_batch)
    try:
      s.opt.step()
    finally:
      s.control["trace"] = False
      s.opt.param_groups[1]["weight_decay"] = 0.1

  _run("FunctionalOptimizer", trace_fault)


def test_fault_inside_the_compiled_step_changes_nothing():
  def run_fault(s):
    s.control["run_at"] = s.control["runs"] + 1  # the next run of the compiled program
    backward(s.model, s.opt, *s.last_batch)
    try:
      s.opt.step()
    except Exception as error:  # XLA wraps the callback's exception in its own runtime error
      if "fault inside the compiled step" in str(error):
        raise InjectedFault(str(error)) from error
      raise

  scenario = Scenario("FunctionalOptimizer")
  with pytest.raises(InjectedFault):
    run_fault(scenario)
  scenario.assert_unchanged()  # the state is torch's: the program only reads it
  scenario.assert_retry_as_if_nothing_happened()


def test_fault_while_copying_back_the_second_group_changes_nothing(monkeypatch):
  """A failure while writing new values into the torch buffers (injected into torch.from_dlpack)."""
  scenario = Scenario("Adam")
  real = torch.from_dlpack
  calls = {"n": 0}

  def failing_from_dlpack(x, *args, **kwargs):
    if isinstance(x, jax.Array) and x.ndim == 1:  # a new flat parameter buffer coming back
      calls["n"] += 1
      if calls["n"] == 2:
        raise InjectedFault("fault while copying back")
    return real(x, *args, **kwargs)

  backward(scenario.model, scenario.opt, *scenario.last_batch)
  monkeypatch.setattr(torch, "from_dlpack", failing_from_dlpack)
  with pytest.raises(InjectedFault):
    scenario.opt.step()
  monkeypatch.setattr(torch, "from_dlpack", real)
  assert calls["n"] == 2, "the fault was not injected while copying back"
  scenario.assert_unchanged()
  scenario.assert_retry_as_if_nothing_happened()


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_step_post_hook_fault_keeps_the_step_as_torch_does(name):
  results = []
  for module in (torch, torch_bridge):
    model = TinyNet(0)
    cls = getattr(torch.optim if module is torch else torch_bridge, name)
    opt = cls(groups(model), lr=0.01)
    backward(model, opt, *batches(1, 1)[0])
    opt.register_step_post_hook(lambda *args: (_ for _ in ()).throw(InjectedFault("post-hook")))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(InjectedFault):
      opt.step()
    results.append([not torch.equal(p, b) for p, b in zip(model.parameters(), before)])
  assert results[0] == results[1] == [True] * 4
