"""Regression losses: squared error, Huber, log-cosh, cosine similarity and distance."""

from typing import Optional, Union

import jax
import jax.numpy as jnp

from ._checks import check_shapes_equal
from ._checks import check_subdtype

Axis = Union[int, tuple[int, ...], None]

__all__ = [
    "cosine_distance",
    "cosine_similarity",
    "huber_loss",
    "l2_loss",
    "log_cosh",
    "squared_error",
]


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  """Elementwise squared error, `(predictions - targets) ** 2`.

  The mean squared error is `squared_error(a, b).mean()`; `l2_loss` is half of this.

  Args:
    predictions: predictions of any shape.
    targets: targets shaped like `predictions` (no broadcasting); `None` means zeros.

  Returns:
    The squared differences, shaped like `predictions`.

  References:
    "Mean squared error", Wikipedia, https://en.wikipedia.org/wiki/Mean_squared_error

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.squared_error(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
    [1. 4.]
  """
  check_subdtype(predictions, jnp.floating)
  if targets is not None:
    check_shapes_equal(predictions, targets)  # no broadcasting in the subtraction
  errors = predictions - targets if targets is not None else predictions
  return errors**2


def l2_loss(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  """Elementwise L2 loss, `0.5 * (predictions - targets) ** 2`.

  The factor 0.5 follows Bishop's "Pattern Recognition and Machine Learning" (not Hastie,
  Tibshirani and Friedman's "The Elements of Statistical Learning").

  Args:
    predictions: predictions of any shape.
    targets: targets shaped like `predictions`; `None` means zeros.

  Returns:
    Half the squared differences, shaped like `predictions`.

  References:
    Bishop, 2006, "Pattern Recognition and Machine Learning", Sec. 1.1

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.l2_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])))
    [0.5 2. ]
  """
  predictions = jnp.asarray(predictions)
  return 0.5 * squared_error(predictions, targets)


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
  """Huber loss: quadratic for errors up to `delta`, linear beyond.

  Gradient descent on it equals clipping the gradient of `l2_loss` to `[-delta, delta]`.

  Args:
    predictions: predictions of any shape.
    targets: targets broadcastable to `predictions`; `None` means zeros.
    delta: where the loss turns from quadratic to linear.

  Returns:
    The elementwise Huber loss, shaped like `predictions`.

  References:
    "Huber loss", Wikipedia, https://en.wikipedia.org/wiki/Huber_loss

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.huber_loss(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0])))
    [0.125 2.5  ]
  """
  check_subdtype(predictions, jnp.floating)
  errors = (predictions - targets) if (targets is not None) else predictions
  # 0.5 * err^2 if |err| <= d, else 0.5 * d^2 + d * (|err| - d)
  abs_errors = jnp.abs(errors)
  quadratic = jnp.minimum(abs_errors, delta)
  linear = abs_errors - quadratic  # max(|err| - d, 0) without doubling the gradient at d
  return 0.5 * quadratic**2 + delta * linear


def log_cosh(
    predictions: jax.typing.ArrayLike,
    targets: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  """Elementwise log-cosh loss, `log(cosh(predictions - targets))`.

  About `x**2 / 2` for small errors and `|x| - log(2)` for large ones: a twice differentiable
  alternative to the Huber loss.

  Args:
    predictions: predictions of any shape.
    targets: targets broadcastable to `predictions`; `None` means zeros.

  Returns:
    The log-cosh loss, shaped like `predictions`.

  References:
    Chen et al., 2019, "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder",
    https://openreview.net/pdf?id=rkglvsC9Ym

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.log_cosh(jnp.array([0.0, 1.0, 10.0])))
    [0.     0.4338 9.3069]
  """
  check_subdtype(predictions, jnp.floating)
  errors = (predictions - targets) if (targets is not None) else predictions
  # log(cosh(x)) = log(exp(x) + exp(-x)) - log(2)
  return jnp.logaddexp(errors, -errors) - jnp.log(2.0).astype(errors.dtype)


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Axis = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  """Cosine similarity of predictions and targets: the inner product of the unit vectors.

  Args:
    predictions: predicted vectors, shape `[..., dim]`.
    targets: target vectors, shape `[..., dim]`.
    epsilon: lower bound of each squared norm in the denominator.
    axis: axis or axes along which to compute.
    where: elements to include.

  Returns:
    The cosine similarities, shape `[...]`.

  References:
    "Cosine similarity", Wikipedia, https://en.wikipedia.org/wiki/Cosine_similarity

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> a = jnp.array([[1.0, 0.0], [1.0, 1.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.cosine_similarity(a, jnp.array([[1.0, 1.0], [2.0, 2.0]])))
    [0.7071 1.    ]
  """
  check_subdtype(predictions, jnp.floating)
  check_subdtype(targets, jnp.floating)
  a_norm2 = jnp.square(predictions).sum(axis=axis, where=where, keepdims=True)
  b_norm2 = jnp.square(targets).sum(axis=axis, where=where, keepdims=True)
  a_unit = predictions / jnp.sqrt(a_norm2.clip(epsilon))
  b_unit = targets / jnp.sqrt(b_norm2.clip(epsilon))
  return (a_unit * b_unit).sum(axis=axis, where=where)


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: Axis = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  """Cosine distance of predictions and targets, `1 - cosine_similarity`.

  Args:
    predictions: predicted vectors, shape `[..., dim]`.
    targets: target vectors, shape `[..., dim]`.
    epsilon: lower bound of each squared norm in the denominator.
    axis: axis or axes along which to compute.
    where: elements to include.

  Returns:
    The cosine distances, shape `[...]`.

  References:
    "Cosine distance", Wikipedia,
    https://en.wikipedia.org/wiki/Cosine_similarity#Cosine_distance

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> a = jnp.array([[1.0, 0.0], [1.0, 1.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.cosine_distance(a, jnp.array([[0.0, 1.0], [-1.0, -1.0]])))
    [1. 2.]
  """
  check_subdtype(predictions, jnp.floating)
  check_subdtype(targets, jnp.floating)
  return 1.0 - cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)
