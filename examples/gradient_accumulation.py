"""Gradient accumulation with `fo.MultiSteps`, in JAX and through the torch bridge.

    .venv/bin/python examples/gradient_accumulation.py --steps 8

`MultiSteps(opt, every_k_schedule=k)` averages the gradients of k micro-batches and
applies `opt` once, emulating a k times larger batch. The example checks:
  * in JAX: Adam on 4 micro-batches of 8 via MultiSteps equals Adam on batches of 32;
  * in torch: `FunctionalOptimizer(params, MultiSteps(adam, 4))` stepping after every
    micro-batch equals the usual torch recipe (backward of loss / 4 on each
    micro-batch, `torch.optim.Adam.step()` every 4th), and the parameters only move on
    every 4th step.
"""

import argparse
import copy

import jax
import jax.numpy as jnp
import numpy as np
import torch

import functional_optim as fo
import torch_bridge

K = 4  # micro-batches per optimizer step
MICRO = 8  # examples per micro-batch


def jax_part(xs, ys):
  """xs: (steps, K * MICRO, 3). Returns the max |difference| of the two results."""
  loss = lambda p, x, y: jnp.mean((x @ p["w"] + p["b"] - y) ** 2)
  init = {"w": jnp.zeros((3, 1)), "b": jnp.zeros(1)}

  def run(optimizer, batches):
    @jax.jit
    def step(params, state, x, y):
      updates, state = optimizer.update(jax.grad(loss)(params, x, y), state, params)
      return fo.apply_updates(params, updates), state

    params, state = init, optimizer.init(init)
    for x, y in batches:
      params, state = step(params, state, x, y)
    return params

  large = run(fo.adam(1e-2), zip(xs, ys))
  micro = zip(xs.reshape(-1, MICRO, 3), ys.reshape(-1, MICRO, 1))
  accumulated = run(fo.MultiSteps(fo.adam(1e-2), every_k_schedule=K), micro)
  return max(float(jnp.max(jnp.abs(large[k] - accumulated[k]))) for k in init)


def torch_part(xs, ys):
  """Returns (max |difference|, list of whether each micro-step moved the parameters)."""
  torch.manual_seed(0)
  model = torch.nn.Linear(3, 1)
  twin = copy.deepcopy(model)
  micro_batches = list(zip(torch.from_numpy(xs).reshape(-1, MICRO, 3), torch.from_numpy(ys).reshape(-1, MICRO, 1)))

  reference = torch.optim.Adam(model.parameters(), lr=1e-2)
  for i, (x, y) in enumerate(micro_batches):
    (torch.nn.functional.mse_loss(model(x), y) / K).backward()
    if (i + 1) % K == 0:
      reference.step()
      reference.zero_grad()

  bridged = torch_bridge.FunctionalOptimizer(twin.parameters(), fo.MultiSteps(fo.adam(1e-2), every_k_schedule=K))
  moved = []
  for x, y in micro_batches:
    bridged.zero_grad()
    torch.nn.functional.mse_loss(twin(x), y).backward()
    before = twin.weight.detach().clone()
    bridged.step()
    moved.append(not torch.equal(before, twin.weight))
  diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), twin.parameters()))
  return diff, moved


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=8, help=f"optimizer steps, each of {K} micro-batches (default 8)")
  args = parser.parse_args(argv)

  rng = np.random.default_rng(0)
  xs = rng.normal(size=(args.steps, K * MICRO, 3)).astype(np.float32)
  ys = (xs @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)

  diff_jax = jax_part(xs, ys)
  print(f"JAX: MultiSteps(adam, {K}) on micro-batches of {MICRO} vs adam on batches of {K * MICRO}: "
        f"max |param difference| {diff_jax:.3g}")
  diff_torch, moved = torch_part(xs, ys)
  print(f"torch: FunctionalOptimizer(MultiSteps(adam, {K})) vs torch.optim.Adam with accumulated .grad: "
        f"max |param difference| {diff_torch:.3g}")
  print("parameters moved on micro-steps:", [i + 1 for i, m in enumerate(moved) if m])
  assert diff_jax < 1e-5 and diff_torch < 1e-5, (diff_jax, diff_torch)
  assert moved == [(i + 1) % K == 0 for i in range(len(moved))], moved


if __name__ == "__main__":
  main()
