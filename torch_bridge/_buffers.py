"""Flat per-dtype buffers for a param group's parameters and gradients.

Each step, a group's parameters and gradients are concatenated into one flat
buffer per dtype that the optimizer owns (`torch.cat(out=...)`), so a whole group
crosses into JAX with one zero-copy DLPack import per dtype, and new values come
back with one copy per parameter, into the parameter's own storage.
"""

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import torch

from . import _dtensor
from ._dtensor import local


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
  for p in map(local, params):
    name = dtype_name(p.dtype)
    slots.append(Slot(name, sizes.get(name, 0), p.numel(), tuple(p.shape)))
    sizes[name] = sizes.get(name, 0) + p.numel()
  return Layout(tuple(slots))


class GroupBuffers:
  """Gathers a group's parameters and gradients into flat per-dtype buffers, and writes back.

  torch owns the parameters (DESIGN.md, "Ownership"): their storage is whatever
  torch, DDP, ZeRO or FSDP gives them at each step, and is never re-pointed; a
  DTensor parameter's storage is its local shard (see `_dtensor`). Each
  step copies their current values into one flat buffer per dtype (the optimizer's
  own memory, imported into JAX without a copy) and copies the new values back
  into each parameter's storage, in place.
  """

  def __init__(self, params: Sequence[torch.Tensor]):
    self._params = list(params)
    # Per-step Python work per parameter is what a step costs with thousands of them:
    # only a group with DTensors pays for looking at their local shards.
    self._sharded = any(map(_dtensor.is_dtensor, self._params))
    self._local = local if self._sharded else _itself
    self.layout = layout_of(self._params)
    self.sizes = {name: sum(s.size for s in self.layout.slots if s.dtype == name) for name in self.layout.dtypes}
    self._members = {name: self.layout.members(name) for name in self.layout.dtypes}
    self._one_dimensional = {name: all(len(self.layout.slots[i].shape) == 1 for i in members)
                             for name, members in self._members.items()}
    self._param_buffers: dict[str, torch.Tensor] = {}
    self._grad_buffers: dict[str, torch.Tensor] = {}
    self._imported: dict[int, jax.Array] = {}  # id(buffer) -> its JAX view
    self._shaped: dict[int, list[torch.Tensor]] = {}  # id(buffer) -> its pieces, shaped as their parameters
    self._flat_views: dict[int, tuple[int, torch.Tensor]] = {}  # index -> (data_ptr, 1-D view)
    # What each parameter and its gradient must look like: compared in one list comparison per step
    # (a gradient must also be a plain tensor; a group with DTensors always takes the checked path).
    self._meta = [_meta(p) for p in self._params]
    self._grad_meta = None if self._sharded else [(torch.Tensor, *meta[1:]) for meta in self._meta]
    self._by_dtype = {name: [self._params[i] for i in members] for name, members in self._members.items()}
    self._write_targets: dict[str, tuple[list[int], list[torch.Tensor]]] = {}  # dtype -> (data_ptrs, targets)

  def _buffer(self, buffers: dict, name: str) -> torch.Tensor:
    if name not in buffers:
      first = self._local(self._params[self._members[name][0]])
      buffers[name] = torch.empty(self.sizes[name], dtype=first.dtype, device=first.device)
    return buffers[name]

  def _import(self, buffer: torch.Tensor) -> jax.Array:
    """The JAX view of one of our buffers (on CPU imported once: the memory never moves).

    On CUDA it is imported again at every step (~25 us): the DLPack exchange is what
    makes JAX's stream wait for torch's current stream, which wrote the buffer.
    """
    if buffer.is_cuda:
      return jnp.from_dlpack(buffer)
    key = id(buffer)
    if key not in self._imported:
      self._imported[key] = jnp.from_dlpack(buffer)
    return self._imported[key]

  def check_params(self) -> None:
    """Raises RuntimeError if a parameter's dtype, shape or device changed since construction."""
    if [_meta(p) for p in self._params] == self._meta:
      return
    for i, (p, slot) in enumerate(zip(map(self._local, self._params), self.layout.slots)):
      if dtype_name(p.dtype) != slot.dtype or tuple(p.shape) != slot.shape or (
          slot.dtype in self._param_buffers and p.device != self._param_buffers[slot.dtype].device):
        raise RuntimeError(
            f"parameter {i} of its group was replaced after the optimizer was built and is now "
            f"{tuple(p.shape)} {p.dtype} on {p.device}, not {slot.shape} {slot.dtype} "
            "(e.g. model.half() or model.to(...)); build the optimizer after converting the model"
        )

  def params_to_jax(self) -> dict[str, jax.Array]:
    """The parameters' current values as one JAX array per dtype.

    A dtype with one parameter in compact, aligned storage is read in place (the
    program only reads it); otherwise the values are copied into the flat buffer:
    with one `torch.cat` of the write-back's flat views of them while those hold
    (one kernel, ~2x faster than `_foreach_copy_` with thousands of small tensors).
    """
    flat = {}
    with torch.no_grad():
      for name, tensors in self._by_dtype.items():
        views = self._cached_write_targets(name)
        if views is not None and len(views) > 1:
          buffer = self._buffer(self._param_buffers, name)
          torch.cat(views, out=buffer)
          flat[name] = self._import(buffer)
        else:
          flat[name] = self._flatten(list(map(self._local, tensors)) if self._sharded else tensors,
                                     self._param_buffers, name)
    return flat

  def _cached_write_targets(self, name: str, pointers=None) -> Optional[list[torch.Tensor]]:
    """The flat views `write_params` writes `name`'s parameters through, if they still hold.

    They hold while every parameter has the same data pointer and is contiguous (a
    parameter given a transposed view of its own storage keeps its pointer).
    """
    cached = self._write_targets.get(name)
    if cached is None:
      return None
    tensors = list(map(self._local, self._by_dtype[name])) if self._sharded else self._by_dtype[name]
    if pointers is None:
      pointers = [t.data_ptr() for t in tensors]
    if cached[0] != pointers or not all(map(torch.Tensor.is_contiguous, tensors)):
      return None
    return cached[1]

  def _flatten(self, tensors: list[torch.Tensor], buffers: dict, name: str) -> jax.Array:
    """One flat JAX array of `tensors`: zero-copy for one compact aligned tensor.

    Otherwise one copy into the flat buffer with no per-tensor Python work (a
    reshape each cost ~6 us at 2000 tensors): `torch.cat` when every tensor is 1-D,
    else one `_foreach_copy_` into cached views of the buffer shaped as the tensors.
    """
    if len(tensors) == 1 and _importable(tensors[0]):
      return jnp.from_dlpack(tensors[0].detach().view(-1))
    buffer = self._buffer(buffers, name)
    if self._one_dimensional[name]:
      torch.cat(tensors, out=buffer)
    else:
      torch._foreach_copy_(self._shaped_pieces(buffer, name), tensors)
    return self._import(buffer)

  def _shaped_pieces(self, buffer: torch.Tensor, name: str) -> list[torch.Tensor]:
    key = id(buffer)
    if key not in self._shaped:
      slots = [self.layout.slots[i] for i in self._members[name]]
      self._shaped[key] = [buffer[s.offset:s.offset + s.size].view(s.shape) for s in slots]
    return self._shaped[key]

  def grads_to_jax(
      self, sparse_message: Optional[str] = "this optimizer does not support sparse gradients"
  ) -> tuple[dict[str, jax.Array], list[bool]]:
    """The gradients as one flat JAX array per dtype, and which parameters have one.

    A parameter without a gradient contributes its own values as filler;
    the compiled step masks them out before the transformation sees them. A sparse
    gradient raises `RuntimeError(sparse_message)`, or, when `sparse_message` is None
    (torch's SGD and Adagrad), is made dense: zeros where it has no entry, which these
    algorithms step exactly as torch steps the sparse entries. One pass over the parameters:
    with thousands of them, per-parameter Python work is what a step costs.
    """
    grads = [p.grad for p in self._params]
    if [None if g is None else _meta(g) for g in grads] == self._grad_meta:  # all present, dense, plain, matching
      pieces = {name: ([grads[i] for i in members] if len(members) < len(grads) else grads)
                for name, members in self._members.items()}
      with torch.no_grad():
        flat = {name: self._flatten(tensors, self._grad_buffers, name) for name, tensors in pieces.items()}
      return flat, [True] * len(grads)
    pieces = {name: [] for name in self._members}
    has_grad = []
    for p, slot in zip(self._params, self.layout.slots):
      g = p.grad
      if g is None:
        has_grad.append(False)
        g = self._local(p)
      else:
        if self._sharded or type(g) is not torch.Tensor:
          _dtensor.check_gradient(p, g)  # (before any DLPack call sees a tensor subclass)
          p, g = local(p), local(g)
        if g.is_sparse:
          if sparse_message is not None:
            raise RuntimeError(sparse_message)
          g = g.to_dense()
        check_grad_matches(p, g)
        has_grad.append(True)
      pieces[slot.dtype].append(g.detach())
    with torch.no_grad():
      flat = {name: self._flatten(tensors, self._grad_buffers, name) for name, tensors in pieces.items()}
    return flat, has_grad

  def write_params(self, new_flat: dict[str, torch.Tensor]) -> None:
    """Copies new parameter values into each parameter's own storage, in place.

    One `torch.split` per dtype and one `_foreach_copy_` for the group: per-parameter
    slicing in Python costs more than the copy itself with thousands of tensors.
    Contiguous parameters are written through a flat view of them (cached while
    their storage stays the same); others through a view of the new values.
    """
    targets, sources = [], []
    for name, members in self._members.items():
      pieces = torch.split(new_flat[name], [self.layout.slots[i].size for i in members])
      pointers = [self._local(p).data_ptr() for p in self._by_dtype[name]]
      cached = self._cached_write_targets(name, pointers)
      if cached is not None:  # same storage as last step: same views
        targets += cached
        sources += pieces
        continue
      dtype_targets = []
      for i, piece in zip(members, pieces):
        target = self._flat_view(i)
        if target is None:
          dtype_targets.append(self._local(self._params[i]))
          sources.append(piece.view(self.layout.slots[i].shape))
        else:
          dtype_targets.append(target)
          sources.append(piece)
      if all(t.dim() == 1 for t in dtype_targets):  # every one a flat view: reusable while pointers hold
        self._write_targets[name] = (pointers, dtype_targets)
      targets += dtype_targets
    with torch.no_grad():
      torch._foreach_copy_(targets, sources)

  def _flat_view(self, index: int):
    """A 1-D view of contiguous parameter `index`'s storage, or None if it is not contiguous."""
    p = self._local(self._params[index])
    if not p.is_contiguous():
      return None
    pointer = p.data_ptr()
    cached = self._flat_views.get(index)
    if cached is not None and cached[0] == pointer and cached[1].data_ptr() == pointer:
      return cached[1]
    view = p.detach().view(-1)
    self._flat_views[index] = (pointer, view)
    return view


def _meta(t: torch.Tensor) -> tuple:
  """What a parameter and its gradient must share (and the gradient must be dense)."""
  return (type(t), t.shape, t.dtype, t.device, t.layout)


def _itself(t: torch.Tensor) -> torch.Tensor:
  return t


def _importable(t: torch.Tensor) -> bool:
  """Whether DLPack hands `t` to JAX without a copy: compact storage aligned to 64 bytes."""
  return t.numel() > 0 and t.is_contiguous() and t.data_ptr() % 64 == 0


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
