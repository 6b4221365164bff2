"""Classification losses: cross entropies (sigmoid, softmax, focal, poly).

The other classification families live next door (`_divergences`, `_margins`, `_ctc`) and are
re-exported here, so this module holds every name `optax.losses._classification` has.
"""

from typing import Optional, Union

import jax
import jax.numpy as jnp
import jax.scipy.special

from ._checks import canonicalize_axes
from ._checks import canonicalize_axis
from ._checks import check_subdtype
from ._checks import deprecated
from ._ctc import ctc_loss
from ._ctc import ctc_loss_with_forward_probs
from ._divergences import convex_kl_divergence
from ._divergences import generalized_kl_divergence
from ._divergences import kl_divergence
from ._divergences import kl_divergence_with_log_targets
from ._margins import binary_sparsemax_loss
from ._margins import hinge_loss
from ._margins import multiclass_hinge_loss
from ._margins import multiclass_perceptron_loss
from ._margins import multiclass_sparsemax_loss
from ._margins import perceptron_loss
from ._margins import sparsemax_loss

Axis = Union[int, tuple[int, ...], None]

__all__ = [
    "binary_logistic_loss",
    "binary_sparsemax_loss",
    "convex_kl_divergence",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "generalized_kl_divergence",
    "hinge_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "multiclass_hinge_loss",
    "multiclass_logistic_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "perceptron_loss",
    "poly_loss_cross_entropy",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "sparsemax_loss",
    "weighted_logsoftmax",
]


def sigmoid_binary_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Element-wise sigmoid cross entropy of `logits` against binary or probability `labels`.

  Each element is an independent binary prediction, so this serves binary and multi-label
  classification alike (an image may contain both a cat and a dog). `logits` and `labels` must
  describe the same predictions: beware of implicit broadcasting.

  Args:
    logits: unnormalized log probability of each binary prediction.
    labels: binary labels in {0, 1}, or target probabilities in [0, 1].

  Returns:
    The cross entropy of each binary prediction, shaped like `logits`.

  References:
    Goodfellow et al., 2016, "Deep Learning", http://www.deeplearningbook.org/contents/prob.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([2.0, -1.0, 0.0])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.sigmoid_binary_cross_entropy(logits, jnp.array([1, 0, 1])))
    [0.1269 0.3133 0.6931]
  """
  check_subdtype(logits, jnp.floating)
  labels = jnp.astype(labels, logits.dtype)
  log_p = jax.nn.log_sigmoid(logits)
  log_not_p = jax.nn.log_sigmoid(-logits)  # log(1 - sigmoid(x)), stably
  return -labels * log_p - (1.0 - labels) * log_not_p


@deprecated(replacement="sigmoid_binary_cross_entropy")
def binary_logistic_loss(logits, labels):
  """Deprecated alias of `sigmoid_binary_cross_entropy`."""
  return sigmoid_binary_cross_entropy(logits, labels)


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: Optional[jax.typing.ArrayLike] = None,
    gamma: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
  r"""Sigmoid focal loss: cross entropy scaled by `(1 - p_t) ** gamma`.

  The scaling decays to zero as confidence in the correct class grows, which down-weights easy
  examples. `FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)`, with `p_t = p` where the label is 1 and
  `1 - p` where it is 0, and `alpha_t = alpha` or `1 - alpha` likewise. The focal weight is
  computed in log space, which keeps it finite for `gamma < 2` and extreme logits.

  Args:
    logits: unnormalized log probabilities, one per binary prediction.
    labels: labels broadcastable to `logits`: binary {0, 1} or soft targets in [0, 1].
    alpha: optional weight in (0, 1) of the positive examples against the negative ones; `None`
      weights nothing.
    gamma: exponent of the modulating factor `1 - p_t`; larger focuses on hard examples.

  Returns:
    The focal loss of each prediction, shaped like `logits`.

  References:
    Lin et al., 2017, "Focal Loss for Dense Object Detection", https://arxiv.org/abs/1708.02002

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([2.0, -1.0, 0.0])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.sigmoid_focal_loss(logits, jnp.array([1, 0, 1]), alpha=0.25))
    [0.0005 0.017  0.0433]
  """
  check_subdtype(logits, jnp.floating)
  labels = jnp.astype(labels, logits.dtype)
  ce_loss = sigmoid_binary_cross_entropy(logits, labels)
  log_p = jax.nn.log_sigmoid(logits)
  log_q = jax.nn.log_sigmoid(-logits)
  # log(1 - p_t) = log((1 - labels) * p + labels * (1 - p)), as one logsumexp.
  log_one_minus_p_t = jax.scipy.special.logsumexp(
      jnp.stack([log_p, log_q], axis=-1),
      axis=-1,
      b=jnp.stack([1 - labels, labels], axis=-1),
  )
  loss = ce_loss * jnp.exp(gamma * log_one_minus_p_t)
  if alpha is None:
    return loss
  return (alpha * labels + (1.0 - alpha) * (1.0 - labels)) * loss


@jax.custom_jvp
def weighted_logsoftmax(x: jax.typing.ArrayLike, weights: jax.typing.ArrayLike) -> jax.Array:
  """`weights * log_softmax(x)` over the last axis, with `0 * log 0 = 0`.

  Where a weight is 0 the output is 0 (not NaN), even where `x = -inf`.

  Args:
    x: input array.
    weights: weights, broadcastable to `x`.

  Returns:
    `log_softmax(x)` multiplied elementwise by `weights`.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.losses._classification import weighted_logsoftmax
    >>> print(weighted_logsoftmax(jnp.array([0.0, -jnp.inf]), jnp.array([1.0, 0.0])))
    [0. 0.]
  """
  logsoftmax_x = jax.nn.log_softmax(x, axis=-1)
  return jnp.where(weights != 0.0, weights * logsoftmax_x, jnp.zeros_like(logsoftmax_x))


@weighted_logsoftmax.defjvp
def _weighted_logsoftmax_jvp(primals, tangents):
  x, weights = primals
  x_dot, weights_dot = tangents
  logsoftmax_x = jax.nn.log_softmax(x, axis=-1)
  result = jnp.where(weights != 0.0, weights * logsoftmax_x, jnp.zeros_like(logsoftmax_x))
  out_tangents = (
      weights * x_dot
      - weights * jnp.sum(x_dot * jax.nn.softmax(x, axis=-1), axis=-1, keepdims=True)
      + weights_dot * logsoftmax_x
  )
  return result, out_tangents


def safe_softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Softmax cross entropy that treats `labels * log_softmax(logits)` as 0 where `labels = 0`.

  Unlike `softmax_cross_entropy`, a `-inf` logit with a zero label contributes 0 (the convention
  `0 log 0 = 0`) instead of NaN, in the value and in the gradient.

  Args:
    logits: unnormalized log probabilities, shape `[..., num_classes]`.
    labels: probability distributions (non-negative, summing to 1), broadcastable to `logits`.

  Returns:
    The cross entropy of each prediction against its target distribution, shape `[...]`.

  References:
    "Cross entropy", Wikipedia, https://en.wikipedia.org/wiki/Cross-entropy

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([1.2, -0.8, -jnp.inf])
    >>> print(f"{fo.losses.safe_softmax_cross_entropy(logits, jnp.array([1.0, 0.0, 0.0])):.4f}")
    0.1269
  """
  check_subdtype(logits, jnp.floating)
  return -jnp.sum(weighted_logsoftmax(logits, labels), axis=-1)


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Axis = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Softmax (categorical) cross entropy between `logits` and target distributions `labels`.

  `-sum_j labels[..., j] * log_softmax(logits)[..., j]` over `axis`.

  Args:
    logits: unnormalized log probabilities, e.g. shape `[batch_size, num_classes]`.
    labels: target distributions (e.g. one-hot), shaped like `logits`.
    axis: axis or axes along which to compute.
    where: elements to include, shaped like `logits` or like the result.

  Returns:
    The cross entropy of each prediction against its target distribution, e.g. shape
    `[batch_size]`.

  References:
    "Cross entropy", Wikipedia, https://en.wikipedia.org/wiki/Cross-entropy;
    "Multinomial logistic regression", Wikipedia,
    https://en.wikipedia.org/wiki/Multinomial_logistic_regression

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.softmax_cross_entropy(logits, labels))
    [0.2761 2.9518]
  """
  check_subdtype(logits, jnp.floating)
  if where is not None and where.ndim != logits.ndim:
    where = jnp.expand_dims(where, axis)
  log_probs = jax.nn.log_softmax(logits, axis, where)
  return -(labels * log_probs).sum(axis, where=where)


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: Union[int, tuple[int, ...]] = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Softmax (categorical) cross entropy between `logits` and integer class `labels`.

  `logsumexp(logits) - logits[label]` along `axis`: the normalizer is subtracted from the label's
  logit only, not from every logit.

  Args:
    logits: unnormalized log probabilities, e.g. shape `[batch_size, num_classes]`.
    labels: integer class of each example in `[0, num_classes)`, e.g. shape `[batch_size]`.
    axis: axis or axes of the classes. With a tuple of axes, `num_classes` is the number of
      elements of a `logits` slice over those axes and a label is a flat index into that slice.
    where: elements to include, shaped like `logits` or like the result; a result with no
      element included is 0.

  Returns:
    The cross entropy of each prediction, e.g. shape `[batch_size]`.

  Raises:
    ValueError: if `axis` is neither an int nor a tuple of ints.

  References:
    "Cross entropy", Wikipedia, https://en.wikipedia.org/wiki/Cross-entropy;
    "Multinomial logistic regression", Wikipedia,
    https://en.wikipedia.org/wiki/Multinomial_logistic_regression

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 1])))
    [0.2761 2.9518]
  """
  check_subdtype(logits, jnp.floating)
  check_subdtype(labels, jnp.integer)
  if where is not None and where.ndim != logits.ndim:
    where = jnp.expand_dims(where, axis)
  if isinstance(axis, int):
    axis = canonicalize_axis(axis, logits.ndim)
  elif isinstance(axis, tuple):
    # Move the class axes last (keeping their order) and flatten them into one.
    logit_axis = canonicalize_axes(axis, logits.ndim)
    batch_axis = tuple(x for x in range(logits.ndim) if x not in logit_axis)
    axis = len(batch_axis)
    logits = logits.transpose(batch_axis + logit_axis)
    logits = logits.reshape(logits.shape[: len(batch_axis)] + (-1,))
    if where is not None:
      where = where.transpose(batch_axis + logit_axis)
      where = where.reshape(where.shape[: len(batch_axis)] + (-1,))
  else:
    raise ValueError(
        "Keyword argument 'axis' must be of type 'int' or 'tuple[int, ...]' but actual type is "
        f"{type(axis)}."
    )
  label_logits = jnp.take_along_axis(logits, jnp.expand_dims(labels, axis), axis=axis).take(
      0, axis=axis
  )
  log_normalizers = jax.nn.logsumexp(logits, axis=axis, where=where)
  out = log_normalizers - label_logits
  if where is not None:
    out = jnp.where(jnp.any(where, axis), out, 0.0)
  return out


@deprecated(replacement="softmax_cross_entropy_with_integer_labels")
def multiclass_logistic_loss(logits, labels):
  """Deprecated alias of `softmax_cross_entropy_with_integer_labels`."""
  return softmax_cross_entropy_with_integer_labels(logits, labels)


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: Axis = -1,
    where: Union[jax.typing.ArrayLike, None] = None,
) -> jax.Array:
  r"""Poly-1 loss: softmax cross entropy plus `epsilon * (1 - p_t)`.

  PolyLoss expands cross entropy in the basis `(1 - p_t)^j`; Poly-1 changes only the coefficient
  of the first term, `-log(p_t) + epsilon * (1 - p_t)`, with `p_t` the probability the model gives
  the target distribution.

  Args:
    logits: unnormalized log probabilities, shape `[..., num_classes]`.
    labels: target distributions (non-negative, summing to 1), broadcastable to `logits`.
    epsilon: coefficient of the first polynomial term; the paper recommends 2.0 for ImageNet
      classification and -1.0 for instance segmentation and detection.
    axis: axis or axes along which to compute.
    where: elements to include.

  Returns:
    The poly loss of each prediction, shape `[...]`.

  References:
    Leng et al., 2022, "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
    Functions", https://arxiv.org/abs/2204.12511

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
    >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.poly_loss_cross_entropy(logits, labels))
    [0.7587 4.8473]
  """
  check_subdtype(logits, jnp.floating)
  check_subdtype(labels, jnp.floating)
  p = jax.nn.softmax(logits, axis=axis, where=where)
  one_minus_pt = jnp.sum(labels * (1 - p), axis=axis, where=where)
  cross_entropy = softmax_cross_entropy(logits=logits, labels=labels, axis=axis, where=where)
  return cross_entropy + epsilon * one_minus_pt
