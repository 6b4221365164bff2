"""Elementwise transformations run on one flat array per dtype.

A transformation that treats every element on its own, apart from reductions over
all of them (Adam, SGD, a global-norm clip, every elementwise torch.optim
algorithm), gives the same numbers whether it sees a group's parameters as a
tuple of arrays or as their concatenation. The concatenation is much cheaper: one
fused loop instead of one per parameter, and a compile time that does not grow
with the number of parameters. In this *flat* form the transformation's params
tree is `{dtype_name: flat array}` and its state follows.

Per-parameter scalars (torch's `step`, NAdam's `mu_product`, ASGD's `eta`) are
0-d in the transformation's state; the flat state keeps them as a vector with one
entry per parameter of the dtype, so parameters may step at different counts
(a missing gradient skips a parameter, a checkpoint may hold different steps).
There are two compiled programs per structure, both built at the first step:

* the common case, every parameter has a gradient and the scalars agree: the
  transformation runs on the flat arrays with the shared scalar; and
* the general case: each scalar is spread over its parameter's elements (the
  transformation broadcasts it elementwise) through an array of segment ids,
  and elements of parameters without a gradient keep their values and state.
"""

from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np
import torch

import functional_optim as fo

from ._buffers import Layout
from ._state import State, split_nodes

# (field name, dtype name) of every per-parameter scalar in a flat state.
ScalarFields = frozenset[tuple[str, str]]


def supports(layout: Layout) -> bool:
  """Whether a group can run flat: each parameter must own at least one element, and be real.

  (torch-exact kernels see a complex parameter as its real view, with a trailing
  axis of 2, which per-parameter scalars spread over elements do not broadcast to.)
  """
  return bool(layout.slots) and all(slot.size > 0 and "complex" not in slot.dtype for slot in layout.slots)


def split_state(state: State, dtypes: tuple[str, ...]):
  """`(fields, global_, rebuild)`: `fields[name]` is a `{dtype: leaf}` node of the state."""
  keys = set(dtypes)
  return split_nodes(state, lambda node: isinstance(node, dict) and set(node) == keys, dict)


def init_state(tx: fo.GradientTransformation, flat_params: Mapping[str, jax.Array], layout: Layout):
  """`(state, scalar_fields)`: the flat state, per-parameter scalars as vectors."""
  state = tx.init(dict(flat_params))
  fields, global_, rebuild = split_state(state, layout.dtypes)
  scalars = set()
  for name, node in fields.items():
    for dtype, leaf in node.items():
      if leaf is not None and jnp.ndim(leaf) == 0:
        scalars.add((name, dtype))
        node[dtype] = jnp.full((len(layout.members(dtype)),), leaf)
  return rebuild(fields, global_), frozenset(scalars)


def segment_ids(layout: Layout) -> dict[str, jax.Array]:
  """Per dtype, the index (among that dtype's parameters) of each element's parameter."""
  ids = {}
  for dtype in layout.dtypes:
    sizes = [layout.slots[i].size for i in layout.members(dtype)]
    flat = torch.empty(sum(sizes), dtype=torch.int32)
    for index, piece in enumerate(torch.split(flat, sizes)):  # 5x faster than repeat_interleave at 23M values
      piece.fill_(index)
    ids[dtype] = jnp.from_dlpack(flat)
  return ids


def step(
    tx: fo.GradientTransformation,
    layout: Layout,
    scalars: ScalarFields,
    flat_params: Mapping[str, jax.Array],
    flat_grads: Mapping[str, jax.Array],
    flat_extras: Mapping[str, Mapping[str, jax.Array]],
    has_grad: jax.Array,
    state: State,
    segments: Optional[Mapping[str, jax.Array]],
) -> tuple[dict[str, jax.Array], State]:
  """Inside the compiled step: one group's new flat parameters and state.

  `segments` (from `segment_ids`) is None in the common case: every parameter has
  a gradient and per-parameter scalars are uniform. Otherwise it spreads each
  parameter's gradient flag and scalars over its elements.
  """
  dtypes = layout.dtypes
  members = {d: np.asarray(layout.members(d)) for d in dtypes}
  starts = {d: np.asarray([layout.slots[i].offset for i in members[d]]) for d in dtypes}
  fields, global_, rebuild = split_state(state, dtypes)
  extras = {name: dict(flat) for name, flat in flat_extras.items()}
  params = dict(flat_params)

  def run(grads, field_inputs):
    updates, new_state = tx.update(grads, rebuild(field_inputs, global_), params, **extras)
    new_fields, new_global, _ = split_state(new_state, dtypes)
    return fo.apply_updates(params, updates), new_fields, new_global

  def like_old(value, old):
    return jnp.asarray(value).astype(old.dtype)

  if segments is None:
    inputs = {
        name: {d: leaf[0] if (name, d) in scalars else leaf for d, leaf in node.items()}
        for name, node in fields.items()
    }
    new_params, new_fields, new_global = run(dict(flat_grads), inputs)
    out = {
        name: {
            d: None if leaf is None else
            (jnp.broadcast_to(like_old(new_fields[name][d], leaf), leaf.shape) if (name, d) in scalars
             else like_old(new_fields[name][d], leaf))
            for d, leaf in node.items()
        }
        for name, node in fields.items()
    }
    return new_params, rebuild(out, new_global)

  has = {d: has_grad[members[d]] for d in dtypes}
  mask = {d: has[d][segments[d]] for d in dtypes}
  grads = {d: jnp.where(mask[d], g, jnp.zeros_like(g)) for d, g in flat_grads.items()}
  inputs = {
      name: {d: leaf[segments[d]] if (name, d) in scalars else leaf for d, leaf in node.items()}
      for name, node in fields.items()
  }
  new_params, new_fields, new_global = run(grads, inputs)
  new_params = {d: jnp.where(mask[d], new_params[d], params[d]) for d in dtypes}
  out = {}
  for name, node in fields.items():
    out[name] = {}
    for d, old in node.items():
      if old is None:
        out[name][d] = None
      elif (name, d) in scalars:
        per_element = jnp.broadcast_to(like_old(new_fields[name][d], old), mask[d].shape)
        out[name][d] = jnp.where(has[d], per_element[starts[d]], old)
      else:
        out[name][d] = jnp.where(mask[d], like_old(new_fields[name][d], old), old)
  return new_params, rebuild(out, new_global)
