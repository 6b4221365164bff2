"""Per-parameter views of a transformation's state.

A group's parameters reach the transformation as a tuple `(p0, p1, ...)`, so
every part of the state that tracks parameters (Adam's `mu`, SGD's momentum, a
torch-exact `exp_avg`) is a tuple with the same structure: its i-th entry belongs
to parameter i, and is None where that parameter has no such state (torch's
Adafactor keeps `row_var` only for matrices). Those parts are *per-parameter
fields*; every other leaf (optax's global `count`, a PRNG key) is a *global*
field. Fields are named by their path in the state: `exp_avg` for a torch-exact
state, `1.0.mu` inside a chain.
"""

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from functional_optim._checkpoint import path_name

State = Any


def _is_none(node) -> bool:
  return node is None


def _param_tuple_test(num_params: int):
  param_treedef = jax.tree.structure(tuple(range(num_params)))

  def is_param_tuple(node) -> bool:
    return (
        isinstance(node, tuple)
        and any(entry is not None for entry in node)
        and jax.tree.structure(node, is_leaf=_is_none) == param_treedef
    )

  return is_param_tuple


def split_nodes(state: State, is_field: Callable[[Any], bool], make_field: Callable[[Any], Any]):
  """Returns `(fields, global_, rebuild)`: the state's nodes that pass `is_field`, and its other leaves.

  Both map names (paths in the state, `1.0.mu`) to nodes; `rebuild(fields, global_)`
  puts them back into a state of the original structure, each field through
  `make_field` (e.g. `tuple`).
  """
  nodes_with_paths, treedef = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_field)
  names = [path_name(path) for path, _ in nodes_with_paths]
  kinds = [is_field(node) for _, node in nodes_with_paths]
  fields = {n: node for n, k, (_, node) in zip(names, kinds, nodes_with_paths) if k}
  global_ = {n: node for n, k, (_, node) in zip(names, kinds, nodes_with_paths) if not k}

  def rebuild(new_fields: Mapping[str, Any], new_global: Mapping[str, Any]) -> State:
    nodes = [make_field(new_fields[n]) if k else new_global[n] for n, k in zip(names, kinds)]
    return jax.tree.unflatten(treedef, nodes)

  return fields, global_, rebuild


def split_fields(state: State, num_params: int):
  """Returns `(per_param, global_, rebuild)`.

  `per_param` maps a field name to its tuple of per-parameter arrays; `global_` maps
  a field name to an array; `rebuild(per_param, global_)` puts fields back into a
  state of the original structure. A per-parameter entry that is None for every
  parameter flattens to nothing.
  """
  return split_nodes(state, _param_tuple_test(num_params), tuple)


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
