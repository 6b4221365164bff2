"""Per-parameter views of a transformation's state.

A group's parameters reach the transformation as a tuple `(p0, p1, ...)`, so
every part of the state that tracks parameters (Adam's `mu`, SGD's momentum, a
torch-exact `exp_avg`) is a tuple with the same structure: its i-th entry belongs
to parameter i, and is None where that parameter has no such state (torch's
Adafactor keeps `row_var` only for matrices). Those parts are *per-parameter
fields*; every other leaf (optax's global `count`, a PRNG key) is a *global*
field. Fields are named by their path in the state, readably (`readable_names`):
`exp_avg` for a torch-exact state, `scale_by_adam.mu` for the `mu` of the
`ScaleByAdamState` inside a chain (whose index path is `1.0.mu`, the name earlier
versions used; `legacy` in `split_nodes` keeps it for loading their checkpoints).
"""

import collections
import re
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from functional_optim._checkpoint import path_name

State = Any


def _is_none(node) -> bool:
  return node is None


def param_tuple_test(num_params: int):
  param_treedef = jax.tree.structure(tuple(range(num_params)))

  def is_param_tuple(node) -> bool:
    return (
        isinstance(node, tuple)
        and any(entry is not None for entry in node)
        and jax.tree.structure(node, is_leaf=_is_none) == param_treedef
    )

  return is_param_tuple


def _is_named_tuple(node) -> bool:
  return isinstance(node, tuple) and hasattr(type(node), "_fields")


def _state_kind(node) -> str:
  """`ScaleByAdamState` -> `scale_by_adam`: what a transformation's state is called."""
  name = type(node).__name__.removesuffix("State") or type(node).__name__
  return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _path_components(state: State, path) -> tuple[str, str]:
  """`(short, full)` readable names of a path: chain positions by the kind of state they hold.

  short: `scale_by_adam.mu` (positions of nested chains dropped); full keeps every
  position too (`1.0:scale_by_adam.mu`), for when short names collide.
  """
  short, full, node = [], [], state
  for key in path:
    if isinstance(key, jax.tree_util.SequenceKey):
      node = node[key.idx] if isinstance(node, (tuple, list)) else None
      if _is_named_tuple(node):
        short.append(_state_kind(node))
        full.append(f"{key.idx}:{_state_kind(node)}")
      elif isinstance(node, (tuple, list)):  # a position in a chain
        full.append(str(key.idx))
      else:
        short.append(str(key.idx))
        full.append(str(key.idx))
      continue
    if isinstance(key, jax.tree_util.GetAttrKey):
      node = getattr(node, key.name, None)
      part = key.name
    elif isinstance(key, jax.tree_util.DictKey):
      node = node.get(key.key) if isinstance(node, Mapping) else None
      part = str(key.key)
    else:
      node, part = None, path_name((key,))
    short.append(part)
    full.append(part)
  return ".".join(short), ".".join(full)


def readable_names(state: State, paths) -> list[str]:
  """Names of the nodes at `paths` of `state`: readable, unique and stable across runs.

  `scale_by_adam.mu`, `inner_state.scale_by_adam.count`; where two short names
  collide (a chain of two Adams), both keep their positions (`0:scale_by_adam.mu`,
  `1:scale_by_adam.mu`); if even those collide, the index paths (`1.0.mu`).
  """
  pairs = [_path_components(state, path) for path in paths]
  counts = collections.Counter(short for short, _ in pairs)
  names = [short if counts[short] == 1 and short else full for short, full in pairs]
  if len(set(names)) != len(names):
    return [path_name(path) for path in paths]
  return names


def split_nodes(state: State, is_field: Callable[[Any], bool], make_field: Callable[[Any], Any]):
  """Returns `(fields, global_, rebuild)`: the state's nodes that pass `is_field`, and its other leaves.

  Both map names (`readable_names`: `scale_by_adam.mu`) to nodes; `rebuild(fields,
  global_)` puts them back into a state of the original structure, each field
  through `make_field` (e.g. `tuple`).
  """
  nodes_with_paths, treedef = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_field)
  names = readable_names(state, [path for path, _ in nodes_with_paths])
  kinds = [is_field(node) for _, node in nodes_with_paths]
  fields = {n: node for n, k, (_, node) in zip(names, kinds, nodes_with_paths) if k}
  global_ = {n: node for n, k, (_, node) in zip(names, kinds, nodes_with_paths) if not k}

  def rebuild(new_fields: Mapping[str, Any], new_global: Mapping[str, Any]) -> State:
    nodes = [make_field(new_fields[n]) if k else new_global[n] for n, k in zip(names, kinds)]
    return jax.tree.unflatten(treedef, nodes)

  return fields, global_, rebuild


def legacy_names(state: State, is_field: Callable[[Any], bool]) -> dict[str, str]:
  """`{index path: readable name}` of the state's fields and leaves that are named differently.

  The bridge named state by index paths (`1.0.mu`) before `readable_names`; this maps
  the names in those checkpoints to today's.
  """
  paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(state, is_leaf=is_field)[0]]
  return {path_name(p): n for p, n in zip(paths, readable_names(state, paths)) if path_name(p) != n}


def split_fields(state: State, num_params: int):
  """Returns `(per_param, global_, rebuild)`.

  `per_param` maps a field name to its tuple of per-parameter arrays; `global_` maps
  a field name to an array; `rebuild(per_param, global_)` puts fields back into a
  state of the original structure. A per-parameter entry that is None for every
  parameter flattens to nothing.
  """
  return split_nodes(state, param_tuple_test(num_params), tuple)


def keep_where_no_grad(new_state: State, old_state: State, has_grad: jax.Array, num_params: int) -> State:
  """Per-parameter fields of parameters without a gradient keep their old values."""
  new_per_param, new_global, rebuild = split_fields(new_state, num_params)
  old_per_param, _, _ = split_fields(old_state, num_params)
  kept = {
      name: tuple(
          None if new is None else jnp.where(has_grad[i], new, old)
          for i, (new, old) in enumerate(zip(values, old_per_param[name]))
      )
      for name, values in new_per_param.items()
  }
  return rebuild(kept, new_global)
