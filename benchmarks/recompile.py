"""Does changing a hyperparameter, or which parameters have gradients, recompile the step?

After two warm-up steps, each checked step changes lr and weight_decay (to other
non-zero values: the bridge treats a zero as static, by design), and on the bridge
some steps leave some `p.grad` as None, in a new pattern each time. XLA
compilations during those steps are counted with `CompileCounter`.

Pure JAX has no `None` gradient: a missing leaf changes the pytree, which is the
program's signature, so there only the hyperparameters change (through
`inject_hyperparams`, the way a JAX user changes them).
"""

from typing import Any

from .algorithms import LR, WEIGHT_DECAY, Algorithm
from .system import CompileCounter, Device
from .workloads import random_leaves

SHAPES = ((32, 16), (16,), (8, 4, 3, 3), (64,), (7,))
WARMUP_STEPS = 2
# (lr factor, weight_decay factor, indices of parameters without a gradient) per checked step.
CHANGES = ((0.5, 1.5, ()), (0.7, 0.5, (1,)), (1.3, 2.0, (0, 3)), (0.9, 1.1, ()), (0.6, 0.8, (2, 3, 4)))


def count_bridge_recompiles(algorithm: Algorithm, device: Device) -> dict[str, Any]:
  import torch

  import functional_optim
  import torch_bridge
  params = [torch.nn.Parameter(torch.from_numpy(a).to(device.torch)) for a in random_leaves(SHAPES, seed=3)]
  grads = [torch.from_numpy(g).to(device.torch) for g in random_leaves(SHAPES, seed=4)]
  if algorithm.clip_norm is None:
    kwargs = {**algorithm.torch_kwargs, "weight_decay": WEIGHT_DECAY}
    optimizer = getattr(torch_bridge, algorithm.torch_class)(params, **kwargs)
  else:  # the factory form puts lr and weight_decay into param_groups
    optimizer = torch_bridge.FunctionalOptimizer(
        params, algorithm.factory(functional_optim), elementwise=True,
        learning_rate=LR, weight_decay=WEIGHT_DECAY)

  def step(missing=()):
    for i, (p, g) in enumerate(zip(params, grads)):
      p.grad = None if i in missing else g.clone()
    optimizer.step()

  for _ in range(WARMUP_STEPS):
    step()
  counter = CompileCounter.get()
  before = counter.count
  for lr_factor, wd_factor, missing in CHANGES:
    group = optimizer.param_groups[0]
    group["lr"] *= lr_factor
    group["weight_decay"] *= wd_factor
    step(missing)
  return {"compiles": counter.count - before, "steps": len(CHANGES), "changed": "lr, weight_decay, grad=None"}


def count_jax_recompiles(module_name: str, algorithm: Algorithm, device: Device) -> dict[str, Any]:
  import importlib

  import jax
  import jax.numpy as jnp
  module = importlib.import_module(module_name)
  transformation = module.inject_hyperparams(algorithm.factory(module))(learning_rate=LR, weight_decay=WEIGHT_DECAY)
  params = [jnp.array(a, device=device.jax) for a in random_leaves(SHAPES, seed=3)]
  grads = [jnp.array(g, device=device.jax) for g in random_leaves(SHAPES, seed=4)]
  state = jax.tree.map(lambda x: jax.device_put(jnp.copy(x), device.jax), transformation.init(params))

  def update(params, grads, state):
    updates, state = transformation.update(grads, state, params)
    return module.apply_updates(params, updates), state

  update = jax.jit(update, donate_argnums=(0, 2))
  for _ in range(WARMUP_STEPS):
    params, state = update(params, grads, state)
  counter = CompileCounter.get()
  before = counter.count
  for lr_factor, wd_factor, _ in CHANGES:
    hyperparams = dict(state.hyperparams)
    for name, factor in (("learning_rate", lr_factor), ("weight_decay", wd_factor)):
      old = hyperparams[name]
      new = float(old) * factor
      # Same aval as before, weak type included: a user's new number, not a new signature.
      value = jnp.asarray(new) if old.weak_type else jnp.asarray(new, dtype=old.dtype)
      hyperparams[name] = jax.device_put(value, device.jax)  # committed, like the step's outputs
    state = state._replace(hyperparams=hyperparams)
    params, state = update(params, grads, state)
  jax.block_until_ready(params)
  return {"compiles": counter.count - before, "steps": len(CHANGES), "changed": "lr, weight_decay"}


def count_recompiles(impl: str, algorithm: Algorithm, device: Device) -> dict[str, Any]:
  if impl == "bridge":
    return count_bridge_recompiles(algorithm, device)
  return count_jax_recompiles(impl, algorithm, device)
