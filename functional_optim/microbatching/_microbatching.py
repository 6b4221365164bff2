"""`microbatch`: evaluate a function on a batch one microbatch at a time.

`micro_vmap` is `jax.vmap` on top of it, and `micro_grad` per-example gradients on
top of that.
"""

import collections
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp

from ._accumulators import Accumulator
from ._accumulators import AccumulationType
from ._accumulators import AccumulatorTree
from ._accumulators import canonicalize
from ._reshaping import reshape_all_args

Function: TypeAlias = Callable[..., Any]
VmapFn: TypeAlias = Callable[[Function, int | Sequence[int], int], Function]
IndividualOutputs = collections.namedtuple("Aux", ["values", "metrics", "aux"])
ValueAndGradFn: TypeAlias = Callable[..., tuple[Any, IndividualOutputs]]


def microbatch(
    fun: Function,
    argnums: int | Sequence[int],
    microbatch_size: int | None,
    accumulator: Accumulator | AccumulationType | AccumulatorTree = AccumulationType.SUM,
    *,
    argnames: str | Sequence[str] = (),
    in_axes: int | Sequence[int] = 0,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
  """Evaluates `fun` on the batch one microbatch at a time and combines the results.

  The returned function splits the batch arguments into microbatches (see
  `reshape_batch_axis`), evaluates `fun` on each in a sequential `lax.fori_loop`
  and folds the results with `accumulator`; for SUM, that is::

    total = 0
    for microbatch in batch:
      total += fun(microbatch)

  Peak memory is that of one microbatch, at the price of sequential work. Which
  rows form a microbatch is an implementation detail (column-major: microbatch `k`
  holds rows `k, k + num_microbatches, ...`); a function that is not a sum, mean
  or concatenation over rows may give a different result microbatched.

  Args:
    fun: any function.
    argnums: the positional arguments that have a batch axis.
    microbatch_size: the number of batch rows per microbatch; it must divide the
      batch size. None returns `fun` itself.
    accumulator: how the microbatch results combine: an `Accumulator` or
      `AccumulationType`, or a pytree of them that is a prefix of `fun`'s output.
    argnames: the keyword arguments that have a batch axis.
    in_axes: the batch axis of every batch argument, or one per entry of
      `argnums + argnames`, in that order.
    num_real_microbatches: if given, stop after this many microbatches (a traced
      value works too, so variable batch sizes need no recompilation).

  Returns:
    A function taking the same arguments as `fun`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fun = lambda x: (x + 1, jnp.sum(3 * x))
    >>> strategy = (
    ...     fo.microbatching.AccumulationType.CONCAT,
    ...     fo.microbatching.AccumulationType.SUM,
    ... )
    >>> fo.microbatch(fun, argnums=0, microbatch_size=2, accumulator=strategy)(
    ...     jnp.array([1, 2, 3, 4]))
    (Array([2, 3, 4, 5], dtype=int32), Array(30, dtype=int32))

  References:
    Huang et al., 2019, "GPipe: Efficient Training of Giant Neural Networks using
    Pipeline Parallelism", https://arxiv.org/abs/1811.06965 (micro-batches);
    `optax.microbatching.microbatch`,
    https://optax.readthedocs.io/en/latest/api/microbatching.html
  """
  if microbatch_size is None:
    return fun
  if isinstance(argnums, int):
    argnums = (argnums,)
  if isinstance(argnames, str):
    argnames = (argnames,)
  if isinstance(in_axes, int):
    in_axes = (in_axes,) * (len(argnums) + len(argnames))

  def take(tree, index, axis):
    return jax.tree.map(functools.partial(jnp.take, indices=index, axis=axis), tree)

  def microbatched_fun(*args, **kwargs):
    args, kwargs, batch_size = reshape_all_args(
        microbatch_size, argnums, argnames, in_axes, args, kwargs
    )
    num_microbatches = batch_size // microbatch_size
    acc = canonicalize(accumulator, num_microbatches)

    def evaluate(index):
      micro_args, micro_kwargs = list(args), dict(kwargs)
      for i, ax in zip(argnums, in_axes):
        micro_args[i] = take(args[i], index, ax)
      for name, ax in zip(argnames, in_axes[len(argnums):]):
        micro_kwargs[name] = take(kwargs[name], index, ax)
      return fun(*micro_args, **micro_kwargs)

    def body_fun(index, carry):
      return acc.update(carry, evaluate(index), index)

    if num_real_microbatches is None:
      loop_bound = num_microbatches
    else:
      loop_bound = num_real_microbatches
    init_carry = acc.init(jax.eval_shape(evaluate, 0))
    return acc.finalize(jax.lax.fori_loop(0, loop_bound, body_fun, init_carry))

  return microbatched_fun


def micro_vmap(
    fun: Function,
    in_axes: int | Sequence[int] = 0,
    out_axes: Any = 0,
    *,
    microbatch_size: int | None = None,
    vmap_fn: VmapFn = jax.vmap,
    accumulator: Accumulator | AccumulationType | AccumulatorTree = AccumulationType.CONCAT,
    num_real_microbatches: int | jax.Array | None = None,
) -> Function:
  """`jax.vmap` that maps one microbatch at a time, optionally reducing the outputs.

  With the default CONCAT accumulator the result is `jax.vmap(fun, in_axes)`'s;
  a reducing accumulator (SUM, MEAN, ...) returns the reduction over the mapped
  axis without ever holding the full mapped output. As with `jax.vmap`, keyword
  arguments are mapped along their leading axis.

  Args:
    fun: the function to map.
    in_axes: the mapped axis of every positional argument (an int), or one entry
      per positional argument (None: not mapped).
    out_axes: must be 0.
    microbatch_size: the number of mapped rows per microbatch; it must divide the
      mapped size. None maps everything at once.
    vmap_fn: a function with `jax.vmap`'s signature (e.g. to pass it keywords).
    accumulator: what to do with the mapped outputs (a pytree prefix of `fun`'s
      output is allowed): CONCAT stacks them, as `jax.vmap` does.
    num_real_microbatches: if given, stop after this many microbatches.

  Returns:
    A function taking `fun`'s arguments with a mapped axis added.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.microbatching.micro_vmap(lambda x: x**2, microbatch_size=4)(jnp.arange(8))
    Array([ 0,  1,  4,  9, 16, 25, 36, 49], dtype=int32)

  References:
    `optax.microbatching.micro_vmap`,
    https://optax.readthedocs.io/en/latest/api/microbatching.html
  """
  if out_axes != 0:
    raise NotImplementedError("out_axis != 0 is not currently supported")

  # Kwargs are all mapped along their leading axis, so they travel as one dict
  # keyword argument mapped along axis 0.
  def vmap_reduce_fn(*args, kwargs, in_axes):
    output = vmap_fn(fun, in_axes, out_axes)(*args, **kwargs)
    # Only `aggregate` is used: the number of microbatches does not matter.
    size = jax.tree.leaves(output)[0].shape[0]
    return canonicalize(accumulator, size).aggregate(output)

  def wrapped_fn(*args, **kwargs):
    # An int maps every positional argument, as in `jax.vmap`.
    axes = (in_axes,) * len(args) if isinstance(in_axes, int) else tuple(in_axes)
    micro_fn = microbatch(
        functools.partial(vmap_reduce_fn, in_axes=axes),
        argnums=tuple(i for i, ax in enumerate(axes) if ax is not None),
        argnames="kwargs",
        microbatch_size=microbatch_size,
        accumulator=accumulator,
        in_axes=tuple(ax for ax in axes if ax is not None) + (0,),
        num_real_microbatches=num_real_microbatches,
    )
    return micro_fn(*args, kwargs=kwargs)

  return wrapped_fn


def _with_extra_batch_axis(fun: Function, batch_argnums: Sequence[int]) -> Function:
  """Gives every batch argument of each example a size-1 batch axis (axis 1)."""

  def wrapped_fun(*args, **kwargs):
    args = list(args)
    for i in batch_argnums:
      args[i] = jax.tree.map(lambda x: jnp.expand_dims(x, axis=1), args[i])
    return fun(*args, **kwargs)

  return wrapped_fun


def micro_grad(
    fun: Function,
    has_aux: bool = False,
    argnums: int | Sequence[int] = 0,
    *,
    batch_argnums: int | Sequence[int] = 1,
    keep_batch_dim: bool = True,
    microbatch_size: int | None = None,
    accumulator: Accumulator | AccumulationType | AccumulatorTree = AccumulationType.SUM,
    transform_fn: Callable[[Any], Any] = lambda x: x,
    metrics_fn: Callable[[Any], Any] = lambda x: None,
    num_real_microbatches: int | jax.Array | None = None,
) -> ValueAndGradFn:
  """Per-example gradients, transformed and then accumulated over the batch.

  Like `jax.value_and_grad`, but `fun` is differentiated on each example (batch of
  one) separately: each per-example gradient `g` goes through `transform_fn(g)`
  (e.g. clipping, or `(g, g**2)` for moments) and those are combined over the batch
  with `accumulator`, while `metrics_fn(g)` is kept per example. Microbatching
  bounds the memory the per-example gradients take.

  Unlike `jax.value_and_grad`, the result is `(accumulated, aux)` where
  `aux = (values, metrics, aux)` holds `fun`'s value, the metrics and `fun`'s
  auxiliary output (if `has_aux`), all per example.

  Args:
    fun: the function to differentiate, `fun(params, batch, ...)` by default.
    has_aux: whether `fun` returns `(value, aux)`.
    argnums: the argument(s) to differentiate with respect to.
    batch_argnums: the argument(s) with a batch axis (axis 0).
    keep_batch_dim: whether `fun` is given each example with a batch axis of size 1
      (True) or without it.
    microbatch_size: the number of examples per microbatch (see `microbatch`).
    accumulator: how the transformed per-example gradients combine.
    transform_fn: applied to each per-example gradient before accumulation.
    metrics_fn: applied to each per-example gradient; returned per example, so it
      should be small (a scalar, say).
    num_real_microbatches: if given, stop after this many microbatches.

  Returns:
    A function of `fun`'s arguments returning `(accumulated, aux)`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> def loss(params, features, targets):
    ...   return 0.5 * jnp.mean((features @ params - targets) ** 2)
    >>> (grads, squared_grads), aux = fo.microbatching.micro_grad(
    ...     loss,
    ...     batch_argnums=(1, 2),
    ...     accumulator=fo.microbatching.AccumulationType.MEAN,
    ...     transform_fn=lambda g: (g, g**2),
    ...     metrics_fn=jnp.linalg.norm,
    ... )(jnp.zeros(1), jnp.ones((4, 1)), jnp.array([0.0, 2.0, 4.0, 6.0]))
    >>> grads, squared_grads  # the per-example gradients are -[0, 2, 4, 6]
    (Array([-3.], dtype=float32), Array([14.], dtype=float32))
    >>> aux.metrics
    Array([0., 2., 4., 6.], dtype=float32)

  References:
    Abadi et al., 2016, "Deep Learning with Differential Privacy" (per-example
    gradient clipping), https://arxiv.org/abs/1607.00133;
    https://arxiv.org/abs/2510.00236 (cited by `optax.microbatching.micro_grad`)
  """
  if isinstance(batch_argnums, int):
    batch_argnums = (batch_argnums,)
  if not has_aux:
    fun_with_aux = lambda *args, **kwargs: (fun(*args, **kwargs), None)
  else:
    fun_with_aux = fun
  value_and_grad_fn = jax.value_and_grad(fun_with_aux, argnums, has_aux=True)

  def grad_fn(*args, **kwargs):
    (value, aux), grad = value_and_grad_fn(*args, **kwargs)
    return transform_fn(grad), IndividualOutputs(values=value, metrics=metrics_fn(grad), aux=aux)

  def micro_fun(*args, **kwargs):
    # Arguments past the last batch argument are not mapped either.
    in_axes = [None] * max(len(args), max(batch_argnums) + 1)
    for i in batch_argnums:
      in_axes[i] = 0
    return micro_vmap(
        grad_fn,
        in_axes=in_axes,
        accumulator=(accumulator, AccumulationType.CONCAT),
        microbatch_size=microbatch_size,
        num_real_microbatches=num_real_microbatches,
    )(*args, **kwargs)

  if keep_batch_dim:
    return _with_extra_batch_axis(micro_fun, batch_argnums)
  return micro_fun
