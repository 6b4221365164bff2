"""`differentiable=True`: steps recorded by autograd, gradients from JAX, as torch.optim's."""

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

import functional_optim as fo
import torch_bridge

F64 = torch.float64


def _rand(*shape, scale=1.0, grad=True, seed=None):
  generator = torch.Generator().manual_seed(seed) if seed is not None else None
  return (scale * torch.rand(*shape, dtype=F64, generator=generator)).requires_grad_(grad)


# Per algorithm: hyperparameters, and the state it starts from (tensors that require grad
# are differentiated; `step`-like counters do not require grad, as torch demands).
CASES = {
    "SGD": (dict(lr=0.9, momentum=0.5, weight_decay=0.1), lambda: {"momentum_buffer": _rand(5)}),
    "SGD-nesterov": (dict(lr=0.5, momentum=0.9, nesterov=True, maximize=True), lambda: {"momentum_buffer": _rand(5)}),
    "Adam": (dict(lr=0.9, amsgrad=True), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "exp_avg": _rand(5), "exp_avg_sq": _rand(5),
        "max_exp_avg_sq": _rand(5)}),
    "AdamW": (dict(lr=0.9, weight_decay=0.1), lambda: {
        "step": torch.tensor(3.0, dtype=F64), "exp_avg": _rand(5), "exp_avg_sq": _rand(5)}),
    "Adagrad": (dict(lr=0.9, weight_decay=0.1, lr_decay=0.01), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "sum": _rand(5)}),
    "RMSprop": (dict(lr=0.9, momentum=0.9, centered=True, weight_decay=0.1, maximize=True), lambda: {
        "step": torch.tensor(0.0, dtype=F64), "square_avg": _rand(5), "momentum_buffer": _rand(5),
        "grad_avg": _rand(5, scale=1e-2)}),
    "Adamax": (dict(lr=0.9, weight_decay=0.1), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "exp_avg": _rand(5), "exp_inf": _rand(5)}),
    "NAdam": (dict(lr=0.9, decoupled_weight_decay=True, weight_decay=0.1), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "exp_avg": _rand(5), "exp_avg_sq": _rand(5),
        "mu_product": torch.tensor(1.0, dtype=F64, requires_grad=True)}),
    "RAdam": (dict(lr=0.9, weight_decay=0.1, decoupled_weight_decay=True), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "exp_avg": _rand(5), "exp_avg_sq": _rand(5)}),
    "Rprop": (dict(lr=0.9), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "prev": _rand(5), "step_size": _rand(5)}),
    "ASGD": (dict(lr=0.9, t0=1), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "eta": torch.tensor(0.9, dtype=F64),
        "mu": torch.tensor(1.0, dtype=F64), "ax": _rand(5)}),
    "Adadelta": (dict(lr=0.9, weight_decay=0.1), lambda: {
        "step": torch.tensor(10.0, dtype=F64), "square_avg": _rand(5), "acc_delta": _rand(5)}),
}


# Known float64 deviations of an algorithm's ordinary step from torch's, not of differentiation:
# torchlike.radam's rectification term (3.6e-8 relative after 12 ordinary float64 steps).
FLOAT64_DEVIATION = {"RAdam": 1e-8}


def _one_step(cls, kwargs, param, grad, state):
  """One differentiable step from (param, grad, state); returns the new param and the state that requires grad."""
  param = param.clone()  # a non-leaf: the step writes it in place, recorded
  param.grad = grad
  optimizer = cls([param], differentiable=True, **kwargs)
  optimizer.state[param].update({k: v.clone() for k, v in state.items()})
  optimizer.step()
  new_state = optimizer.state[param]
  return (param,) + tuple(new_state[k] for k in sorted(new_state) if new_state[k].requires_grad)


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_step_gradcheck_and_torchs_gradients(case):
  """gradcheck (float64) of one step w.r.t. param, grad and state; values and VJPs equal torch.optim's."""
  name = case.split("-")[0]
  kwargs, make_state = CASES[case]
  torch.manual_seed(0)
  param, grad, state = _rand(5), _rand(5), make_state()
  differentiable = [v for v in state.values() if v.requires_grad]
  ours = lambda p, g, *s: _one_step(getattr(torch_bridge, name), kwargs, p, g, state_from(s))
  theirs = lambda p, g, *s: _one_step(getattr(torch.optim, name), kwargs, p, g, state_from(s))

  def state_from(values):
    it = iter(values)
    return {k: next(it) if v.requires_grad else v for k, v in state.items()}

  inputs = (param, grad, *differentiable)
  assert gradcheck(ours, inputs)
  out_ours, out_theirs = ours(*inputs), theirs(*inputs)
  assert len(out_ours) == len(out_theirs)
  weights = [torch.randn_like(o) for o in out_theirs]
  tolerance = FLOAT64_DEVIATION.get(name, 1e-12)
  for a, b in zip(out_ours, out_theirs):
    torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)
  grads_ours = torch.autograd.grad(out_ours, inputs, weights, allow_unused=True)
  grads_theirs = torch.autograd.grad(out_theirs, inputs, weights, allow_unused=True)
  for a, b in zip(grads_ours, grads_theirs):
    torch.testing.assert_close(a, b, rtol=100 * tolerance, atol=tolerance)


def _inner_loop(module, name, params, lr, steps, dtype, zero_momentum=False, **kwargs):
  """`steps` differentiable steps on a tiny regression; returns the loss after them.

  `zero_momentum`: start from zero momentum buffers (the same steps as without them).
  """
  params = [p.clone() for p in params]
  optimizer = getattr(module, name)(params, lr=lr, differentiable=True, **kwargs)
  if zero_momentum:
    for p in params:
      optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
  generator = torch.Generator().manual_seed(7)
  x = torch.randn(16, params[0].shape[1], generator=generator, dtype=dtype)
  y = torch.randn(16, params[0].shape[0], generator=generator, dtype=dtype)
  loss_of = lambda: torch.nn.functional.mse_loss(x @ params[0].T + params[1], y)
  for _ in range(steps):
    grads = torch.autograd.grad(loss_of(), params, create_graph=True)
    for p, g in zip(params, grads):
      p.grad = g
    optimizer.step()
  return loss_of()


TORCH_DETACHES_FIRST_MOMENTUM_BUFFER = True

# Algorithms and options whose torch.optim differentiable step survives several steps (torch's
# SGD with momentum and a tensor lr, AdamW with amsgrad and centered RMSprop fail their own
# backward after 2-3 steps; its RMSprop, Adagrad, Adamax refuse a tensor lr), and whether lr is a tensor.
INNER = {
    "SGD": (dict(weight_decay=0.01), True),
    # torch.optim.SGD starts its momentum buffer as `grad.detach().clone()`, even when differentiable,
    # so its meta-gradient misses that path; from a zero buffer (the same steps) it has it.
    "SGD-momentum": (dict(momentum=0.9, nesterov=True, zero_momentum=TORCH_DETACHES_FIRST_MOMENTUM_BUFFER), False),
    "Adam": (dict(), True),
    "AdamW": (dict(weight_decay=0.1), True),  # amsgrad: torch's own backward fails after 3 steps
    "RMSprop": (dict(momentum=0.5, weight_decay=0.01), False),  # centered: torch's backward fails after 3 steps
}


@hypothesis.settings(deadline=None, max_examples=5, phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
@hypothesis.given(case=st.sampled_from(sorted(INNER)), steps=st.integers(1, 3), seed=st.integers(0, 2**16),
                  lr=st.floats(1e-3, 0.1), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_meta_gradients_equal_torch_optims(case, steps, seed, lr, dtype):
  """d(loss after k steps)/d(lr, initial params): torch_bridge equals torch.optim(differentiable=True).

  To float32 rounding in float64 too: torch's differentiable Adam computes its bias
  corrections from its float32 `step` tensor, in float32 (its ordinary step uses floats).
  """
  name = case.split("-")[0]
  kwargs, tensor_lr = INNER[case]
  generator = torch.Generator().manual_seed(seed)
  init = [torch.randn(3, 4, generator=generator, dtype=dtype), torch.randn(3, generator=generator, dtype=dtype)]
  results = []
  for module in (torch_bridge, torch.optim):
    lr_t = torch.tensor(lr, dtype=dtype, requires_grad=True) if tensor_lr else lr
    params = [p.clone().requires_grad_(True) for p in init]
    loss = _inner_loop(module, name, params, lr_t, steps, dtype, **kwargs)
    results.append((loss, *torch.autograd.grad(loss, [lr_t, *params] if tensor_lr else params)))
  for ours, theirs in zip(*results):
    torch.testing.assert_close(ours, theirs, rtol=2e-5, atol=1e-6)


def test_the_first_momentum_buffer_is_differentiated():
  """Starting from a zero momentum buffer takes the same steps: the bridge's meta-gradient is the same."""
  init = [_rand(3, 4, seed=3, grad=False), _rand(3, seed=4, grad=False)]
  grads = []
  for zero_momentum in (False, True):
    params = [p.clone().requires_grad_(True) for p in init]
    loss = _inner_loop(torch_bridge, "SGD", params, 0.05, 2, F64, zero_momentum=zero_momentum, momentum=0.9)
    grads.append(torch.autograd.grad(loss, params))
  for a, b in zip(*grads):
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_tensor_betas_and_weight_decay_get_gradients_as_in_torch():
  """Adam with lr, betas and weight_decay as tensors: their meta-gradients equal torch.optim's."""
  grads = []
  for module in (torch_bridge, torch.optim):
    hp = [torch.tensor(v, dtype=F64, requires_grad=True) for v in (0.01, 0.9, 0.99, 0.1)]
    params = [_rand(3, 4, seed=1), _rand(3, seed=2)]
    loss = _inner_loop(module, "Adam", params, hp[0], 3, F64, betas=(hp[1], hp[2]), weight_decay=hp[3])
    grads.append(torch.autograd.grad(loss, hp))
  for ours, theirs in zip(*grads):
    torch.testing.assert_close(ours, theirs, rtol=2e-5, atol=1e-9)  # see test_meta_gradients_equal_torch_optims


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_gradgradcheck(name):
  kwargs, make_state = CASES[name]
  torch.manual_seed(1)
  state = make_state()
  differentiable = [k for k, v in state.items() if v.requires_grad]

  def fn(p, g, *values):
    return _one_step(getattr(torch_bridge, name), kwargs, p, g, {**state, **dict(zip(differentiable, values))})

  assert gradgradcheck(fn, (_rand(3), _rand(3), *(_rand(3) for _ in differentiable)))


def test_functional_optimizer_meta_gradient_equals_jax_grad():
  """FunctionalOptimizer(fo.adam, differentiable=True): d(loss)/d(lr) is JAX's own gradient of the loop."""
  x = jnp.linspace(-1.0, 1.0, 8)
  y = 3.0 * x - 1.0
  loss_fn = lambda w: jnp.mean((w[0] * x + w[1] - y) ** 2)

  def jax_loss(lr):
    # The bridge traces the factory's betas as float32 values (schedulers move them without a
    # recompile), so `1 - b2` rounds in float32 there: the JAX reference takes them as float32 too.
    tx = fo.adam(learning_rate=lr, b1=jnp.float32(0.9), b2=jnp.float32(0.999))
    w = jnp.array([0.5, 0.5])
    state = tx.init(w)
    for _ in range(3):
      updates, state = tx.update(jax.grad(loss_fn)(w), state, w)
      w = fo.apply_updates(w, updates)
    return loss_fn(w)

  expected_loss, expected_grad = jax.value_and_grad(jax_loss)(0.05)

  lr = torch.tensor(0.05, requires_grad=True)
  w = torch.tensor([0.5, 0.5]).requires_grad_(True).clone()
  optimizer = torch_bridge.FunctionalOptimizer([w], fo.adam, learning_rate=lr, differentiable=True)
  xt, yt = torch.linspace(-1.0, 1.0, 8), 3.0 * torch.linspace(-1.0, 1.0, 8) - 1.0
  loss_of = lambda: torch.mean((w[0] * xt + w[1] - yt) ** 2)
  for _ in range(3):
    w.grad = torch.autograd.grad(loss_of(), w, create_graph=True)[0]
    optimizer.step()
  loss = loss_of()
  (grad,) = torch.autograd.grad(loss, lr)
  assert abs(loss.item() - float(expected_loss)) <= 1e-6
  assert abs(float(grad) - float(expected_grad)) <= 1e-5 * abs(float(expected_grad)) + 1e-6


def test_a_leaf_that_requires_grad_is_refused_as_by_torch_and_nothing_changes():
  for module in (torch.optim, torch_bridge):
    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.ones(3)
    optimizer = module.Adam([w], lr=0.1, differentiable=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
      optimizer.step()
    assert torch.equal(w.detach(), torch.ones(3))
  assert not optimizer.state[w]  # the bridge changes nothing (torch has created the state by then)


def test_without_anything_requiring_grad_the_ordinary_step_runs():
  """differentiable=True with plain tensors: the compiled step, state in the optimizer's buffers."""
  w, ref = torch.ones(3), torch.ones(3)
  ours, theirs = torch_bridge.Adam([w], lr=0.1, differentiable=True), torch.optim.Adam([ref], lr=0.1, differentiable=True)
  for _ in range(2):
    w.grad, ref.grad = torch.full((3,), 0.5), torch.full((3,), 0.5)
    ours.step()
    theirs.step()
  torch.testing.assert_close(w, ref)
  assert not any(v.requires_grad for v in ours.state[w].values())


def test_state_the_user_put_in_is_written_in_place_as_by_torch():
  for module in (torch.optim, torch_bridge):
    w = torch.ones(3).requires_grad_(True).clone()
    momentum = torch.zeros(3).requires_grad_(True).clone()
    optimizer = module.SGD([w], lr=0.1, momentum=0.9, differentiable=True)
    optimizer.state[w]["momentum_buffer"] = momentum
    w.grad = torch.full((3,), 2.0)
    optimizer.step()
    assert optimizer.state[w]["momentum_buffer"] is momentum and momentum.requires_grad
    torch.testing.assert_close(momentum.detach(), torch.full((3,), 2.0))
    torch.testing.assert_close(w.detach(), torch.full((3,), 0.8))
