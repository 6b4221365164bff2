"""Self-supervised losses: NT-Xent and the triplet margin loss."""

import jax
import jax.numpy as jnp
from jax import lax

from ._checks import check_subdtype
from ._regression import cosine_similarity

__all__ = ["ntxent", "triplet_margin_loss"]


def ntxent(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    temperature: jax.typing.ArrayLike = 0.07,
) -> jax.Array:
  """Normalized temperature-scaled cross entropy (NT-Xent) of a batch of embeddings.

  Each pair of embeddings with the same label is a positive pair; every other embedding is a
  negative for it. The loss is the softmax cross entropy of each positive pair's cosine similarity
  (divided by `temperature`) against the negatives', averaged over the positive pairs.

  Args:
    embeddings: batch of embeddings, shape `[batch, feature_length]`.
    labels: `[batch]` group of each embedding: e.g. `[0, 0, 1, 1]` when the first two and the
      last two are positive pairs.
    temperature: temperature scaling the similarities.

  Returns:
    The scalar NT-Xent loss, averaged over all positive pairs.

  Raises:
    ValueError: if `labels` and `embeddings` differ in their leading dimension.

  References:
    Chen et al., 2020, "A Simple Framework for Contrastive Learning of Visual Representations",
    http://arxiv.org/abs/2002.05709;
    https://kevinmusgrave.github.io/pytorch-metric-learning/losses/#ntxentloss

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> embeddings = jnp.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> print(f"{fo.losses.ntxent(embeddings, jnp.array([0, 0, 1, 1])):.4f}")
    0.0000
  """
  check_subdtype(embeddings, jnp.floating)
  if labels.shape[0] != embeddings.shape[0]:
    raise ValueError(
        "Labels and embeddings must have the same leading dimension, found"
        f" {labels.shape[0]} for labels and {embeddings.shape[0]} for embeddings."
    )
  # cosine similarity matrix
  xcs = (
      cosine_similarity(
          embeddings[None, :, :], embeddings[:, None, :], epsilon=jnp.finfo(embeddings.dtype).eps
      )
      / temperature
  )
  # positive and negative pairs (an embedding is not its own positive)
  matches = jnp.expand_dims(labels, axis=1) == jnp.expand_dims(labels, axis=0)
  diffs = matches ^ 1
  matches = jnp.bool_(matches - jnp.eye(matches.shape[0]))
  xcs_diffs = jnp.where(diffs == 1, xcs, -jnp.inf)
  xcs_matches = jnp.where(matches == 1, xcs, -jnp.inf)
  # shift by the row maximum for numerical stability
  comb = jnp.concatenate((xcs_diffs, xcs_matches), axis=-1)
  xcs_max = jnp.max(comb, axis=1, keepdims=True)
  xcs_shift_diffs = xcs_diffs - lax.stop_gradient(xcs_max)
  xcs_shift_matches = xcs_matches - lax.stop_gradient(xcs_max)
  # each positive against itself plus all negatives
  numer = xcs_shift_matches
  denom = jnp.sum(jnp.exp(xcs_shift_diffs), axis=1, keepdims=True) + jnp.exp(xcs_shift_matches)
  log_softm = numer - jnp.log(denom)
  return -jnp.where(matches == 1, log_softm, 0.0).sum() / matches.sum()


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    axis: int = -1,
    norm_degree: jax.typing.ArrayLike = 2,
    margin: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
  """Triplet margin loss, `max(d(a, p) - d(a, n) + margin, 0)`, of a batch of embeddings.

  `d(x, y) = (sum |x - y|**norm_degree + eps) ** (1 / norm_degree)` along `axis`. Deviation from
  optax 0.2.8, which leaves out the absolute value: there, an odd `norm_degree` gives a signed
  "distance" (possibly negative) and a fractional one NaN. Even degrees agree.

  Args:
    anchors: anchor embeddings, shape `[batch, feature_dim]`.
    positives: embeddings similar to the anchors, shape `[batch, feature_dim]`.
    negatives: embeddings dissimilar to the anchors, shape `[batch, feature_dim]`.
    axis: axis along which to compute the distances.
    norm_degree: degree `p` of the `p`-norm distance (2 is Euclidean).
    margin: how much smaller than the negative distance the positive one should be.
    eps: small value added inside the root, for numerical stability.

  Returns:
    The loss of each triplet, shape `[batch]`.

  References:
    Balntas et al., 2016, "Learning local feature descriptors with triplets and shallow
    convolutional neural networks", BMVC,
    https://bmva-archive.org.uk/bmvc/2016/papers/paper119/abstract119.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> anchors = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    >>> positives = jnp.array([[0.1, 0.1], [1.1, 1.1]])
    >>> negatives = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.triplet_margin_loss(anchors, positives, negatives))
    [0.1414 0.1414]
  """
  check_subdtype(anchors, jnp.floating)
  check_subdtype(positives, jnp.floating)
  check_subdtype(negatives, jnp.floating)

  def distance(x, y):
    return jnp.power(jnp.power(jnp.abs(x - y), norm_degree).sum(axis) + eps, 1 / norm_degree)

  return jnp.maximum(distance(anchors, positives) - distance(anchors, negatives) + margin, 0)
