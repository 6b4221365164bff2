"""Label smoothing."""

from typing import Union

import jax
import jax.numpy as jnp

from ._checks import check_subdtype

__all__ = ["smooth_labels"]


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: Union[int, tuple[int, ...], None] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  """Label smoothing: `(1 - alpha) * labels + alpha / num_categories`.

  Used with a cross-entropy loss, smoothed labels favour small logit gaps, which can calibrate a
  model better by preventing overconfident predictions.

  Args:
    labels: one-hot labels to smooth.
    alpha: the smoothing factor.
    axis: axis or axes of the categories.
    where: elements to include; `num_categories` counts the included ones.

  Returns:
    The smoothed labels.

  References:
    Muller et al., 2019, "When does label smoothing help?", https://arxiv.org/abs/1906.02629

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.smooth_labels(jnp.array([0.0, 1.0, 0.0, 0.0]), 0.2))
    [0.05 0.85 0.05 0.05]
  """
  check_subdtype(labels, jnp.floating)
  if where is None:
    num_categories = jnp.size(labels, axis)
  else:
    num_categories = jnp.sum(where, axis, keepdims=True)
  return (1.0 - alpha) * labels + alpha / num_categories
