"""Per-group hyperparameters and a torch lr scheduler, three ways.

    .venv/bin/python examples/param_groups_scheduler.py --steps 30

The body and the head of a model get different learning rates and weight decay, and
`torch.optim.lr_scheduler.OneCycleLR` moves both learning rates every step. The same
setup runs with `torch.optim.AdamW`, with the drop-in `torch_bridge.AdamW`, and with
`torch_bridge.FunctionalOptimizer(params, functional_optim.adamw, ...)` (a factory plus
hyperparameters: `param_groups[i]["lr"]` is the factory's `learning_rate`). Changing a
group's lr never recompiles the bridge's step. All three end with the same parameters.
"""

import argparse
import copy

import torch

import functional_optim as fo
import torch_bridge


def groups(model, lr_body=1e-2, lr_head=1e-3):
  return [
      {"params": model[0].parameters(), "lr": lr_body, "weight_decay": 0.1},
      {"params": model[2].parameters(), "lr": lr_head, "weight_decay": 0.0},
  ]


def train(model, optimizer, batches):
  # OneCycleLR also cycles beta1: a factory's b1, b2 are its groups' `betas`, as torch's.
  scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[1e-2, 1e-3], total_steps=len(batches))
  lrs = []
  for x, y in batches:
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()
    scheduler.step()
    lrs.append([group["lr"] for group in optimizer.param_groups])
  return lrs


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
  args = parser.parse_args(argv)

  torch.manual_seed(0)
  model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
  batches = [(torch.randn(8, 6), torch.randn(8, 2)) for _ in range(args.steps)]
  models = [copy.deepcopy(model) for _ in range(3)]
  optimizers = [
      torch.optim.AdamW(groups(models[0])),
      torch_bridge.AdamW(groups(models[1])),
      # fo.adamw's own eps and betas equal torch's; its weight_decay comes from each group.
      torch_bridge.FunctionalOptimizer(groups(models[2]), fo.adamw, learning_rate=1e-2, weight_decay=0.0),
  ]
  schedules = [train(m, opt, batches) for m, opt in zip(models, optimizers)]

  for name, lrs in zip(["torch.optim.AdamW", "torch_bridge.AdamW", "FunctionalOptimizer(fo.adamw)"], schedules):
    print(f"{name:<30} lr body/head: after step 1 {lrs[0][0]:.2e}/{lrs[0][1]:.2e}, "
          f"peak {max(l[0] for l in lrs):.2e}/{max(l[1] for l in lrs):.2e}, last {lrs[-1][0]:.2e}/{lrs[-1][1]:.2e}")
  assert schedules[0] == schedules[1] == schedules[2], "the scheduler drives every optimizer the same way"
  for name, other in zip(["torch_bridge.AdamW", "FunctionalOptimizer(fo.adamw)"], models[1:]):
    diff = max((a - b).abs().max().item() for a, b in zip(models[0].parameters(), other.parameters()))
    print(f"max |param difference| torch.optim.AdamW vs {name}: {diff:.3g}")
    assert diff < 1e-5, diff


if __name__ == "__main__":
  main()
