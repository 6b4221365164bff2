"""Checkpoint interchange: save with torch.optim, resume with torch_bridge, and back.

    .venv/bin/python examples/checkpoint_interchange.py --steps 10

Trains with `torch.optim.Adam`, saves model and optimizer with `torch.save`, resumes
from that file with `torch_bridge.Adam`, saves again, and finishes with
`torch.optim.Adam`. Every file is read with `torch.load(..., weights_only=True)`. The
result matches an uninterrupted `torch.optim.Adam` run to float32 rounding.
"""

import argparse
import copy
import pathlib
import tempfile

import torch

import torch_bridge


def train(model, optimizer, batches):
  for x, y in batches:
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


def save(path, model, optimizer):
  torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)


def resume(path, model, optimizer_class):
  checkpoint = torch.load(path, weights_only=True)
  model.load_state_dict(checkpoint["model"])
  optimizer = optimizer_class(model.parameters(), lr=1e-2, amsgrad=True)
  optimizer.load_state_dict(checkpoint["optimizer"])
  return optimizer


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=10, help="steps in each of the three legs (default 10)")
  args = parser.parse_args(argv)

  torch.manual_seed(0)
  make_model = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
  model = make_model()
  batches = [(torch.randn(16, 4), torch.randn(16, 1)) for _ in range(3 * args.steps)]
  legs = [batches[i * args.steps:(i + 1) * args.steps] for i in range(3)]

  reference = copy.deepcopy(model)
  train(reference, torch.optim.Adam(reference.parameters(), lr=1e-2, amsgrad=True), batches)

  with tempfile.TemporaryDirectory() as folder:
    first, second = pathlib.Path(folder, "torch.pt"), pathlib.Path(folder, "bridge.pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    train(model, optimizer, legs[0])
    save(first, model, optimizer)
    print(f"leg 1: torch.optim.Adam, saved state {sorted(optimizer.state_dict()['state'][0])}")

    model = make_model()
    optimizer = resume(first, model, torch_bridge.Adam)
    train(model, optimizer, legs[1])
    save(second, model, optimizer)
    print(f"leg 2: torch_bridge.Adam resumed from it, saved state {sorted(optimizer.state_dict()['state'][0])}")

    model = make_model()
    optimizer = resume(second, model, torch.optim.Adam)
    train(model, optimizer, legs[2])
    step = optimizer.state_dict()["state"][0]["step"]
    print(f"leg 3: torch.optim.Adam resumed from the bridge's checkpoint, now at step {int(step)}")

  diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), reference.parameters()))
  print(f"max |param difference| vs an uninterrupted torch.optim.Adam run: {diff:.3g}")
  assert int(step) == 3 * args.steps
  assert diff < 1e-5, diff


if __name__ == "__main__":
  main()
