"""`state_dict()` and `load_state_dict()`: the bridge's drop-ins beside torch.optim.

For each algorithm with a torch.optim class, on the workload with the most tensors
(2000 x 1K: what these calls cost grows with the number of parameters), both
optimizers take one step so that every parameter has state, then each call is
timed `repeats` times and the median kept. The loaded checkpoint is torch.optim's
own `state_dict()`, for both: what a user resuming from torch.optim hands over.
"""

import statistics
import time
from typing import Any

from .algorithms import Algorithm
from .system import Device
from .workloads import random_leaves

WORKLOAD = "2000x1K"


def _median_s(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def time_checkpoints(algorithm: Algorithm, shapes, device: Device, repeats: int) -> dict[str, Any]:
  import torch

  import torch_bridge
  values = random_leaves(shapes, seed=20)
  grads = random_leaves(shapes, seed=21)
  optimizers = {}
  for impl, module in (("torch", torch.optim), ("bridge", torch_bridge)):
    params = [torch.nn.Parameter(torch.from_numpy(v.copy()).to(device.torch)) for v in values]
    optimizer = getattr(module, algorithm.torch_class)(params, **algorithm.torch_kwargs)
    for p, g in zip(params, grads):
      p.grad = torch.from_numpy(g).to(device.torch)
    optimizer.step()
    optimizers[impl] = optimizer
  checkpoint = optimizers["torch"].state_dict()
  result: dict[str, Any] = {"algorithm": algorithm.name, "workload": WORKLOAD, "params": len(shapes)}
  for impl, optimizer in optimizers.items():
    result[f"{impl}_state_dict_s"] = _median_s(optimizer.state_dict, repeats)
    result[f"{impl}_load_state_dict_s"] = _median_s(lambda: optimizer.load_state_dict(checkpoint), repeats)
  for call in ("state_dict", "load_state_dict"):
    result[f"{call}_ratio"] = result[f"bridge_{call}_s"] / result[f"torch_{call}_s"]
  return result
