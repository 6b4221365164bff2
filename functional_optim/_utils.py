"""Small utilities (optax's `_src/utils.py`): dtype canonicalisation and `multi_normal`."""

from collections.abc import Sequence
from typing import Optional

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm as normal_distribution


def canonical_dtype(dtype: Optional[jax.typing.DTypeLike]) -> Optional[jnp.dtype]:
  """`dtype` as JAX will store it (e.g. float64 -> float32 without x64); None stays None."""
  return None if dtype is None else jax.dtypes.canonicalize_dtype(dtype)


class MultiNormalDiagFromLogScale:
  """A normal distribution with diagonal covariance, parameterised by `loc` and `log_scale`.

  Made by `multi_normal`; the parameters broadcast against each other.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> dist = fo.multi_normal(jnp.zeros(3), jnp.zeros(3))
    >>> dist.sample((4,), jax.random.key(0)).shape, dist.log_prob(jnp.zeros(3)).shape
    ((4, 3), ())

  References:
    optax's `_src/utils.py` (`MultiNormalDiagFromLogScale`)
  """

  def __init__(self, loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike):
    self._log_scale = jnp.asarray(log_scale)
    self._scale = jnp.exp(log_scale)
    self._mean = jnp.asarray(loc)
    self._param_shape = jax.lax.broadcast_shapes(self._mean.shape, self._scale.shape)

  def sample(self, shape: Sequence[int], key: jax.Array) -> jax.Array:
    """`shape + param_shape` independent draws."""
    sample_shape = tuple(shape) + self._param_shape
    return jax.random.normal(key, shape=sample_shape) * self._scale + self._mean

  def log_prob(self, x: jax.typing.ArrayLike) -> jax.Array:
    """Log-density of `x`, summed over the parameter axes."""
    log_prob = normal_distribution.logpdf(x, loc=self._mean, scale=self._scale)
    return jnp.sum(log_prob, axis=[-(i + 1) for i in range(len(self._param_shape))])

  @property
  def log_scale(self) -> jax.Array:
    """The log of the standard deviations."""
    return self._log_scale

  @property
  def params(self) -> Sequence[jax.Array]:
    """`[loc, log_scale]`."""
    return [self._mean, self._log_scale]


def multi_normal(
    loc: jax.typing.ArrayLike, log_scale: jax.typing.ArrayLike
) -> MultiNormalDiagFromLogScale:
  """A diagonal normal distribution with mean `loc` and standard deviation `exp(log_scale)`.

  Used by the perturbation-based estimators (`sample`, `log_prob`, `params`).

  Args:
    loc: the mean.
    log_scale: the log of the standard deviation; broadcast against `loc`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> dist = fo.multi_normal(jnp.zeros(2), jnp.log(jnp.ones(2)))
    >>> [p.tolist() for p in dist.params]
    [[0.0, 0.0], [0.0, 0.0]]
    >>> round(float(dist.log_prob(jnp.zeros(2))), 4)  # 2 * log(1 / sqrt(2 pi))
    -1.8379

  References:
    `optax.multi_normal`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return MultiNormalDiagFromLogScale(loc=loc, log_scale=log_scale)
