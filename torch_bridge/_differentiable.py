"""`differentiable=True`: the step recorded by torch's autograd, its gradients computed by JAX.

torch.optim's `differentiable=True` runs the step with grad enabled, so a
meta-objective can be differentiated through optimizer steps with respect to
earlier parameters, gradients, optimizer state and tensor hyperparameters (a
learned `lr`, `betas` as tensors). Here one param group's step is one
`torch.autograd.Function` (see `_autograd`): its forward is the transformation's
step compiled by JAX, its backward the VJP of that step, compiled once per
structure and cached like the forward.

What torch does in place, this does in place, with autograd recording it:
`param.copy_(new)` and, for state tensors the user put into `optimizer.state`,
`state.copy_(new)`. A parameter that is a leaf requiring grad cannot be written in
place, in torch or here (torch's error); meta-learning code steps non-leaf clones.
State that lives in the optimizer's own buffers is replaced by the recorded new
tensor (its buffer gets the value too, so the next ordinary step continues from it).

This path runs only when something in the step requires grad; otherwise the
ordinary compiled step computes the same numbers.
"""

import collections
import dataclasses
from typing import Optional

import jax
import numpy as np
import torch

from . import _autograd, _hyperparams, _store
from ._buffers import check_grad_matches, layout_of
from ._program import GroupProgram, _group_step

_LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."


def records(optimizer) -> bool:
  """Whether this step must be recorded by autograd: `differentiable=True` and an input requires grad."""
  if not optimizer.defaults.get("differentiable"):
    return False
  for group in optimizer.param_groups:
    if any(_requires_grad(v) for v in _hyperparam_tensors(group)):
      return True
    for p in group["params"]:
      if p.grad is None:
        continue
      if p.requires_grad or p.grad.requires_grad:
        return True
      entry = optimizer._entry(p)
      if entry and any(_requires_grad(v) for v in entry.values()):
        return True
  return False


def _requires_grad(value) -> bool:
  return isinstance(value, torch.Tensor) and value.requires_grad


def _hyperparam_tensors(group):
  for value in group.values():
    if isinstance(value, torch.Tensor):
      yield value
    elif isinstance(value, (tuple, list)):
      yield from (v for v in value if isinstance(v, torch.Tensor))


def step(optimizer) -> None:
  """One step of every group, recorded by autograd (a parameter listed twice steps twice)."""
  plans = []
  for group, rt in zip(optimizer.param_groups, optimizer._runtimes):
    for index in range(max(rt.multiplicity, default=1)):
      stepped = [p for p, m in zip(rt.params, rt.multiplicity) if p.grad is not None and m > index]
      if stepped:
        plans.append((group, rt, stepped))
  for group, _, stepped in plans:  # everything that can be refused, before anything is written
    for p in stepped:
      _check_param(p, optimizer)
  with torch.enable_grad():
    for group, rt, stepped in plans:
      _step_group(optimizer, group, rt, stepped)


def _check_param(p: torch.Tensor, optimizer) -> None:
  if p.grad.is_sparse:
    raise RuntimeError(f"{type(optimizer).__name__}(differentiable=True) does not support sparse gradients")
  check_grad_matches(p, p.grad)
  if p.is_leaf and p.requires_grad:
    raise RuntimeError(_LEAF_MESSAGE)


def _step_group(optimizer, group, rt, params: list) -> None:
  layout = layout_of(params)
  hyperparams = optimizer._transformation_hyperparams(group)
  static, traced_values = _hyperparams.split(hyperparams)
  slayout = _state_layout(optimizer, group, params, static, layout)
  entries = [optimizer._entry(p) or {} for p in params]
  has_state = [bool(e) for e in entries]
  slayout = _in_entry_dtypes(slayout, entries)
  index_of = {id(p): i for i, p in enumerate(rt.params)}
  store_views = [rt.store.views[index_of[id(p)]] for p in params]
  expected = _expected_views(slayout, params[0].device)
  for i, entry in enumerate(entries):
    if entry:
      _store.check_entry(f"{i} of its group", entry, expected[i])
      for name, value in entry.items():
        if store_views[i].get(name) is value:
          continue
        if isinstance(value, torch.Tensor) and value.is_leaf and value.requires_grad:
          raise RuntimeError(_LEAF_MESSAGE)

  hp_dtype = _hyperparam_dtype(params)
  device = params[0].device
  flat_params = {d: torch.cat([params[i].reshape(-1) for i in layout.members(d)]) for d in layout.dtypes}
  flat_grads = {d: torch.cat([params[i].grad.reshape(-1) for i in layout.members(d)]) for d in layout.dtypes}
  packed = {key: _packed_part(part, entries, device) for key, part in zip(_store.part_keys(slayout), slayout.parts)}
  traced = {name: _traced_tensor(hyperparams, name, value, hp_dtype, device) for name, value in traced_values.items()}

  inputs = (flat_params, flat_grads, packed, traced)
  leaves, treedef = jax.tree.flatten(inputs)
  spec = GroupProgram(layout, slayout, optimizer._make_transformation, static, None)
  state_mask = None if all(has_state) else tuple(has_state)
  program = _program(optimizer, spec, treedef, state_mask, tuple((t.shape, t.dtype) for t in leaves))
  outputs = _autograd.call(program, leaves)
  new_flat_params = dict(zip(layout.dtypes, outputs[:len(layout.dtypes)]))
  new_packed = dict(zip(_store.part_keys(slayout), outputs[len(layout.dtypes):]))

  for d in layout.dtypes:
    members = layout.members(d)
    pieces = torch.split(new_flat_params[d], [layout.slots[i].size for i in members])
    for i, piece in zip(members, pieces):
      params[i].copy_(piece.view(layout.slots[i].shape))
  for i, p in enumerate(params):
    new_values = {}
    for key, part in zip(_store.part_keys(slayout), slayout.parts):
      view = part.views[i]
      if view is not None:
        offset, shape = view
        new_values[part.field] = new_packed[key][offset:offset + int(np.prod(shape, dtype=np.int64))].view(shape)
    _write_entry(optimizer, p, entries[i], new_values, store_views[i])


def _write_entry(optimizer, p, entry: dict, new_values: dict, store_views: dict) -> None:
  """Puts a parameter's new state into `optimizer.state[p]`, in place where torch writes in place."""
  if not entry:
    optimizer.state[p] = dict(new_values)
    return
  for name, new in new_values.items():
    old = entry[name]
    if store_views.get(name) is old:
      with torch.no_grad():
        old.copy_(new)  # the optimizer's buffer keeps up with the value
      entry[name] = new
    elif isinstance(old, torch.Tensor):
      old.copy_(new)
    else:
      entry[name] = new


def _state_layout(optimizer, group, params, static, layout) -> _store.StateLayout:
  """The per-parameter state layout of the stepped parameters (cached by structure)."""
  key = ("layout", _algorithm(optimizer), static, layout)
  if key not in _CACHE:
    fresh, _ = optimizer._fresh_state(group, params, False)
    _remember(key, _store.state_layout(fresh, layout, frozenset(), False, optimizer._exported))
  return _CACHE[key]


def _in_entry_dtypes(slayout: _store.StateLayout, entries: list[dict]) -> _store.StateLayout:
  """`slayout` with each floating part as wide as the widest tensor the user put in for it.

  torch computes with the state tensors it is given (a float64 `step` or NAdam
  `mu_product`, as gradcheck passes); the bridge's own counters are float32.
  """
  parts = []
  for part in slayout.parts:
    dtype = getattr(torch, part.dtype)
    if dtype.is_floating_point:
      for entry, view in zip(entries, part.views):
        value = entry.get(part.field) if view is not None else None
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype.itemsize > dtype.itemsize:
          dtype = value.dtype
    parts.append(dataclasses.replace(part, dtype=str(dtype).removeprefix("torch.")))
  return dataclasses.replace(slayout, parts=tuple(parts))


def _expected_views(slayout: _store.StateLayout, device) -> list[dict[str, torch.Tensor]]:
  """Per parameter, `{name: meta tensor}` with each state field's shape and dtype (for check_entry)."""
  views = [{} for _ in range(slayout.num_params)]
  for part in slayout.parts:
    for i, view in enumerate(part.views):
      if view is not None:
        views[i][part.field] = torch.empty(view[1], dtype=getattr(torch, part.dtype), device="meta")
  return views


def _packed_part(part: _store.Part, entries: list[dict], device) -> torch.Tensor:
  """One stored part of the state as the compiled step takes it, built with recorded torch ops."""
  dtype = getattr(torch, part.dtype)
  pieces = []
  for entry, view in zip(entries, part.views):
    if view is None:
      continue
    offset, shape = view
    value = entry.get(part.field) if entry else None
    if value is None:  # no state yet: the step starts it from the transformation's init
      pieces.append(torch.zeros(int(np.prod(shape, dtype=np.int64)), dtype=dtype, device=device))
    elif isinstance(value, torch.Tensor):
      pieces.append(value.to(device=device, dtype=dtype).reshape(-1))
    else:
      pieces.append(torch.full((1,), value, dtype=dtype, device=device))
  return torch.cat(pieces)


def _hyperparam_dtype(params) -> torch.dtype:
  """Tensor hyperparameters enter the step in the widest real dtype of the parameters."""
  dtypes = [p.real.dtype if p.is_complex() else p.dtype for p in params]
  return max(dtypes, key=lambda d: torch.finfo(d).bits)


def _traced_tensor(hyperparams, name: str, value: float, dtype, device) -> torch.Tensor:
  """The traced hyperparameter `name` (`lr`, `betas[0]`): the group's tensor (recorded) or the number."""
  base, _, index = name.partition("[")
  tensor = hyperparams.get(base)
  if index:
    tensor = tensor[int(index[:-1])]
  if isinstance(tensor, torch.Tensor):
    return tensor.reshape(()).to(device=device, dtype=dtype).clone()  # a clone: the group's may change
  return torch.tensor(value, dtype=dtype, device=device)


def _program(optimizer, spec: GroupProgram, treedef, state_mask: Optional[tuple], shapes) -> _autograd.JaxProgram:
  """The group's step as a `JaxProgram` over the flat list of its inputs (cached by structure)."""
  key = ("program", _algorithm(optimizer), spec.layout, spec.state_layout, spec.static_hyperparams, treedef,
         state_mask, shapes)
  if key not in _CACHE:
    has_grad = np.ones(len(spec.layout.slots), dtype=np.bool_)
    has_state = None if state_mask is None else np.asarray(state_mask, dtype=np.bool_)

    def fn(*leaves):
      flat_params, flat_grads, packed, traced = jax.tree.unflatten(treedef, leaves)
      new_packed, new_flat = _group_step(spec, flat_params, flat_grads, {}, has_grad, has_state, packed,
                                         traced, None)
      return tuple(new_flat[d] for d in spec.layout.dtypes) + tuple(new_packed[k] for k in _store.part_keys(spec.state_layout))

    _remember(key, _autograd.JaxProgram(fn, any(dtype in (torch.float64, torch.complex128) for _, dtype in shapes)))
  return _CACHE[key]


# Programs and layouts by structure, shared by optimizers of the same algorithm: meta-learning
# builds a new inner optimizer per outer step, and each would otherwise compile its step again.
_CACHE: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_CACHE_SIZE = 256


def _algorithm(optimizer) -> tuple:
  """What decides an optimizer's transformation besides its hyperparameters (hashable)."""
  spec = optimizer._spec
  return (type(optimizer), _hyperparams._hashable(spec["transformation"]), spec["factory_args"],
          spec["state_dtype"])


def _remember(key, value) -> None:
  _CACHE[key] = value
  while len(_CACHE) > _CACHE_SIZE:
    _CACHE.popitem(last=False)

