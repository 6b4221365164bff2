"""Flat per-dtype buffers whose slices are a param group's parameters.

Each param group owns one contiguous torch buffer per dtype. At construction the
group's parameters are moved into slices of those buffers (`p.data` becomes a
view), so a whole group crosses into JAX with one zero-copy DLPack import per
dtype, and new values come back with one copy per dtype. Gradients are gathered
into one flat tensor per dtype with a single `torch.cat`.
"""

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import torch


def dtype_name(dtype: torch.dtype) -> str:
  return str(dtype).removeprefix("torch.")


@dataclasses.dataclass(frozen=True)
class Slot:
  """Where one parameter lives: `buffers[dtype][offset:offset + size].view(shape)`."""

  dtype: str
  offset: int
  size: int
  shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Layout:
  """The slots of a group's parameters, in group order; hashable, so it keys compiled steps."""

  slots: tuple[Slot, ...]

  def __hash__(self) -> int:  # hashed every step (it keys the compiled programs): computed once
    try:
      return self.__dict__["_hash"]
    except KeyError:
      value = self.__dict__["_hash"] = hash(self.slots)
      return value

  @property
  def dtypes(self) -> tuple[str, ...]:
    return tuple(sorted({slot.dtype for slot in self.slots}))

  def members(self, dtype: str) -> list[int]:
    """Indices of the parameters stored in `dtype`'s buffer, in buffer order."""
    return [i for i, slot in enumerate(self.slots) if slot.dtype == dtype]


def layout_of(params: Sequence[torch.Tensor]) -> Layout:
  """Where each parameter goes: consecutive slots per dtype, in group order."""
  sizes: dict[str, int] = {}
  slots = []
  for p in params:
    name = dtype_name(p.dtype)
    slots.append(Slot(name, sizes.get(name, 0), p.numel(), tuple(p.shape)))
    sizes[name] = sizes.get(name, 0) + p.numel()
  return Layout(tuple(slots))


class GroupBuffers:
  """The flat parameter buffers of one group, and gradient gathering for it."""

  def __init__(self, params: Sequence[torch.Tensor]):
    self._params = list(params)
    self.layout = layout_of(self._params)
    slots = self.layout.slots
    sizes = {name: sum(s.size for s in slots if s.dtype == name) for name in self.layout.dtypes}
    self.sizes = sizes  # elements per dtype
    self._members = {name: self.layout.members(name) for name in self.layout.dtypes}
    self._buffers = {}
    with torch.no_grad():
      for name in self.layout.dtypes:
        first = self._params[self._members[name][0]]
        self._buffers[name] = torch.empty(sizes[name], dtype=first.dtype, device=first.device)
      for p, slot in zip(self._params, slots):
        view = self._view(slot)
        view.copy_(p)
        p.data = view
    self._pointers = [p.data_ptr() for p in self._params]
    self._grad_buffers: dict[str, torch.Tensor] = {}  # gradients are concatenated into these

  def _view(self, slot: Slot) -> torch.Tensor:
    return self._buffers[slot.dtype][slot.offset:slot.offset + slot.size].view(slot.shape)

  def reattach_replaced(self) -> None:
    """Moves parameters whose storage was replaced since construction back into the buffers.

    `p.data = t` (or `p.data = p.data.clone()`) keeps the parameter but gives it new
    storage, which the optimizer would no longer see; torch.optim steps whatever
    storage a parameter has. Its new value is copied into its slot and `p.data`
    points there again. A new dtype, shape or device (`model.half()`, `model.to(...)`
    after building the optimizer) cannot fit the slot and raises.
    """
    for i, (p, pointer) in enumerate(zip(self._params, self._pointers)):
      if p.data_ptr() == pointer or p.numel() == 0:
        continue
      slot = self.layout.slots[i]
      view = self._view(slot)
      if dtype_name(p.dtype) != slot.dtype or tuple(p.shape) != slot.shape or p.device != view.device:
        raise RuntimeError(
            f"parameter {i} of its group was replaced after the optimizer was built and is now "
            f"{tuple(p.shape)} {p.dtype} on {p.device}, not {slot.shape} {slot.dtype} on {view.device} "
            "(e.g. model.half() or model.to(...)); build the optimizer after converting the model"
        )
      with torch.no_grad():
        view.copy_(p)
      p.data = view

  def params_to_jax(self) -> dict[str, jax.Array]:
    """Zero-copy JAX views of the parameter buffers, valid until the next write."""
    return {name: jnp.from_dlpack(buffer) for name, buffer in self._buffers.items()}

  def grads_to_jax(
      self, sparse_message: str = "this optimizer does not support sparse gradients"
  ) -> tuple[dict[str, jax.Array], list[bool]]:
    """The gradients as one flat JAX array per dtype, and which parameters have one.

    A parameter without a gradient contributes its own values as filler; the
    compiled step masks them out before the transformation sees them. A sparse
    gradient raises `RuntimeError(sparse_message)`. One pass over the parameters:
    with thousands of them, per-parameter Python work is what a step costs.
    """
    pieces = {name: [] for name in self._members}
    has_grad = []
    for p, slot in zip(self._params, self.layout.slots):
      g = p.grad
      if g is None:
        has_grad.append(False)
        g = p.detach()
      else:
        if g.is_sparse:
          raise RuntimeError(sparse_message)
        check_grad_matches(p, g)
        has_grad.append(True)
        if g.requires_grad:  # backward(create_graph=True); DLPack exports no autograd tensor
          g = g.detach()
      pieces[slot.dtype].append(g.view(-1) if g.is_contiguous() else g.reshape(-1))
    flat = {}
    for name, tensors in pieces.items():
      if len(tensors) == 1:
        flat[name] = jnp.from_dlpack(tensors[0])
      else:  # into a persistent buffer: no allocation per step
        if name not in self._grad_buffers:
          self._grad_buffers[name] = torch.empty_like(self._buffers[name])
        flat[name] = jnp.from_dlpack(torch.cat(tensors, out=self._grad_buffers[name]))
    return flat, has_grad

  def write_params(self, new_flat: dict[str, jax.Array]) -> None:
    """Copies new parameter values into the torch buffers, in place."""
    with torch.no_grad():
      for name, buffer in self._buffers.items():
        buffer.copy_(torch.from_dlpack(new_flat[name]))


def check_grad_matches(p: torch.Tensor, g: torch.Tensor) -> None:
  """Raises `ValueError` unless the gradient has its parameter's shape, dtype and device."""
  if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
    raise ValueError(
        f"gradient does not match its parameter: grad {tuple(g.shape)} {g.dtype} on {g.device}, "
        f"param {tuple(p.shape)} {p.dtype} on {p.device}"
    )


def split_flat(flat: dict[str, jax.Array], layout: Layout) -> tuple[jax.Array, ...]:
  """Inside the compiled step: flat per-dtype arrays -> one array per parameter."""
  return tuple(
      jax.lax.slice_in_dim(flat[s.dtype], s.offset, s.offset + s.size).reshape(s.shape)
      for s in layout.slots
  )


def join_flat(arrays: Sequence[jax.Array], layout: Layout) -> dict[str, jax.Array]:
  """Inside the compiled step: one array per parameter -> flat per-dtype arrays."""
  pieces: dict[str, list[jax.Array]] = {name: [] for name in layout.dtypes}
  for array, slot in zip(arrays, layout.slots):
    pieces[slot.dtype].append(array.reshape(-1))
  return {name: jnp.concatenate(parts) for name, parts in pieces.items()}
