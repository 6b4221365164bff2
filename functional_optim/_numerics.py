"""Numerically safe helpers shared by transformations."""

from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np


def abs_sq(x: jax.typing.ArrayLike) -> jax.Array:
  """Squared absolute value of a (possibly complex) array.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.abs_sq(jnp.array([3.0 + 4.0j]))
    Array([25.], dtype=float32)

  References:
    `optax.abs_sq`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  if not isinstance(x, (np.ndarray, jnp.ndarray)):
    raise ValueError(f"abs_sq accepts only arrays, got {type(x).__name__}: {x!r}")
  return (x.conj() * x).real


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: Optional[Union[int, float, str]] = None,  # noqa: A002 (numpy's name)
    axis: Union[None, tuple[int, ...], int] = None,
    keepdims: bool = False,
) -> jax.Array:
  """`max(norm(x), min_norm)` whose gradient is 0, not NaN, where the norm is tiny.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> float(fo.safe_norm(jnp.zeros(3), 0.5))
    0.5
    >>> float(fo.safe_norm(jnp.array([3.0, 4.0]), 1e-6))
    5.0

  References:
    `optax.safe_norm`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
  x = jnp.where(norm <= min_norm, jnp.ones_like(x), x)
  norm = norm if keepdims else jnp.squeeze(norm, axis=axis)
  masked_norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
  return jnp.where(norm <= min_norm, min_norm, masked_norm)


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
  """`max(rms(x), min_rms)` with a gradient of 0, not NaN, where the rms is tiny.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> round(float(fo.safe_root_mean_squares(jnp.array([3.0, 4.0]), 0.0)), 4)
    3.5355

  References:
    `optax.safe_root_mean_squares`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  rms = jnp.sqrt(jnp.mean(abs_sq(x)))
  x = jnp.where(rms <= min_rms, jnp.ones_like(x), x)
  return jnp.where(rms <= min_rms, min_rms, jnp.sqrt(jnp.mean(abs_sq(x))))


def safe_increment(count: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
  """`count + 1`, saturating at the dtype's maximum instead of overflowing.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.safe_increment(jnp.asarray(2147483647, dtype=jnp.int32))
    Array(2147483647, dtype=int32)

  References:
    `optax.safe_increment`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  count_dtype = jnp.asarray(count).dtype
  if jnp.issubdtype(count_dtype, jnp.integer):
    max_value = jnp.iinfo(count_dtype).max
  elif jnp.issubdtype(count_dtype, jnp.floating):
    max_value = jnp.finfo(count_dtype).max
  else:
    raise ValueError(
        f"safe_increment needs an integer or floating count, got dtype {count_dtype}"
    )
  max_value = jnp.array(max_value, count_dtype)
  return jnp.where(count < max_value, count + jnp.array(1, count_dtype), max_value)


safe_int32_increment = safe_increment
