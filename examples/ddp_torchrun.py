"""Data-parallel training (DDP) with torch_bridge optimizers, launched by torchrun.

    torchrun --nproc_per_node 2 examples/ddp_torchrun.py --steps 20

Every process holds a DistributedDataParallel replica and trains it on its own
batches three times from the same initialization: with torch.optim.AdamW, with
torch_bridge.AdamW and with FunctionalOptimizer running functional_optim.adamw.
DDP averages the gradients; each optimizer then steps the replica's parameters
in place. Rank 0 prints how far the bridge's parameters end up from torch.optim's.
Uses nccl when every process has a GPU, gloo on CPU otherwise.
"""

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import functional_optim as fo
import torch_bridge

OPTIMIZERS = {
    "torch.optim.AdamW": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.05),
    "torch_bridge.AdamW": lambda params: torch_bridge.AdamW(params, lr=1e-2, weight_decay=0.05),
    "FunctionalOptimizer(fo.adamw)": lambda params: torch_bridge.FunctionalOptimizer(
        params, fo.adamw, lr=1e-2, weight_decay=0.05),
}


def setup() -> torch.device:
  local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
  use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_ranks
  dist.init_process_group("nccl" if use_cuda else "gloo")
  if use_cuda:
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.cuda.set_device(device)
    return device
  return torch.device("cpu")


def train(make_optimizer, steps: int, device: torch.device) -> torch.nn.Module:
  torch.manual_seed(0)  # the same initialization in every run (DDP also broadcasts rank 0's)
  model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)).to(device)
  ddp = DistributedDataParallel(model)
  optimizer = make_optimizer(ddp.parameters())
  batches = torch.Generator().manual_seed(dist.get_rank())  # each rank its own data
  for _ in range(steps):
    x = torch.randn(16, 20, generator=batches).to(device)
    y = torch.randint(0, 4, (16,), generator=batches).to(device)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(ddp(x), y).backward()
    optimizer.step()
  return model


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
  args = parser.parse_args(argv)
  device = setup()
  try:
    models = {name: train(make, args.steps, device) for name, make in OPTIMIZERS.items()}
    reference = models.pop("torch.optim.AdamW")
    for name, model in models.items():
      diff = max((a - b).abs().max() for a, b in zip(reference.parameters(), model.parameters()))
      dist.all_reduce(diff, op=dist.ReduceOp.MAX)  # the worst over all ranks
      if dist.get_rank() == 0:
        print(f"max |param difference| {name} vs torch.optim.AdamW, {dist.get_world_size()} ranks: "
              f"{diff.item():.3g}")
      assert diff.item() < 1e-5, diff
  finally:
    dist.destroy_process_group()


if __name__ == "__main__":
  main()
