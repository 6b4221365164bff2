"""Learning a learning rate through optimizer steps: `differentiable=True` through the bridge.

    .venv/bin/python examples/meta_learning.py --meta-steps 30 --inner-steps 5

A tiny linear regression. The inner loop takes `--inner-steps` steps of Adam
(`differentiable=True`) from the same initial weights on training data; the
meta-objective is the loss on held-out data after them. Its gradient with respect
to the log learning rate flows back through every inner step (autograd records
each one; through the bridge, JAX computes each step's backward), and an outer
torch.optim.Adam learns the learning rate.

The same loop runs twice: inner steps by `torch_bridge.Adam` and by
`torch.optim.Adam`, both with `differentiable=True`. The learned learning rates
and the meta-objectives agree to float32 rounding.
"""

import argparse

import torch

import torch_bridge


def make_data(seed=0):
  generator = torch.Generator().manual_seed(seed)
  true_w = torch.randn(8, 1, generator=generator)
  x_train, x_val = torch.randn(64, 8, generator=generator), torch.randn(64, 8, generator=generator)
  noise = lambda: 0.1 * torch.randn(64, 1, generator=generator)
  return (x_train, x_train @ true_w + noise()), (x_val, x_val @ true_w + noise())


def meta_objective(adam_class, log_lr, train, val, inner_steps):
  """Validation loss after `inner_steps` differentiable Adam steps from fixed weights."""
  w = torch.zeros(8, 1).requires_grad_(True).clone()  # a non-leaf: the steps write it in place
  inner = adam_class([w], lr=log_lr.exp(), differentiable=True)
  (x, y), (x_val, y_val) = train, val
  for _ in range(inner_steps):
    loss = torch.nn.functional.mse_loss(x @ w, y)
    (w.grad,) = torch.autograd.grad(loss, w, create_graph=True)
    inner.step()
  return torch.nn.functional.mse_loss(x_val @ w, y_val)


def learn_lr(adam_class, train, val, meta_steps, inner_steps):
  """The learned learning rate and the meta-objective after each outer step."""
  log_lr = torch.tensor(-4.0, requires_grad=True)  # lr = e^-4 ~ 0.018 to start
  outer = torch.optim.Adam([log_lr], lr=0.1)
  history = []
  for _ in range(meta_steps):
    outer.zero_grad()
    objective = meta_objective(adam_class, log_lr, train, val, inner_steps)
    objective.backward()
    outer.step()
    history.append((log_lr.detach().exp().item(), objective.detach().item()))
  return history


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--meta-steps", type=int, default=30, help="outer steps on the log learning rate (default 30)")
  parser.add_argument("--inner-steps", type=int, default=5, help="differentiable Adam steps per objective (default 5)")
  args = parser.parse_args(argv)

  train, val = make_data()
  runs = {
      "torch_bridge.Adam": learn_lr(torch_bridge.Adam, train, val, args.meta_steps, args.inner_steps),
      "torch.optim.Adam": learn_lr(torch.optim.Adam, train, val, args.meta_steps, args.inner_steps),
  }
  for name, history in runs.items():
    (lr0, objective0), (lr, objective) = history[0], history[-1]
    print(f"{name:18s} lr {lr0:.4f} -> {lr:.4f}, validation loss {objective0:.4f} -> {objective:.4f}")
  ours, theirs = runs.values()
  lr_difference = max(abs(a[0] - b[0]) / b[0] for a, b in zip(ours, theirs))
  loss_difference = max(abs(a[1] - b[1]) / b[1] for a, b in zip(ours, theirs))
  print(f"max |param difference| learned lr (relative): {lr_difference:.2e}")
  print(f"max |param difference| meta-objective (relative): {loss_difference:.2e}")


if __name__ == "__main__":
  main()
