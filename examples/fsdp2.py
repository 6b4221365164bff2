"""FSDP2 (`fully_shard`) with torch_bridge optimizers, launched by torchrun.

    torchrun --nproc_per_node 2 examples/fsdp2.py --steps 20

`fully_shard` turns every parameter into a DTensor sharded over the ranks. The
bridge steps each rank's shard in place and keeps the optimizer state as DTensors
sharded like their parameters (as torch.optim does), so torch.distributed.checkpoint
saves it sharded. The model is trained from the same initialization with
torch.optim.AdamW, torch_bridge.AdamW and FunctionalOptimizer(functional_optim.adamw);
rank 0 prints how far the bridge's parameters end up from torch.optim's.

Transformations that combine the elements of a tensor (a global-norm clip, LAMB,
Adafactor, Muon) would give each shard its own answer; the bridge refuses them on
DTensor parameters with a ValueError naming the operation (clip with
`torch.nn.utils.clip_grad_norm_` before `step()` instead). Uses nccl when every
process has a GPU, gloo on CPU otherwise.
"""

import argparse
import os

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

import functional_optim as fo
import torch_bridge

OPTIMIZERS = {
    "torch.optim.AdamW": lambda params: torch.optim.AdamW(params, lr=1e-2, weight_decay=0.05),
    "torch_bridge.AdamW": lambda params: torch_bridge.AdamW(params, lr=1e-2, weight_decay=0.05),
    "FunctionalOptimizer(fo.adamw)": lambda params: torch_bridge.FunctionalOptimizer(
        params, fo.adamw, lr=1e-2, weight_decay=0.05),
}


def setup() -> str:
  local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
  use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= local_ranks
  dist.init_process_group("nccl" if use_cuda else "gloo")
  if use_cuda:
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
  return "cuda" if use_cuda else "cpu"


def train(make_optimizer, steps: int, device: str):
  torch.manual_seed(0)  # the same initialization on every rank and in every run
  model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)).to(device)
  mesh = init_device_mesh(device, (dist.get_world_size(),))
  for layer in model:
    if isinstance(layer, torch.nn.Linear):
      fully_shard(layer, mesh=mesh)
  fully_shard(model, mesh=mesh)
  optimizer = make_optimizer(model.parameters())
  batches = torch.Generator().manual_seed(dist.get_rank())  # each rank its own data
  for _ in range(steps):
    x = torch.randn(16, 20, generator=batches).to(device)
    y = torch.randint(0, 4, (16,), generator=batches).to(device)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
  return model, optimizer


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
  args = parser.parse_args(argv)
  device = setup()
  try:
    runs = {name: train(make, args.steps, device) for name, make in OPTIMIZERS.items()}
    reference, _ = runs.pop("torch.optim.AdamW")
    for name, (model, optimizer) in runs.items():
      # full_tensor() gathers the shards: every rank sees whole parameters.
      diff = max((a.full_tensor() - b.full_tensor()).abs().max().item()
                 for a, b in zip(reference.parameters(), model.parameters()))
      first = next(model.parameters())
      moment = next(v for v in optimizer.state[first].values() if v.dim())
      if dist.get_rank() == 0:
        print(f"max |param difference| {name} vs torch.optim.AdamW, {dist.get_world_size()} ranks: {diff:.3g}")
        print(f"  its state is sharded like its parameters: {isinstance(moment, DTensor)}, {moment.placements}")
      assert diff < 1e-5, diff
      assert isinstance(moment, DTensor) and moment.placements == first.placements
  finally:
    dist.destroy_process_group()


if __name__ == "__main__":
  main()
