"""The drop-in for torch.optim.SparseAdam: sparse COO gradients as dense values plus a mask.

Each step coalesces every sparse gradient (as torch does, summing repeated
indices), scatters it into the group's flat per-dtype gradient buffer, and
builds a flat bool mask of the entries it holds; the compiled step passes the
masks to `torchlike.sparse_adam` as its `grad_mask` argument. The step differs
from `FunctionalOptimizer.step` only in what it gathers and that argument.
"""

from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import torch

import functional_optim as fo
from functional_optim.torchlike._sparse_adam import SPARSE_ADAM_TORCH_STATE_KEYS, sparse_adam

from . import _hyperparams
from ._buffers import Layout, join_flat, split_flat
from ._dropin import TorchDropIn
from ._program import GroupProgram
from ._state import keep_where_no_grad

Float = Union[float, torch.Tensor]
DENSE_GRADIENT_MESSAGE = "SparseAdam does not support dense gradients, please consider Adam instead"


class SparseAdam(TorchDropIn):
  """`torch.optim.SparseAdam`: Adam on the entries that sparse gradients hold.

  Gradients must be sparse COO tensors, as `torch.nn.Embedding(sparse=True)`
  makes them; a dense gradient raises torch's error (before any parameter or
  state changes, where torch has already counted the step of the parameters
  before it). `state_dict()["state"][i]["step"]` is a Python int, as in torch.

  Reference: Kingma and Ba, 2015, https://arxiv.org/abs/1412.6980

  Example:
    >>> import torch, torch_bridge
    >>> embedding = torch.nn.Embedding(4, 2, sparse=True)
    >>> opt = torch_bridge.SparseAdam(embedding.parameters(), lr=0.1)
    >>> embedding(torch.tensor([1, 1, 3])).sum().backward()
    >>> opt.step()
    >>> opt.state_dict()["state"][0]["step"]
    1
  """

  factory = staticmethod(sparse_adam)
  torch_state_keys = SPARSE_ADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, maximize: bool = False):
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
      raise ValueError("Tensor lr must be 1-element")
    sparse_adam(lr=lr, betas=betas, eps=eps)  # torch's checks and messages come first
    if not isinstance(params, torch.Tensor):  # a tensor is rejected by torch.optim.Optimizer
      params = list(params)
      _check_dense_real(params)
    super().__init__(params, lr=lr, betas=betas, eps=eps, maximize=maximize)

  @torch.no_grad()
  def step(self, closure: Optional[Callable[[], Any]] = None):
    """Performs one optimization step; `closure` re-evaluates the model and returns the loss."""
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    self._check_groups_unchanged()
    gathered = [_gather_sparse_grads(rt.params, rt.buffers.layout) for rt in self._runtimes]
    if not any(any(has_grad) for _, _, has_grad in gathered):
      return loss
    statics, traced = zip(*(_hyperparams.split(self._transformation_hyperparams(g)) for g in self.param_groups))
    specs = tuple(
        GroupProgram(rt.buffers.layout, self._make_transformation, static)
        for rt, static in zip(self._runtimes, statics)
    )
    step_fn = self._compiled.get(specs)
    if step_fn is None:
      step_fn = self._compiled[specs] = _compile_masked_step(specs)
    new_flat, new_states = step_fn(
        tuple(rt.buffers.params_to_jax() for rt in self._runtimes),
        tuple(grads for grads, _, _ in gathered),
        tuple(masks for _, masks, _ in gathered),
        tuple(jnp.asarray(has_grad) for _, _, has_grad in gathered),
        tuple(rt.state for rt in self._runtimes),
        traced,
    )
    jax.block_until_ready(new_flat)
    for rt, flat, state, (_, _, has_grad) in zip(self._runtimes, new_flat, new_states, gathered):
      rt.buffers.write_params(flat)
      rt.state = state
      rt.has_state = [old or new for old, new in zip(rt.has_state, has_grad)]
    return loss

  def _param_state(self, group_index: int, param_index: int) -> dict[str, Any]:
    entry = super()._param_state(group_index, param_index)
    entry["step"] = int(entry["step"])  # torch counts SparseAdam's steps in a Python int
    return entry

  def _validated(self, state_dict):
    """Reads torch's Python-int `step`s as the int32 tensors our state holds."""
    if isinstance(state_dict.get("state"), dict):
      state = {index: _with_step_tensor(entry, index) for index, entry in state_dict["state"].items()}
      state_dict = {**state_dict, "state": state}
    return super()._validated(state_dict)


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


def _with_step_tensor(entry, index):
  if not isinstance(entry, dict) or "step" not in entry:
    return entry
  step = entry["step"]
  if isinstance(step, torch.Tensor) and step.numel() == 1 and not step.is_floating_point():
    step = int(step)
  if not isinstance(step, int) or isinstance(step, bool):
    raise ValueError(f"state[{index}]['step']: expected a Python int, got {step!r}")
  return {**entry, "step": torch.tensor(step, dtype=torch.int32)}


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
      if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
        raise ValueError(
            f"gradient does not match its parameter: grad {tuple(g.shape)} {g.dtype} on {g.device}, "
            f"param {tuple(p.shape)} {p.dtype} on {p.device}"
        )
      g = g.coalesce()  # sums repeated indices, as torch's SparseAdam
      dense = g.to_dense()
      mask = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
      mask[tuple(g.indices())] = True
    values[slot.dtype].append(dense.reshape(-1))
    masks[slot.dtype].append(mask.reshape(-1))
  return (
      {name: jnp.from_dlpack(torch.cat(parts)) for name, parts in values.items()},
      {name: jnp.from_dlpack(torch.cat(parts)) for name, parts in masks.items()},
      has_grad,
  )


def _group_step(spec: GroupProgram, flat_params, flat_grads, flat_masks, has_grad, state, traced):
  params = split_flat(flat_params, spec.layout)
  grads = split_flat(flat_grads, spec.layout)
  masks = split_flat(flat_masks, spec.layout)
  tx = spec.make_transformation(_hyperparams.merge(spec.static_hyperparams, traced))
  updates, new_state = tx.update(grads, state, params, grad_mask=masks)
  new_params = fo.apply_updates(params, updates)
  new_params = tuple(jnp.where(has_grad[i], new, old) for i, (new, old) in enumerate(zip(new_params, params)))
  new_state = keep_where_no_grad(new_state, state, has_grad, len(params))
  return join_flat(new_params, spec.layout), new_state


def _compile_masked_step(specs: tuple[GroupProgram, ...]):
  """`_program.compile_step` with each group's gradient masks as `grad_mask`."""

  def step(flat_params, flat_grads, flat_masks, has_grads, states, traced):
    results = [
        _group_step(spec, *args)
        for spec, *args in zip(specs, flat_params, flat_grads, flat_masks, has_grads, states, traced)
    ]
    return tuple(r[0] for r in results), tuple(r[1] for r in results)

  return jax.jit(step, donate_argnums=(4,))
