"""Ranking losses.

A ranking loss is a differentiable cost of the ranking induced by item scores, compared to the
ranking induced by relevance labels. Ranking losses work over the last dimension; the leading
dimensions are batch dimensions.

Example:
  >>> import jax
  >>> import jax.numpy as jnp
  >>> import functional_optim as fo
  >>> scores = jnp.array([2.0, 1.0, 3.0])
  >>> labels = jnp.array([1.0, 0.0, 0.0])
  >>> print(f"{fo.losses.ranking_softmax_loss(scores, labels):.3f}")
  1.408
  >>> scores = jnp.array([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
  >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
  >>> where = jnp.array([[True, True, False], [True, True, True]])
  >>> print(f"{fo.losses.ranking_softmax_loss(scores, labels, where=where):.3f}")
  0.497
  >>> scores = jnp.array([2.0, 1.0, 3.0])
  >>> labels = jnp.array([1.0, 0.0, 0.0])
  >>> grads = jax.grad(fo.losses.ranking_softmax_loss)(scores, labels)
  >>> print([float(f"{grad:.3f}") for grad in grads])
  [-0.755, 0.09, 0.665]
"""

from collections.abc import Callable
from typing import Optional

import jax
import jax.numpy as jnp

from ._checks import check_subdtype

__all__ = ["ranking_softmax_loss"]


def _safe_reduce(
    a: jax.Array,
    where: Optional[jax.Array] = None,
    reduce_fn: Optional[Callable[..., jax.typing.ArrayLike]] = None,
) -> jax.Array:
  """Reduces `a` with `reduce_fn` over `where`, without the NaN of an empty masked mean.

  A mean over no valid element is 0 (unless `a` itself holds a NaN, which stays visible).
  Without `reduce_fn`, the elements outside `where` are set to 0, so that summing the unreduced
  loss equals the loss reduced with `jnp.sum`.
  """
  output = reduce_fn(a, where=where) if reduce_fn is not None else a
  if reduce_fn is jnp.mean:
    is_input_valid = jnp.logical_not(jnp.any(jnp.isnan(a)))
    output = jnp.where(jnp.isnan(output) & is_input_valid, 0.0, output)
  if reduce_fn is None and where is not None:
    output = jnp.where(where, output, 0.0)
  return output


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: Optional[jax.typing.ArrayLike] = None,
    weights: Optional[jax.typing.ArrayLike] = None,
    reduce_fn: Optional[Callable[..., jax.typing.ArrayLike]] = jnp.mean,
) -> jax.Array:
  r"""Ranking softmax loss, `-sum_i y_i log(exp(s_i) / sum_j exp(s_j))` per list.

  Args:
    logits: `[..., list_size]` score of each item.
    labels: `[..., list_size]` relevance label of each item.
    where: optional `[..., list_size]` mask of the valid items; the others are ignored, and a list
      with no valid item is left out of the reduction.
    weights: optional `[..., list_size]` weight of each item.
    reduce_fn: reduces the per-list losses, e.g. `jnp.sum` or `jnp.mean`; `None` reduces nothing.

  Returns:
    The ranking softmax loss, reduced by `reduce_fn`.

  References:
    Cao et al., 2007, "Learning to Rank: From Pairwise Approach to Listwise Approach", ICML,
    https://doi.org/10.1145/1273496.1273513

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> scores = jnp.array([2.0, 1.0, 3.0])
    >>> loss = fo.losses.ranking_softmax_loss(scores, jnp.array([1.0, 0.0, 0.0]))
    >>> print(f"{loss:.3f}")
    1.408
  """
  check_subdtype(logits, jnp.floating)
  labels = labels.astype(logits.dtype)
  # Masked items count towards nothing.
  if where is not None:
    labels = jnp.where(where, labels, jnp.zeros_like(labels))
    logits = jnp.where(where, logits, -jnp.ones_like(logits) * jnp.inf)
  if weights is not None:
    labels *= weights
  softmax_cross_entropy = labels * jax.nn.log_softmax(logits, axis=-1)
  loss = -jnp.sum(softmax_cross_entropy, axis=-1, where=where)
  # Lists with no valid item are left out of the reduction.
  if where is not None:
    where = jnp.any(where, axis=-1)
  return _safe_reduce(loss, where=where, reduce_fn=reduce_fn)
