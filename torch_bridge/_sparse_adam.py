"""The drop-in for torch.optim.SparseAdam: sparse COO gradients as dense values plus a mask.

Each step coalesces every sparse gradient (as torch does, summing repeated
indices), scatters it into the group's flat per-dtype gradient buffer, and
builds a flat bool mask of the entries it holds; the compiled step passes the
masks to `torchlike.sparse_adam` as its `grad_mask` argument, through the
`_gather` hook of `FunctionalOptimizer`; the step itself is the shared one.
"""

from typing import Optional, Sequence, Union

import jax.numpy as jnp
import torch

from functional_optim import torchlike

from ._buffers import Layout
from ._buffers import check_grad_matches
from ._dropin import TorchDropIn

Float = Union[float, torch.Tensor]
DENSE_GRADIENT_MESSAGE = "SparseAdam does not support dense gradients, please consider Adam instead"


class SparseAdam(TorchDropIn):
  """`torch.optim.SparseAdam`: Adam on the entries that sparse gradients hold.

  Gradients must be sparse COO tensors, as `torch.nn.Embedding(sparse=True)`
  makes them; a dense gradient raises torch's error (before any parameter or
  state changes, where torch has already counted the step of the parameters
  before it). `state_dict()["state"][i]["step"]` is a Python int, as in torch.

  References:
    Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    `torch.optim.SparseAdam`,
    https://docs.pytorch.org/docs/stable/generated/torch.optim.SparseAdam.html

  Example:
    >>> import torch, torch_bridge
    >>> embedding = torch.nn.Embedding(4, 2, sparse=True)
    >>> opt = torch_bridge.SparseAdam(embedding.parameters(), lr=0.1)
    >>> embedding(torch.tensor([1, 1, 3])).sum().backward()
    >>> opt.step()
    >>> opt.state_dict()["state"][0]["step"]
    1
  """

  factory = staticmethod(torchlike.sparse_adam)
  elementwise = False
  torch_state_keys = torchlike.SPARSE_ADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, maximize: bool = False,
               *, state_dtype: Optional[torch.dtype] = None):
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
      raise ValueError("Tensor lr must be 1-element")
    torchlike.sparse_adam(lr=lr, betas=betas, eps=eps)  # torch's checks and messages come first
    if not isinstance(params, torch.Tensor):  # a tensor is rejected by torch.optim.Optimizer
      params = list(params)
      _check_dense_real(params)
    super().__init__(params, lr=lr, betas=betas, eps=eps, maximize=maximize, state_dtype=state_dtype)

  def _gather(self, runtime):
    values, masks, has_grad = _gather_sparse_grads(runtime.params, runtime.buffers.layout)
    return values, {"grad_mask": masks}, has_grad

  def _loaded_entry(self, entry):
    return _with_int_step(entry)

  def _new_entry(self, rt, index):
    entry = super()._new_entry(rt, index)
    entry["step"] = int(entry["step"])  # torch counts SparseAdam's steps in a Python int
    return entry

  def _sync_state_out(self, rt, has_grad, has_state) -> None:
    super()._sync_state_out(rt, has_grad, has_state)
    for i, p in enumerate(rt.params):
      entry = self._entry(p)
      if entry and isinstance(entry.get("step"), torch.Tensor):
        entry["step"] = int(rt.store.views[i]["step"])  # torch counts SparseAdam's steps in a Python int


def _check_dense_real(params: list) -> None:
  """torch's construction-time checks: no sparse and no complex parameters."""
  groups = params if params and isinstance(params[0], dict) else [{"params": params}]
  sparse, complex_ = [], []
  for index, group in enumerate(groups):
    members = group["params"]
    if isinstance(members, torch.Tensor):
      members = [members]
    elif not isinstance(members, set):  # a set is rejected by torch.optim.Optimizer
      members = group["params"] = list(members)
    for d_index, p in enumerate(members):
      p = p[1] if isinstance(p, tuple) else p  # (name, tensor)
      if isinstance(p, torch.Tensor) and p.is_sparse:
        sparse.append([index, d_index])
      if isinstance(p, torch.Tensor) and p.is_complex():
        complex_.append([index, d_index])
  if sparse:
    raise ValueError(f"Sparse params at indices {sparse}: SparseAdam requires dense parameter tensors")
  if complex_:
    raise ValueError(f"Complex params at indices {complex_}: SparseAdam does not support complex parameters")


def _with_int_step(entry):
  entry = dict(entry)
  step = entry.get("step")
  if isinstance(step, torch.Tensor) and step.numel() == 1 and not step.is_floating_point():
    step = int(step)
  if "step" in entry and (not isinstance(step, int) or isinstance(step, bool)):
    raise ValueError(f"SparseAdam state 'step': expected a Python int, got {step!r}")
  entry["step"] = step
  return entry


def _gather_sparse_grads(params: Sequence[torch.Tensor], layout: Layout):
  """The group's gradients as flat per-dtype values and masks, and which params have one.

  A parameter without a gradient contributes zeros and a False mask.
  """
  values: dict[str, list[torch.Tensor]] = {name: [] for name in layout.dtypes}
  masks: dict[str, list[torch.Tensor]] = {name: [] for name in layout.dtypes}
  has_grad = []
  for p, slot in zip(params, layout.slots):
    g = p.grad
    has_grad.append(g is not None)
    if g is None:
      dense, mask = torch.zeros_like(p), torch.zeros(p.shape, dtype=torch.bool, device=p.device)
    else:
      if not g.is_sparse:
        raise RuntimeError(DENSE_GRADIENT_MESSAGE)
      check_grad_matches(p, g)
      g = g.coalesce()  # sums repeated indices, as torch's SparseAdam
      dense = g.to_dense()
      mask = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
      if g.indices().shape[1]:  # (indexing a 0-d mask with no indices would set it)
        mask[tuple(g.indices())] = True
    values[slot.dtype].append(dense.reshape(-1))
    masks[slot.dtype].append(mask.reshape(-1))
  return (
      {name: jnp.from_dlpack(torch.cat(parts)) for name, parts in values.items()},
      {name: jnp.from_dlpack(torch.cat(parts)) for name, parts in masks.items()},
      has_grad,
  )
