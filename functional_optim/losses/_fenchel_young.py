"""Fenchel-Young losses built from a max function."""

from typing import Any, Protocol

import jax
import jax.numpy as jnp

__all__ = ["make_fenchel_young_loss"]


class MaxFun(Protocol):
  """A (regularized) max function: scores of shape `[n]` to a scalar."""

  def __call__(self, scores, *args, **kwargs: Any) -> jax.typing.ArrayLike:
    ...


def make_fenchel_young_loss(max_fun: MaxFun):
  """Creates the Fenchel-Young loss `max_fun(scores) - <targets, scores>` of a max function.

  The loss works over the last dimension and accepts any number of leading dimensions (jaxopt's
  version instead flattens everything into one vector).

  Args:
    max_fun: the max function the loss is built on, e.g. `logsumexp` (which gives the softmax
      cross entropy with one-hot targets).

  Returns:
    `fenchel_young_loss(scores, targets, *args, **kwargs)`, passing `*args, **kwargs` on to
    `max_fun`.

  References:
    Blondel et al., 2020, "Learning with Fenchel-Young Losses", https://arxiv.org/abs/1901.02324

  Example:
    >>> import jax.numpy as jnp
    >>> from jax.scipy.special import logsumexp
    >>> import functional_optim as fo
    >>> fy_loss = fo.losses.make_fenchel_young_loss(max_fun=logsumexp)
    >>> scores = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> targets = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fy_loss(scores, targets))
    [0.2761 2.9518]
  """
  vdot_last_dim = jnp.vectorize(jnp.vdot, signature="(n),(n)->()")
  max_fun_last_dim = jnp.vectorize(max_fun, signature="(n)->()")

  def fenchel_young_loss(scores, targets, *args, **kwargs):
    max_value = max_fun_last_dim(scores, *args, **kwargs)
    return max_value - vdot_last_dim(targets, scores)

  return fenchel_young_loss
