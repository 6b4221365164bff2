"""Random pytrees (optax's `tree_utils/_random.py`)."""

import inspect
from typing import Any, Callable, Optional

import jax


def tree_split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
  """One PRNG key per leaf of `target_tree`, in a tree of the same structure.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> keys = fo.tree.split_key_like(jax.random.key(0), {"a": jnp.zeros(2), "b": jnp.zeros(3)})
    >>> sorted(keys), bool(jnp.any(jax.random.key_data(keys["a"]) != jax.random.key_data(keys["b"])))
    (['a', 'b'], True)

  References:
    `optax.tree.split_key_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  treedef = jax.tree.structure(target_tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(rng_key, treedef.num_leaves)))


def tree_random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable = jax.random.normal,
    dtype: Optional[jax.typing.DTypeLike] = None,
) -> Any:
  """Random leaves drawn by `sampler(key, shape, dtype)`, shaped like `target_tree`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> noise = fo.tree.random_like(jax.random.key(0), {"w": jnp.zeros((2, 3))}, jax.random.uniform)
    >>> noise["w"].shape, bool(jnp.all((noise["w"] >= 0) & (noise["w"] < 1)))
    ((2, 3), True)

  References:
    `optax.tree.random_like`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  keys = tree_split_key_like(rng_key, target_tree)
  if "out_sharding" in inspect.signature(sampler).parameters:
    # Each draw is laid out as its leaf is (jax's explicit sharding), as in optax.
    def draw(leaf, key):
      return sampler(key, leaf.shape, dtype or leaf.dtype, out_sharding=jax.typeof(leaf).sharding)
  else:
    def draw(leaf, key):
      return sampler(key, leaf.shape, dtype or leaf.dtype)
  return jax.tree.map(draw, target_tree, keys)


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
  """Replaces typed PRNG keys (`jax.random.key`) by their raw data, for comparisons.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tree = fo.tree.unwrap_random_key_data({"key": jax.random.key(0), "x": jnp.ones(2)})
    >>> tree["key"].dtype.name, tree["key"].shape, tree["x"].tolist()
    ('uint32', (2,), [1.0, 1.0])

  References:
    `optax.tree.unwrap_random_key_data`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """

  def unwrap(x):
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      return jax.random.key_data(x)
    return x

  return jax.tree.map(unwrap, input_tree)
