"""PyTorch drop-in: `torch_bridge.AdamW` where you had `torch.optim.AdamW`.

    .venv/bin/python examples/torch_dropin.py --steps 50

Trains the same model from the same initialization twice, once with each class, and
checks that the parameters agree to float32 rounding. The bridge is a real
`torch.optim.Optimizer` and updates the parameters in place.
"""

import argparse
import copy

import torch

import torch_bridge


def train(model, optimizer, batches):
  for x, y in batches:
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
  return loss.item()


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=50, help="training steps (default 50)")
  args = parser.parse_args(argv)

  torch.manual_seed(0)
  model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
  twin = copy.deepcopy(model)
  batches = [(torch.randn(16, 20), torch.randint(0, 4, (16,))) for _ in range(args.steps)]

  reference = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
  bridged = torch_bridge.AdamW(twin.parameters(), lr=1e-2, weight_decay=0.05)  # same arguments
  assert isinstance(bridged, torch.optim.Optimizer)
  pointers = [p.data_ptr() for p in twin.parameters()]

  loss_torch = train(model, reference, batches)
  loss_bridge = train(twin, bridged, batches)
  diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), twin.parameters()))
  print(f"final loss: torch.optim.AdamW {loss_torch:.6f}, torch_bridge.AdamW {loss_bridge:.6f}")
  print(f"max |param difference| after {args.steps} steps: {diff:.3g}")
  print(f"state names match torch: {sorted(bridged.state_dict()['state'][0])}")
  assert diff < 1e-5, diff
  assert sorted(bridged.state_dict()["state"][0]) == sorted(reference.state_dict()["state"][0])
  assert pointers == [p.data_ptr() for p in twin.parameters()], "parameters are updated in place"


if __name__ == "__main__":
  main()
