"""Finding, replacing and mapping values in optimizer states (optax's `tree_utils/_state_utils.py`).

Keys are dict keys, NamedTuple field names or NamedTuple class names. Paths name the
NamedTuple a field belongs to (`NamedTupleKey`), so equal field names in different
states of a chain can be told apart.
"""

import dataclasses
import functools
import typing
from collections.abc import Callable
from typing import Any, Optional, Protocol, Union

import jax

from .._base import OptState
from .._base import Params
from .._base import PyTree


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
  """A leafless node standing for the params in `tree_map_params`."""

  def tree_flatten(self):
    return ((), None)

  @classmethod
  def tree_unflatten(cls, aux, children):
    del aux, children
    return cls()


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
  """Path entry for the field `name` of a NamedTuple of class `tuple_name`.

  `tree_get_all_with_path`, `tree_get` and `tree_set` give paths made of jax's key
  entries and of these, so a `filtering(path, value)` function can tell which state
  a field belongs to.

  Attributes:
    tuple_name: the class name of the NamedTuple holding the field.
    name: the field's name.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> state = fo.adam(1e-3).init(jnp.zeros(2))
    >>> [str(path[-1]) for path, _ in fo.tree.get_all_with_path(state, "count")]
    ['ScaleByAdamState.count']

  References:
    `optax.tree_utils.NamedTupleKey`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """

  tuple_name: str
  name: str

  def __str__(self):
    return f"{self.tuple_name}.{self.name}"


_KeyEntry = Union[
    jax.tree_util.DictKey,
    jax.tree_util.FlattenedIndexKey,
    jax.tree_util.GetAttrKey,
    jax.tree_util.SequenceKey,
    NamedTupleKey,
]
_KeyPath = tuple[_KeyEntry, ...]


@typing.runtime_checkable
class Initable(Protocol):
  """An object with an `init(params) -> state` method (a `GradientTransformation`)."""

  def init(self, params: Params) -> OptState:
    """A fresh state for `params`."""


def tree_map_params(
    initable: Union[Callable[[Params], OptState], Initable],
    f: Callable[..., Any],
    state: OptState,
    /,
    *rest: Any,
    transform_non_params: Optional[Callable[..., Any]] = None,
    is_leaf: Optional[Callable[[Params], bool]] = None,
) -> OptState:
  """Applies `f` to every copy of the params tree inside an optimizer state.

  The copies are found by running `initable`'s init on a placeholder: the parts of
  the state that init builds from the params (moments, traces, ...) are the ones
  mapped. Useful to derive sharding specs of a state from those of the params.

  Args:
    initable: a `GradientTransformation` (anything with `init`) or an init function.
    f: applied leafwise to each params-shaped subtree of `state`, with the matching
      leaves of `rest`.
    state: the optimizer state to map over.
    *rest: trees with the structure of the params, passed to `f` as well.
    transform_non_params: applied to every other leaf of the state (counts, ...);
      None leaves them as they are.
    is_leaf: passed to `jax.tree.map` over the params-shaped subtrees.

  Returns:
    The state with `f` applied to its params-shaped parts.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> opt = fo.adam(1e-3)
    >>> state = opt.init({"w": jnp.ones(2)})
    >>> specs = fo.tree_map_params(opt, lambda _, spec: spec, state, {"w": "model"},
    ...                            transform_non_params=lambda _: None)
    >>> specs[0].mu, specs[0].count
    ({'w': 'model'}, None)

  References:
    `optax.tree_map_params`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  placeholder = _ParamsPlaceholder()
  if isinstance(initable, Initable):
    state_with_placeholders = initable.init(placeholder)
  else:
    state_with_placeholders = initable(placeholder)

  def map_params(maybe_placeholder, value):
    if isinstance(maybe_placeholder, _ParamsPlaceholder):
      return jax.tree.map(f, value, *rest, is_leaf=is_leaf)
    if transform_non_params is not None:
      return transform_non_params(value)
    return value

  return jax.tree.map(
      map_params,
      state_with_placeholders,
      state,
      is_leaf=lambda v: isinstance(v, _ParamsPlaceholder),
  )


def tree_get_all_with_path(
    tree: PyTree,
    key: Any,
    filtering: Optional[Callable[[_KeyPath, Any], bool]] = None,
) -> list[tuple[_KeyPath, Any]]:
  """All `(path, value)` pairs of `tree` whose dict key, field or NamedTuple name is `key`.

  Args:
    tree: the tree to search.
    key: a dict key, a NamedTuple field name or a NamedTuple class name.
    filtering: optional `filtering(path, value) -> bool` keeping only some matches.

  Returns:
    A list of `(path, value)`; `jax.tree_util.keystr(path)` renders a path.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> opt = fo.inject_hyperparams(fo.sgd)(learning_rate=lambda count: 1 / (count + 1))
    >>> found = fo.tree.get_all_with_path(opt.init(jnp.zeros(3)), "learning_rate")
    >>> [jax.tree_util.keystr(path) for path, _ in found]
    ["InjectStatefulHyperparamsState.hyperparams['learning_rate']", "InjectStatefulHyperparamsState.hyperparams_states['learning_rate']"]

  References:
    `optax.tree_utils.tree_get_all_with_path`,
    https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  found = _tree_get_all_with_path(tree, key)
  if filtering:
    found = [(path, value) for path, value in found if filtering(path, value)]
  return found


def tree_get(
    tree: PyTree,
    key: Any,
    default: Optional[Any] = None,
    filtering: Optional[Callable[[_KeyPath, Any], bool]] = None,
) -> Any:
  """The one value of `tree` under `key` (see `tree_get_all_with_path`), or `default`.

  Args:
    tree: the tree to search.
    key: a dict key, a NamedTuple field name or a NamedTuple class name.
    default: returned when nothing matches.
    filtering: optional `filtering(path, value) -> bool` keeping only some matches.

  Returns:
    The matching value.

  Raises:
    KeyError: if several values match.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> state = fo.chain(fo.add_noise(1.0, 0.9, key=0), fo.scale_by_adam()).init(jnp.zeros(3))
    >>> fo.tree.get(state, "mu").tolist(), type(fo.tree.get(state, "AddNoiseState")).__name__
    ([0.0, 0.0, 0.0], 'AddNoiseState')

  References:
    `optax.tree_utils.tree_get`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  found = tree_get_all_with_path(tree, key, filtering=filtering)
  if len(found) > 1:
    raise KeyError(f"Found multiple values for '{key}' in {tree}.")
  if not found:
    return default
  return found[0][1]


def tree_set(
    tree: PyTree,
    filtering: Optional[Callable[[_KeyPath, Any], bool]] = None,
    /,
    **kwargs: Any,
) -> PyTree:
  """A copy of `tree` with the values under each key of `kwargs` replaced.

  Args:
    tree: the tree whose values are replaced.
    filtering: optional `filtering(path, value) -> bool` restricting which matches
      are replaced.
    **kwargs: `key=new_value`; a key is a dict key, a NamedTuple field name or a
      NamedTuple class name (the whole NamedTuple is replaced).

  Returns:
    The new tree.

  Raises:
    KeyError: if a key of `kwargs` matches nothing.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> opt = fo.inject_hyperparams(fo.sgd)(learning_rate=0.1)
    >>> state = fo.tree.set(opt.init(jnp.zeros(2)), learning_rate=jnp.array(0.5))
    >>> opt.update(jnp.ones(2), state)[0].tolist()
    [-0.5, -0.5]

  References:
    `optax.tree_utils.tree_set`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  for key in kwargs:
    if not tree_get_all_with_path(tree, key, filtering):
      if filtering:
        raise KeyError(f"Found no values matching '{key}' given the filtering operation in {tree}")
      raise KeyError(f"Found no values matching '{key}' in {tree}")

  has_any_key = functools.partial(_node_has_keys, keys=tuple(kwargs))

  def replace(path, node):
    if not has_any_key(node):
      return node
    if (
        _is_named_tuple(node)
        and type(node).__name__ in kwargs
        and (filtering is None or filtering(path, node))
    ):
      return kwargs[type(node).__name__]
    new_children = {}
    for child_path, child in _get_children_with_path(path, node):
      key = _get_key(child_path[-1])
      if key in kwargs and (filtering is None or filtering(child_path, child)):
        new_children[key] = kwargs[key]
      elif isinstance(child, (dict, list, tuple)):
        new_children[key] = replace(child_path, child)
      else:
        new_children[key] = child
    return _set_children(node, new_children)

  treedef = jax.tree.structure(tree, is_leaf=has_any_key)
  leaves_with_path = _tree_leaves_with_named_tuple_path(tree, is_leaf=has_any_key)
  return treedef.unflatten(replace(path, node) for path, node in leaves_with_path)


def _tree_get_all_with_path(tree: PyTree, key: Any) -> list[tuple[_KeyPath, Any]]:
  has_key = functools.partial(_node_has_keys, keys=(key,))
  subtrees_with_path = [
      (path, node)
      for path, node in _tree_leaves_with_named_tuple_path(tree, is_leaf=has_key)
      if has_key(node)
  ]
  found = [_flatten_to_key(path, subtree, key) for path, subtree in subtrees_with_path]
  for path, subtree in subtrees_with_path:
    for child_path, child in _get_children_with_path(path, subtree):
      found += [
          ((*child_path, *new_path), value)
          for new_path, value in _tree_get_all_with_path(child, key)
      ]
  return found


def _is_named_tuple(x) -> bool:
  return isinstance(x, tuple) and hasattr(x, "_fields")


def _tree_leaves_with_named_tuple_path(tree, is_leaf=None) -> list[tuple[_KeyPath, Any]]:
  """`jax.tree_util.tree_leaves_with_path`, naming each NamedTuple field's tuple."""
  stop = is_leaf or (lambda _: False)
  result = []
  for path, node in jax.tree_util.tree_leaves_with_path(
      tree, is_leaf=lambda x: stop(x) or _is_named_tuple(x)
  ):
    if stop(node) or not _is_named_tuple(node):
      result.append((path, node))
      continue
    for field in node._fields:
      result += [
          ((*path, NamedTupleKey(type(node).__name__, field), *child_path), value)
          for child_path, value in _tree_leaves_with_named_tuple_path(getattr(node, field), is_leaf)
      ]
  return result


def _node_has_keys(node: Any, keys: tuple[Any, ...]) -> bool:
  if _is_named_tuple(node):
    return any(key in node._fields for key in keys) or type(node).__name__ in keys
  return isinstance(node, dict) and any(key in node for key in keys)


def _flatten_to_key(path: _KeyPath, node: Any, key: Any) -> tuple[_KeyPath, Any]:
  if _is_named_tuple(node):
    if key == type(node).__name__:
      return path, node
    return (*path, NamedTupleKey(type(node).__name__, key)), getattr(node, key)
  if isinstance(node, dict) and key in node:
    return (*path, jax.tree_util.DictKey(key)), node[key]
  return path, node


def _get_children_with_path(path: _KeyPath, node: Any) -> list[tuple[_KeyPath, Any]]:
  if _is_named_tuple(node):
    return [
        ((*path, NamedTupleKey(type(node).__name__, field)), getattr(node, field))
        for field in node._fields
    ]
  if isinstance(node, dict):
    return [((*path, jax.tree_util.DictKey(key)), value) for key, value in node.items()]
  raise ValueError(f"Subtree must be a dict or a NamedTuple. Got {type(node)}")


def _set_children(node: Any, children_with_keys: dict[Any, Any]) -> Any:
  if _is_named_tuple(node):
    return node._replace(**children_with_keys)
  if isinstance(node, dict):
    return children_with_keys
  raise ValueError(f"Subtree must be a dict or a NamedTuple. Got {type(node)}")


def _get_key(key: _KeyEntry) -> Union[int, str]:
  if isinstance(key, jax.tree_util.DictKey):
    if isinstance(key.key, (str, int)):
      return key.key
    raise KeyError("Hashable keys not supported")
  if isinstance(key, (jax.tree_util.FlattenedIndexKey,)):
    return key.key
  if isinstance(key, jax.tree_util.GetAttrKey):
    return key.name
  if isinstance(key, jax.tree_util.SequenceKey):
    return key.idx
  if isinstance(key, NamedTupleKey):
    return key.name
  raise KeyError(f"Tree key '{key}' of type '{type(key)}' not valid.")
