"""Named parameters: a transformation that sees `{name: array}` where the bridge has a tuple.

A group built from `model.named_parameters()` has torch's `param_names`. Its
transformation then gets the parameters, gradients and updates as a dict keyed by
those names (`{"0.weight": ..., "0.bias": ...}`), so label functions and masks
(`multi_transform`, `masked`, `add_decayed_weights(mask=...)`) can select by name.
The bridge itself keeps its per-parameter tuples (see `_state`): `with_names`
converts at the transformation's boundary, both ways, and the state it returns
has tuples where the transformation's has name dicts. So the numbers and the state
names are those of the same run without names.
"""

from typing import Any, Sequence

import jax

import functional_optim as fo


def usable_names(names: Sequence[Any], num_params: int) -> bool:
  """Whether `names` can key the group's parameters: one distinct string per parameter."""
  return len(names) == num_params and all(isinstance(n, str) for n in names) and len(set(names)) == num_params


def with_names(tx: fo.GradientTransformation, names: Sequence[str]) -> fo.GradientTransformation:
  """`tx`, taking and returning tuples over the parameters, computing on `{name: array}` dicts.

  Example:
    >>> import jax.numpy as jnp, functional_optim as fo
    >>> from torch_bridge._named import with_names
    >>> labels = lambda params: {name: "decay" if name.endswith("weight") else "none" for name in params}
    >>> tx = with_names(fo.multi_transform({"decay": fo.sgd(1.0), "none": fo.set_to_zero()}, labels),
    ...                 ["0.weight", "0.bias"])
    >>> params = (jnp.ones(2), jnp.ones(1))
    >>> updates, _ = tx.update(params, tx.init(params), params)
    >>> [u.tolist() for u in updates]
    [[-1.0, -1.0], [0.0]]
  """
  names = tuple(names)
  keys = set(names)

  def is_name_dict(node) -> bool:
    return isinstance(node, dict) and set(node) == keys

  def to_dict(values):
    return dict(zip(names, values))

  def to_tuples(state):
    return jax.tree.map(lambda d: tuple(d[n] for n in names) if is_name_dict(d) else d, state, is_leaf=is_name_dict)

  def to_dicts(state, like):
    template = jax.eval_shape(tx.init, to_dict(like))
    nodes, treedef = jax.tree.flatten(template, is_leaf=is_name_dict)
    values = treedef.flatten_up_to(state)
    return treedef.unflatten([to_dict(v) if is_name_dict(t) else v for t, v in zip(nodes, values)])

  def init(params):
    return to_tuples(tx.init(to_dict(params)))

  def update(updates, state, params=None, **extra_args):
    extra_args = {k: to_dict(v) if isinstance(v, tuple) and len(v) == len(names) else v
                  for k, v in extra_args.items()}
    named_params = None if params is None else to_dict(params)
    new_updates, new_state = tx.update(to_dict(updates), to_dicts(state, updates), named_params, **extra_args)
    return tuple(new_updates[n] for n in names), to_tuples(new_state)

  return fo.GradientTransformation(init, update)
