"""Splitting a batch axis into (num_microbatches, microbatch_size)."""

from collections.abc import Sequence
from typing import Any

import jax


def reshape_batch_axis(tree: Any, microbatch_size: int, axis: int = 0) -> Any:
  """Splits the batch axis of every leaf into `(num_microbatches, microbatch_size)`.

  The two new axes replace the batch axis, in place. The reshape is column-major, so
  microbatch `k` holds batch rows `k, k + num_microbatches, k + 2 * num_microbatches,
  ...`: a sharding of the batch axis carries over to the `microbatch_size` axis, and
  the `num_microbatches` axis (the one looped over) is replicated.

  Args:
    tree: a pytree of arrays, each with a batch axis at `axis`.
    microbatch_size: the number of batch rows in each microbatch; with explicit
      sharding, it must be a multiple of the number of shards of the batch axis.
    axis: the batch axis.

  Returns:
    The pytree with every leaf reshaped.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.microbatching.reshape_batch_axis(jnp.arange(6), microbatch_size=3)
    Array([[0, 2, 4],
           [1, 3, 5]], dtype=int32)

  References:
    `optax.microbatching.reshape_batch_axis`,
    https://optax.readthedocs.io/en/latest/api/microbatching.html
  """

  def reshape_leaf(x):
    new_shape = x.shape[:axis] + (-1, microbatch_size) + x.shape[axis + 1:]
    sharding = jax.typeof(x).sharding
    if not sharding.mesh.are_all_axes_explicit:
      return x.reshape(new_shape, order="F")

    spec = sharding.spec
    if len(spec) <= axis:  # the batch axis is not sharded
      new_spec = spec
    else:
      new_spec = jax.P(*spec[:axis], None, spec[axis], *spec[axis + 1:])
    nshards = x.shape[axis] // sharding.shard_shape(x.shape)[axis]
    if microbatch_size % nshards != 0:
      raise ValueError(f"{nshards=} must evenly divide {microbatch_size=}.")
    out_sharding = jax.sharding.NamedSharding(sharding.mesh, new_spec)
    return x.reshape(new_shape, order="F", out_sharding=out_sharding)

  return jax.tree.map(reshape_leaf, tree)


def reshape_all_args(
    microbatch_size: int,
    argnums: Sequence[int],
    argnames: Sequence[str],
    in_axes: Sequence[int],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any], int]:
  """Reshapes the batch arguments; returns `(args, kwargs, batch_size)`.

  `in_axes` lists the batch axis of each of `argnums`, then of each of `argnames`.
  """
  batch_args = [args[i] for i in argnums] + [kwargs[name] for name in argnames]
  batch_sizes = jax.tree.leaves(
      jax.tree.map(
          lambda ax, subtree: jax.tree.map(lambda x: x.shape[ax], subtree),
          tuple(in_axes),
          tuple(batch_args),
      )
  )
  if not batch_sizes:
    raise ValueError("microbatch needs at least one array argument with a batch axis.")
  if len(set(batch_sizes)) > 1:
    raise ValueError(f"Batch Arguments must have equal-size batch axes, found {batch_sizes}.")
  batch_size = batch_sizes[0]
  if batch_size % microbatch_size != 0:
    raise ValueError(f"{batch_size=} must be divisible by {microbatch_size=}.")

  new_args = list(args)
  for i, ax in zip(argnums, in_axes):
    new_args[i] = reshape_batch_axis(args[i], microbatch_size, ax)
  new_kwargs = dict(kwargs)
  for name, ax in zip(argnames, in_axes[len(argnums):]):
    new_kwargs[name] = reshape_batch_axis(kwargs[name], microbatch_size, ax)
  return tuple(new_args), new_kwargs, batch_size
