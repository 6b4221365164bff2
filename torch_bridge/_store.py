"""Where a param group's optimizer state lives: torch tensors, owned by the optimizer.

torch owns the state (see DESIGN.md, "Ownership"): `optimizer.state[p]` maps names
to torch tensors that are the live state, as in torch.optim. Here each stored part
of the transformation's state is one flat torch buffer per (field, dtype), and the
tensors in `optimizer.state[p]` are views of their parameter's slice of it. A
whole buffer crosses into the compiled step with one zero-copy DLPack import.

The step's new values come back in one of two ways (`StateStore.write`):

* copied into the buffer (one pass over it, read and write);
* swapped: on CPU, for buffers of large views, the buffer becomes the memory XLA
  wrote the new values into, and every view in `optimizer.state` is re-pointed
  there (`Tensor.set_`: the same tensor objects, now holding the new values). The
  old memory, released by torch, is donated to the next step for its outputs, so
  XLA writes into memory that is already paged in and nothing is copied. XLA can
  never write into memory torch allocated (DESIGN.md, "Facts"); it can reuse its
  own once torch lets go of it. A re-point costs ~2 us per view, a copy ~0.3 ns per
  element: swapping pays from a few thousand elements per view.

A transformation's state (see `_state` and `_flat`) has three kinds of parts:

* per-parameter fields (Adam's `exp_avg`, torch's `step`): stored, each parameter
  sees its slice (`exp_avg`) or its element (`step`, a 0-d view of a vector);
* fields the optimizer does not export (the drop-ins' "torch's state has X"
  flags): not stored; a parameter with state has them set (`derived`);
* global fields (optax's `count`, a PRNG key): stored once per parameter, so they
  travel with every parameter's state through `state_dict()`, ZeRO and DCP; a
  step reads the value of the group's first parameter that has state, and writes
  the new value to all of them.

`StateLayout` describes the buffers and is hashable (it keys compiled programs);
`unpack` and `pack` run inside the compiled step; `StateStore` holds the torch
buffers and keeps `optimizer.state` in sync with them.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
import torch

from . import _dtensor, _flat
from ._buffers import Layout
from ._state import State, legacy_names, param_tuple_test, split_fields

# Kinds of stored parts.
FLAT = "flat"  # flat form, a field's whole {dtype: leaf} leaf: slices per parameter
SCALARS = "scalars"  # flat form, per-parameter scalars: one element per parameter
PACKED = "packed"  # per-parameter form: each parameter's array at an offset
GLOBAL = "global"  # one copy of a global leaf per parameter


@dataclasses.dataclass(frozen=True)
class Part:
  """One torch buffer: what it holds and where each parameter's view is."""

  field: str  # the field's name (its path in the state); the key in optimizer.state[p]
  dtype: str  # the buffer's dtype name ("float32", "uint32" for PRNG key data)
  kind: str  # FLAT, SCALARS, PACKED or GLOBAL
  size: int  # elements in the buffer
  # Per parameter of the group: (offset, shape) of its view, or None (no such state).
  views: tuple[Optional[tuple[int, tuple[int, ...]]], ...]
  leaf_dtype: str = ""  # GLOBAL: dtype name of the leaf; "key<impl>" for PRNG keys
  source_dtype: str = ""  # FLAT/SCALARS: which dtype's node of the field


@dataclasses.dataclass(frozen=True)
class StateLayout:
  """The stored parts of a group's state, and its fields that are derived."""

  parts: tuple[Part, ...]
  derived: tuple[str, ...]  # fields not exported: recomputed from "has state"
  flat: bool  # the transformation runs in flat form (see _flat)
  num_params: int
  legacy: tuple[tuple[str, str], ...] = ()  # (index path, name): older checkpoints' names (see _state)

  def __hash__(self) -> int:
    try:
      return self.__dict__["_hash"]
    except KeyError:
      value = self.__dict__["_hash"] = hash((self.parts, self.derived, self.flat, self.num_params))
      return value

  def renamed(self, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A saved state entry with older checkpoints' index-path names (`0.mu`) renamed as today's."""
    legacy = dict(self.legacy)
    names = {part.field for part in self.parts}
    return {legacy.get(k, k) if k not in names else k: v for k, v in entry.items()}

  def names(self, index: int) -> list[str]:
    """The state keys parameter `index` has once it has state."""
    return [part.field for part in self.parts if part.views[index] is not None]


def _dtype_name(dtype) -> str:
  return str(jnp.dtype(dtype))


def _is_key(x) -> bool:
  return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _key_tag(x) -> str:
  return "key<" + str(jax.random.key_impl(x)) + ">"


def _key_impl(tag: str):
  return tag[len("key<"):-1]


def _stored_value(leaf):
  """A leaf as it is stored in torch: PRNG keys as their key data."""
  return jax.random.key_data(leaf) if _is_key(leaf) else leaf


def split(state: State, layout: Layout, flat_scalars, flat: bool):
  """`(fields, global_, rebuild)` of a state in either form.

  Flat form: `fields[name]` is a `{dtype: leaf}` node; per-parameter form: a tuple
  over the parameters.
  """
  if flat:
    return _flat.split_state(state, layout.dtypes)
  return split_fields(state, len(layout.slots))


def state_layout(fresh: State, layout: Layout, flat_scalars, flat: bool,
                 exported: Callable[[str], bool]) -> StateLayout:
  """The layout of the torch buffers for a state structured like `fresh`."""
  fields, global_, _ = split(fresh, layout, flat_scalars, flat)
  n = len(layout.slots)
  parts, derived = [], []
  for name, node in fields.items():
    if not exported(name):
      derived.append(name)
      continue
    if flat:
      for dtype, leaf in node.items():
        if leaf is None:
          continue
        members = layout.members(dtype)
        views = [None] * n
        if (name, dtype) in flat_scalars:
          for k, i in enumerate(members):
            views[i] = (k, ())
          parts.append(Part(name, _dtype_name(leaf.dtype), SCALARS, len(members), tuple(views), source_dtype=dtype))
        else:
          for i in members:
            slot = layout.slots[i]
            views[i] = (slot.offset, slot.shape)
          parts.append(Part(name, _dtype_name(leaf.dtype), FLAT, int(leaf.size), tuple(views),
                            source_dtype=dtype))
    else:
      by_dtype: dict[str, list] = {}
      for i, entry in enumerate(node):
        if entry is not None:
          by_dtype.setdefault(_dtype_name(entry.dtype), []).append(i)
      for dtype, indices in by_dtype.items():
        views, offset = [None] * n, 0
        for i in indices:
          views[i] = (offset, tuple(node[i].shape))
          offset += int(np.prod(node[i].shape, dtype=np.int64))
        parts.append(Part(name, dtype, PACKED, offset, tuple(views)))
  for name, leaf in global_.items():
    if not exported(name):
      raise TypeError(f"state field {name!r} is global and cannot be derived")
    stored = _stored_value(leaf)
    size = int(np.prod(stored.shape, dtype=np.int64))
    views = tuple((i * size, tuple(stored.shape)) for i in range(n))
    tag = _key_tag(leaf) if _is_key(leaf) else _dtype_name(leaf.dtype)
    parts.append(Part(name, _dtype_name(stored.dtype), GLOBAL, n * size, views, leaf_dtype=tag))
  if flat:
    is_field = lambda node: isinstance(node, dict) and set(node) == set(layout.dtypes)
  else:
    is_field = param_tuple_test(n)
  legacy = tuple(sorted(legacy_names(fresh, is_field).items()))
  return StateLayout(tuple(parts), tuple(derived), flat, n, legacy)


# ---- inside the compiled step ------------------------------------------------------


def _derived_value(fresh):
  """What a derived field holds once its parameter has state."""
  if fresh.dtype == jnp.bool_:
    return jnp.ones_like(fresh)
  raise TypeError(f"cannot derive a state field of dtype {fresh.dtype}")


def unpack(slayout: StateLayout, layout: Layout, flat_scalars, buffers: Mapping[str, jax.Array],
           fresh: State, has_state: Optional[jax.Array], segments) -> State:
  """The transformation's state from the stored buffers.

  `has_state` is None when every parameter has state (the common case); otherwise
  parameters without state start from `fresh` (the transformation's init), and
  `segments` (flat form) spreads per-parameter flags over elements.
  """
  fields, global_, rebuild = split(fresh, layout, flat_scalars, slayout.flat)
  fields = {name: (dict(node) if slayout.flat else list(node)) for name, node in fields.items()}
  global_ = dict(global_)
  n = slayout.num_params

  def where_state(i_or_mask, stored, fresh_value):
    if has_state is None:
      return stored
    return jnp.where(i_or_mask, stored, fresh_value)

  for part, key in zip(slayout.parts, part_keys(slayout)):
    buffer = buffers[key]
    if part.kind == GLOBAL:
      stored = buffer.reshape((n,) + part.views[0][1])
      fresh_value = global_[part.field]
      if has_state is None:
        value = stored[0]
      else:
        value = stored[jnp.argmax(has_state)]
      if part.leaf_dtype.startswith("key<"):
        value = jax.random.wrap_key_data(value, impl=_key_impl(part.leaf_dtype))
        if has_state is not None:
          value = jax.lax.cond(jnp.any(has_state), lambda: value, lambda: fresh_value)
      elif has_state is not None:
        value = jnp.where(jnp.any(has_state), value, fresh_value)
      global_[part.field] = value.astype(fresh_value.dtype) if not _is_key(value) else value
    elif part.kind in (FLAT, SCALARS):
      d = part.source_dtype
      fresh_leaf = fields[part.field][d]
      if has_state is None:
        value = buffer
      else:
        mask = has_state[np.asarray(layout.members(d))]
        if part.kind == FLAT:
          mask = mask[segments[d]]
        value = jnp.where(mask, buffer, fresh_leaf)
      fields[part.field][d] = value.reshape(fresh_leaf.shape)
    else:  # PACKED
      for i, view in enumerate(part.views):
        if view is None:
          continue
        offset, shape = view
        size = int(np.prod(shape, dtype=np.int64))
        stored = jax.lax.slice_in_dim(buffer, offset, offset + size).reshape(shape)
        fields[part.field][i] = where_state(has_state[i] if has_state is not None else None, stored,
                                            fields[part.field][i])
  for name in slayout.derived:
    node = fields[name]
    if slayout.flat:
      for d, leaf in node.items():
        if leaf is None:
          continue
        if has_state is None:
          node[d] = _derived_value(leaf)
        else:
          mask = has_state[np.asarray(layout.members(d))]
          if leaf.ndim == 1 and leaf.shape[0] != mask.shape[0]:
            mask = mask[segments[d]]
          node[d] = jnp.where(mask.reshape(leaf.shape) if leaf.ndim else jnp.all(mask), _derived_value(leaf), leaf)
    else:
      for i, leaf in enumerate(node):
        if leaf is not None:
          node[i] = where_state(has_state[i] if has_state is not None else None, _derived_value(leaf), leaf)
  if not slayout.flat:
    fields = {name: tuple(node) for name, node in fields.items()}
  return rebuild(fields, global_)


def pack(slayout: StateLayout, layout: Layout, flat_scalars, state: State) -> dict[str, jax.Array]:
  """The stored buffers of a state (inverse of `unpack`)."""
  fields, global_, _ = split(state, layout, flat_scalars, slayout.flat)
  n = slayout.num_params
  out = {}
  for part, key in zip(slayout.parts, part_keys(slayout)):
    if part.kind == GLOBAL:
      value = _stored_value(global_[part.field])
      out[key] = jnp.broadcast_to(value.astype(part.dtype), (n,) + value.shape).reshape(-1)
    elif part.kind in (FLAT, SCALARS):
      out[key] = fields[part.field][part.source_dtype].astype(part.dtype).reshape(-1)
    else:
      pieces = [fields[part.field][i].astype(part.dtype).reshape(-1)
                for i, view in enumerate(part.views) if view is not None]
      out[key] = jnp.concatenate(pieces) if len(pieces) > 1 else pieces[0]
  return out


def part_keys(slayout: StateLayout) -> list[str]:
  return [f"{part.field}|{part.dtype}|{part.kind}" for part in slayout.parts]


# ---- on the host: torch buffers and optimizer.state ----------------------------------


def _torch_dtype(name: str) -> torch.dtype:
  return getattr(torch, name)


SWAP_MIN_ELEMENTS_PER_VIEW = 1 << 16  # below it, copying the new values costs less than re-pointing views
_SWAPPABLE_DTYPES = ("float32", "float16", "bfloat16", "complex64")  # (64-bit ones need JAX's x64 mode)
# How many tensors share a storage. Private to torch, so looked up once: without it nothing is swapped.
_storage_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _view_count(part: Part) -> int:
  return sum(view is not None for view in part.views)


def _swaps(part: Part, device: torch.device, sharded: bool) -> bool:
  """Whether a buffer takes the step's output memory instead of a copy of it (see the module doc).

  Only on CPU: on CUDA the copy keeps torch's stream ordering simple. Not for DTensor state,
  whose views are wrapped in DTensors.
  """
  views = _view_count(part)
  return (_storage_use_count is not None and device.type == "cpu" and not sharded and part.kind in (FLAT, PACKED)
          and part.dtype in _SWAPPABLE_DTYPES and views and part.size >= SWAP_MIN_ELEMENTS_PER_VIEW * views)


class StateStore:
  """A group's state buffers, their views, and their JAX arrays."""

  def __init__(self, slayout: StateLayout, device: torch.device, params=()):
    self.layout = slayout
    self._parts = dict(zip(part_keys(slayout), slayout.parts))  # key -> Part
    self.buffers = {
        key: torch.zeros(part.size, dtype=_torch_dtype(part.dtype), device=device)
        for key, part in self._parts.items()
    }
    self._params = list(params)
    sharded = any(map(_dtensor.is_dtensor, self._params))
    self.swapped = frozenset(key for key, part in self._parts.items() if _swaps(part, device, sharded))
    self._view_counts = {key: _view_count(part) for key, part in self._parts.items()}
    # views[i]: parameter i's {name: view}; the tensors optimizer.state[p] holds
    # (for a DTensor parameter, its tensor-shaped state as DTensors over the views).
    self.views = [self._views_of(i) for i in range(slayout.num_params)]
    self._arrays = None  # key -> the buffer as a JAX array (an import, or XLA's memory once swapped)
    self._owned = set()  # swapped keys whose buffer is XLA's memory now

  def _views_of(self, index: int) -> dict[str, torch.Tensor]:
    views = {}
    for key, part in self._parts.items():
      view = part.views[index]
      if view is None:
        continue
      offset, shape = view
      if key in self.swapped:
        # Not a view in autograd's sense: one whose `_base` is the buffer keeps the buffer's
        # memory alive after a re-point, and XLA could not reuse it.
        view = _repointed(torch.empty(0, dtype=self.buffers[key].dtype), self.buffers[key], offset, shape)
        views[part.field] = view
        continue
      size = int(np.prod(shape, dtype=np.int64))
      view = self.buffers[key][offset:offset + size].view(shape)
      if part.kind in (FLAT, PACKED) and index < len(self._params):
        param = self._params[index]
        if tuple(_dtensor.local(param).shape) == tuple(shape):
          view = _dtensor.state_view(view, param)
      views[part.field] = view
    return views

  def to_jax(self) -> dict[str, jax.Array]:
    """The buffers as JAX arrays, without copies.

    On CPU a buffer is imported once (its memory only moves when it is swapped, and
    then it is the JAX array XLA wrote). On CUDA they are imported again at every step:
    the DLPack exchange makes JAX's stream wait for torch's current stream, which wrote
    them (a loaded state, an edit).
    """
    if any(buffer.is_cuda for buffer in self.buffers.values()):
      return {key: jnp.from_dlpack(buffer) for key, buffer in self.buffers.items()}
    if self._arrays is None:
      self._arrays = {key: jnp.from_dlpack(buffer) for key, buffer in self.buffers.items()}
    return self._arrays

  def uniform_scalars(self) -> bool:
    """Whether each per-parameter scalar buffer holds one value (flat common case)."""
    for key, part in self._parts.items():
      if part.kind == SCALARS:
        buffer = self.buffers[key]
        if buffer.numel() and not bool((buffer == buffer[0]).all()):
          return False
    return True

  def write(self, new: Mapping[str, torch.Tensor], arrays: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Makes the new values the state; returns memory the next step's outputs may reuse.

    `new` are the torch tensors of the JAX `arrays` (converted by the caller before
    anything is written). A swapped buffer becomes `new[key]`, its views are
    re-pointed there, and its old memory is returned (None the first time); any
    other buffer copies the new values in, and `arrays[key]`'s memory is returned.
    So does a swapped buffer while a tensor other than its views shares its memory
    (a view the user took of a state tensor): that tensor must see the new values,
    as it would in torch.optim.
    """
    spare, arrays_now = {}, dict(self.to_jax()) if self.swapped else None
    with torch.no_grad():
      for key, buffer in self.buffers.items():
        if key not in self.swapped or not self._only_views_share(key):
          buffer.copy_(new[key])
          spare[key] = arrays[key]
          continue
        # Until a buffer was first swapped its memory is torch's, which XLA cannot reuse: none to
        # hand back (None), and the next step allocates it once torch's buffer is gone.
        spare[key] = arrays_now[key] if key in self._owned else None
        self.buffers[key] = new[key]
        arrays_now[key] = arrays[key]
        self._owned.add(key)
        self._repoint(key)
    if self.swapped:
      self._arrays = arrays_now
    return spare

  def _only_views_share(self, key: str) -> bool:
    """Whether the buffer's memory is held only by the buffer and its views in optimizer.state."""
    storage = self.buffers[key].untyped_storage()
    imported = key not in self._owned  # torch's memory: its JAX import holds a tensor of it
    return _storage_use_count(storage._cdata) <= 2 + imported + self._view_counts[key]  # + `storage` itself

  def _repoint(self, key: str) -> None:
    part = self._parts[key]
    for views, view in zip(self.views, part.views):
      if view is not None:
        _repointed(views[part.field], self.buffers[key], *view)


def _repointed(tensor: torch.Tensor, buffer: torch.Tensor, offset: int, shape) -> torch.Tensor:
  """`tensor`, made to hold `buffer[offset:offset + size]` shaped as `shape`, contiguous (in place)."""
  return tensor.set_(buffer.untyped_storage(), buffer.storage_offset() + offset, shape)  # no strides: contiguous


def is_live(entry: Mapping[str, Any], views: Mapping[str, torch.Tensor]) -> bool:
  """Whether a parameter's state dict holds exactly this store's views."""
  if len(entry) != len(views):
    return False
  for name, view in views.items():
    if entry.get(name) is not view:
      return False
  return True


def check_entry(label, entry: Mapping[str, Any], views: Mapping[str, torch.Tensor]) -> None:
  """Raises ValueError unless parameter `label`'s state `entry` can be copied into `views`.

  Same keys and shapes; values are tensors of a real or complex dtype as the view's
  (another floating dtype is cast, as torch casts on load), or numbers for 0-d state.
  """
  if set(entry) != set(views):
    raise ValueError(f"state of parameter {label} has keys {sorted(entry)}, expected {sorted(views)}")
  for name, view in views.items():
    value, where = entry[name], f"state[{label}]['{name}']"
    if isinstance(value, torch.Tensor):
      if value.layout != torch.strided:
        raise ValueError(f"{where}: expected a dense tensor, got layout {value.layout}")
      if tuple(value.shape) != tuple(view.shape):
        raise ValueError(f"{where}: expected shape {tuple(view.shape)}, got {tuple(value.shape)}")
      if value.is_complex() and not view.is_complex():
        raise ValueError(f"{where}: expected a real tensor, got {value.dtype}")
    elif not (isinstance(value, (int, float, bool, np.number)) and view.ndim == 0):
      raise ValueError(f"{where}: expected a tensor, got {type(value).__name__}")


def copy_entry(entry: Mapping[str, Any], views: Mapping[str, torch.Tensor]) -> None:
  """Copies a (checked) state entry's values into the store's views."""
  with torch.no_grad():
    for name, view in views.items():
      _dtensor.copy_into(view, entry[name])
