"""DTensor parameters (FSDP2's `fully_shard`, tensor parallelism): the one layer that knows meshes.

The compiled step sees local arrays only: each DTensor parameter is stepped
through its local shard (`to_local()`), whose storage receives the new values in
place, and its state lives in the optimizer's flat buffers like any other. What
`optimizer.state` holds for it are DTensors over those buffers, with the
parameter's mesh and placements, as torch.optim's state is, so
torch.distributed.checkpoint saves and loads them sharded.

Stepping shards is exact only for a transformation in which every element's new
value depends on that element alone (plus scalars). One that reduces over a whole
tensor (a global-norm clip, LAMB's trust ratio, Adafactor's factored moments,
Muon's Newton-Schulz iteration) would give each shard its own answer, so
`check_shardwise` traces the transformation once and refuses it with a
`ValueError` naming what reduces.

A DTensor cannot exist before `torch.distributed.tensor` is imported, so the
bridge never imports it itself.
"""

import sys
from typing import Any, Optional

import jax
import jax.extend.core
import torch

# Primitives whose output at one position depends on other positions though shapes are kept.
_ACROSS_POSITIONS = frozenset({
    "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp", "sort", "rev", "scan", "argsort",
    "top_k", "fft", "conv_general_dilated", "reduce_window_sum", "reduce_window_max", "reduce_window_min",
})
# Primitives whose output depends on the position itself (a shard would see its own positions).
_POSITIONAL = frozenset({"iota", "random_bits", "threefry2x32", "rng_bit_generator", "rng_uniform"})


def dtensor_class() -> Optional[type]:
  module = sys.modules.get("torch.distributed.tensor")
  return getattr(module, "DTensor", None) if module is not None else None


def is_dtensor(t: Any) -> bool:
  cls = dtensor_class()
  return cls is not None and isinstance(t, cls)


def local(t: torch.Tensor) -> torch.Tensor:
  """The memory the bridge reads and writes: a DTensor's local shard, any other tensor itself."""
  if not is_dtensor(t):
    return t
  with torch.no_grad():
    return t.to_local()


def check_parameter(p: torch.Tensor) -> None:
  """Raises `TypeError` unless DTensor `p` is sharded or replicated over a plain local tensor."""
  from torch.distributed.tensor import Replicate, Shard

  for placement in p.placements:
    if not isinstance(placement, (Shard, Replicate)):
      raise TypeError(
          f"torch_bridge steps DTensor parameters that are sharded or replicated, not {placement} "
          f"(placements {p.placements})"
      )
  shard = local(p)
  if type(shard) is not torch.Tensor:
    raise TypeError(f"torch_bridge cannot step a DTensor whose local tensor is a {type(shard).__name__}")


def check_gradient(p: torch.Tensor, g: torch.Tensor) -> None:
  """Raises unless `g` is a plain tensor, or for a DTensor parameter a DTensor laid out like it."""
  if is_dtensor(p) != is_dtensor(g):
    raise ValueError(
        f"gradient does not match its parameter: grad is a {type(g).__name__}, param a {type(p).__name__}"
    )
  if is_dtensor(p) and (g.device_mesh != p.device_mesh or tuple(g.placements) != tuple(p.placements)):
    raise ValueError(
        f"gradient does not match its DTensor parameter: grad placements {g.placements} on {g.device_mesh}, "
        f"param placements {p.placements} on {p.device_mesh}"
    )
  kind = type(local(g).detach())
  if kind is not torch.Tensor:
    raise TypeError(f"torch_bridge cannot read a gradient of type {kind.__name__} (only plain tensors and DTensors)")


def state_view(view: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
  """A state view as `optimizer.state` holds it: a DTensor like `param` over `view` for a DTensor param."""
  if not is_dtensor(param):
    return view
  from torch.distributed.tensor import DTensor

  with torch.no_grad():
    return DTensor.from_local(view, param.device_mesh, param.placements, run_check=False,
                              shape=param.shape, stride=param.stride())


def copy_into(view: torch.Tensor, value: Any) -> None:
  """Copies a state value into a store view; a DTensor view takes its shard of a full tensor."""
  if isinstance(value, torch.Tensor):
    if is_dtensor(view):
      if is_dtensor(value):
        if value.device_mesh != view.device_mesh or tuple(value.placements) != tuple(view.placements):
          value = value.redistribute(view.device_mesh, view.placements)
        shard = local(value)
      else:  # a full tensor (a consolidated checkpoint): this rank's part of it, without communication
        from torch.distributed.tensor import distribute_tensor

        full = value.detach().to(device=local(view).device, dtype=view.dtype)
        shard = local(distribute_tensor(full, view.device_mesh, view.placements, src_data_rank=None))
      local(view).copy_(shard)
    else:
      view.copy_(value.full_tensor() if is_dtensor(value) else value)
  else:
    local(view).fill_(value)


def check_shardwise(tx, params, label: str) -> None:
  """Raises `ValueError` if `tx` mixes positions of a tensor, so that shards would step differently.

  `params` are abstract local parameters (`jax.ShapeDtypeStruct`s, a tuple or a
  flat `{dtype: array}` dict): `tx.init` and `tx.update` are traced on them, and
  any operation that reduces over a parameter-shaped array, changes its shape,
  or depends on positions in it is named in the error.
  """
  shapes = {tuple(leaf.shape) for leaf in jax.tree.leaves(params) if leaf.ndim}
  grads = params
  try:
    closed = jax.make_jaxpr(lambda p, g: tx.update(g, tx.init(p), p))(params, grads)
  except Exception as error:  # e.g. a transformation that needs extra arguments
    raise ValueError(f"{label} cannot step DTensor parameters: it could not be traced on their shards "
                     f"({type(error).__name__}: {error})") from error
  offending = _mixing_equation(closed.jaxpr, shapes)
  if offending is not None:
    raise ValueError(
        f"{label} cannot step DTensor parameters (e.g. FSDP2's fully_shard) shard by shard: it mixes "
        f"the positions of a tensor ({offending}), so each shard would get its own answer. The bridge "
        "steps DTensors with transformations that treat each element on its own (Adam, AdamW, SGD, Lion, "
        "...); use torch.optim for this one, or clip with torch.nn.utils.clip_grad_norm_ before step()"
    )


def _mixing_equation(jaxpr, shapes) -> Optional[str]:
  """The first equation that mixes positions of a parameter-shaped array, described, or None."""
  for eqn in jaxpr.eqns:
    for sub in _subjaxprs(eqn.params):
      found = _mixing_equation(sub, shapes)
      if found is not None:
        return found
    ins = [tuple(v.aval.shape) for v in eqn.invars if hasattr(v.aval, "shape")]
    outs = [tuple(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape")]
    param_shaped_in = [s for s in ins if s in shapes]
    name = eqn.primitive.name
    if name in _POSITIONAL and any(s in shapes for s in outs):
      return f"{name} producing a {outs[0]} array"
    if not param_shaped_in:
      continue
    if name in _ACROSS_POSITIONS:
      return f"{name} over a {param_shaped_in[0]} array"
    if not _subjaxprs(eqn.params) and any(s != param_shaped_in[0] for s in outs):
      return f"{name} of a {param_shaped_in[0]} array into {outs}"
  return None


def _subjaxprs(params) -> list:
  found = []
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(item, jax.extend.core.ClosedJaxpr):
        found.append(item.jaxpr)
      elif isinstance(item, jax.extend.core.Jaxpr):
        found.append(item)
  return found
