"""Margin losses for classification: hinge, perceptron and sparsemax, binary and multiclass."""

import jax
import jax.numpy as jnp

import functional_optim as fo

from ._checks import check_shapes_equal
from ._checks import deprecated

__all__ = [
    "binary_sparsemax_loss",
    "hinge_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "perceptron_loss",
    "sparsemax_loss",
]


def hinge_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
  """Binary hinge loss, `max(0, 1 - predictor_outputs * targets)`.

  Args:
    predictor_outputs: outputs of the decision function.
    targets: targets in {-1, 1}.

  Returns:
    The loss of each prediction.

  References:
    "Hinge loss", Wikipedia, https://en.wikipedia.org/wiki/Hinge_loss

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.hinge_loss(jnp.array([2.0, 0.5, -1.0]), jnp.array([1.0, 1.0, 1.0])))
    [0.  0.5 2. ]
  """
  return jnp.maximum(0, 1 - predictor_outputs * targets)


def perceptron_loss(
    predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike
) -> jax.Array:
  """Binary perceptron loss, `max(0, -predictor_outputs * targets)`.

  Args:
    predictor_outputs: scores produced by the model.
    targets: targets in {-1, 1}, shaped like `predictor_outputs`.

  Returns:
    The loss of each prediction.

  References:
    "Perceptron", Wikipedia, https://en.wikipedia.org/wiki/Perceptron

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.perceptron_loss(jnp.array([2.0, -0.5]), jnp.array([1.0, 1.0])))
    [0.  0.5]
  """
  check_shapes_equal(predictor_outputs, targets)
  return jnp.maximum(0, -predictor_outputs * targets)


def sparsemax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Binary sparsemax loss: zero exactly where `jax.nn.sparse_sigmoid(logits) == labels`.

  Args:
    logits: scores produced by the model.
    labels: integer labels in {0, 1}.

  Returns:
    The loss of each prediction.

  References:
    Blondel, Martins and Niculae, 2020, "Learning with Fenchel-Young Losses", JMLR, Sec. 4.4,
    https://arxiv.org/abs/1901.02324

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> print(fo.losses.sparsemax_loss(jnp.array([2.0, 0.0, -0.5]), jnp.array([1, 1, 0])))
    [0.     0.25   0.0625]
  """
  return jax.nn.sparse_plus(jnp.where(labels, -logits, logits))


@deprecated(replacement="sparsemax_loss")
def binary_sparsemax_loss(logits, labels):
  """Deprecated alias of `sparsemax_loss`."""
  return sparsemax_loss(logits, labels)


_dot_last_dim = jnp.vectorize(jnp.dot, signature="(n),(n)->()")


def multiclass_hinge_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Multiclass hinge loss, `max_j(scores_j + 1[j != label]) - scores_label`.

  Args:
    scores: scores produced by the model, shape `[..., num_classes]`.
    labels: integer labels, shape `[...]`.

  Returns:
    The loss of each example, shape `[...]`.

  References:
    "Hinge loss", Wikipedia, https://en.wikipedia.org/wiki/Hinge_loss

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> scores = jnp.array([[2.0, 1.5, -1.0], [0.0, 1.0, 3.0]])
    >>> print(fo.losses.multiclass_hinge_loss(scores, jnp.array([0, 2])))
    [0.5 0. ]
  """
  one_hot_labels = jax.nn.one_hot(labels, scores.shape[-1])
  return jnp.max(scores + 1.0 - one_hot_labels, axis=-1) - _dot_last_dim(scores, one_hot_labels)


def multiclass_perceptron_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Multiclass perceptron loss, `max_j scores_j - scores_label`.

  Args:
    scores: scores produced by the model, shape `[..., num_classes]`.
    labels: integer labels, shape `[...]`.

  Returns:
    The loss of each example, shape `[...]`.

  References:
    Collins, 2002, "Discriminative training methods for Hidden Markov Models: Theory and
    experiments with perceptron algorithms", EMNLP, https://aclanthology.org/W02-1001/

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> scores = jnp.array([[2.0, 1.5, -1.0], [0.0, 1.0, 3.0]])
    >>> print(fo.losses.multiclass_perceptron_loss(scores, jnp.array([1, 2])))
    [0.5 0. ]
  """
  one_hot_labels = jax.nn.one_hot(labels, scores.shape[-1])
  return jnp.max(scores, axis=-1) - _dot_last_dim(scores, one_hot_labels)


def _multiclass_sparsemax_loss(scores: jax.Array, label: jax.Array) -> jax.Array:
  scores = jnp.asarray(scores)
  proba = fo.projections.projection_simplex(scores)
  # Fenchel conjugate of the Gini negentropy:
  # dot(proba, scores) + 0.5 * dot(proba, 1 - proba), minus the label's score.
  scores = (scores - scores[label]).at[label].set(0.0)
  return jnp.dot(proba, jnp.where(proba, scores, 0.0)) + 0.5 * (1.0 - jnp.dot(proba, proba))


def multiclass_sparsemax_loss(
    scores: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
) -> jax.Array:
  """Multiclass sparsemax loss: the Fenchel-Young loss of the Gini negentropy.

  Zero exactly where `sparsemax(scores)` is the one-hot vector of the label.

  Args:
    scores: scores produced by the model, shape `[batch, num_classes]`.
    labels: integer labels, shape `[batch]`.

  Returns:
    The loss of each example, shape `[batch]`.

  References:
    Martins and Astudillo, 2016, "From Softmax to Sparsemax: A Sparse Model of Attention and
    Multi-Label Classification", https://arxiv.org/abs/1602.02068

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> scores = jnp.array([[2.0, 1.5, -1.0], [0.0, 1.0, 3.0]])
    >>> print(fo.losses.multiclass_sparsemax_loss(scores, jnp.array([1, 2])))
    [0.5625 0.    ]
  """
  return jax.vmap(_multiclass_sparsemax_loss)(scores, labels)
