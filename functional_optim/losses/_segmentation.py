"""Segmentation losses: (generalized, Tversky-weighted) Dice losses."""

from typing import Optional

import jax
import jax.numpy as jnp

from ._checks import check_rank
from ._checks import check_shapes_equal

__all__ = ["binary_dice_loss", "dice_loss", "multiclass_generalized_dice_loss"]


def _reduce_loss(loss: jax.Array, reduction: str, axis: Optional[int] = None) -> jax.Array:
  if reduction == "mean":
    return jnp.mean(loss, axis=axis)
  if reduction == "sum":
    return jnp.sum(loss, axis=axis)
  if reduction == "none":
    return loss
  raise ValueError(f"Unsupported reduction: {reduction}")


def _check_probabilities(predictions: jax.Array) -> None:
  """Raises `ValueError` unless `predictions` are probabilities, where values are known.

  Several classes must sum to 1 along the last axis; a single (binary) channel must lie in
  [0, 1]. Deviations from optax 0.2.8: there a single channel must sum to 1 too, so
  `binary_dice_loss(..., apply_sigmoid=False)` rejects every prediction but 1; and the check
  raises a `TracerBoolConversionError` under `jit`, where here it is skipped (the values are not
  known when tracing).
  """
  if predictions.shape[-1] == 1:
    valid = (predictions >= 0) & (predictions <= 1)
    problem = "binary predictions must be probabilities in [0, 1]"
  else:
    pred_sums = jnp.sum(predictions, axis=-1)
    valid = jnp.allclose(pred_sums, 1.0, rtol=1e-5)
    problem = (
        "predictions must be valid probability distributions that sum to 1 along the class "
        "axis"
    )
  try:
    valid = bool(jnp.all(valid))
  except jax.errors.ConcretizationTypeError:
    return
  if not valid:
    if predictions.shape[-1] == 1:
      found = f"Found range: [{jnp.min(predictions):.6f}, {jnp.max(predictions):.6f}]"
    else:
      found = f"Found sum range: [{jnp.min(pred_sums):.6f}, {jnp.max(pred_sums):.6f}]"
    raise ValueError(f"When apply_softmax=False, {problem}. {found}")


def dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    class_weights: Optional[jax.typing.ArrayLike] = None,
    smooth: jax.typing.ArrayLike = 1.0,
    alpha: jax.typing.ArrayLike = 0.5,
    beta: jax.typing.ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: Optional[jax.typing.ArrayLike] = None,
) -> jax.Array:
  r"""Soft Dice (Tversky) loss for binary and multi-class segmentation.

  For each class `c`, with `I_c = sum_i p_ic t_ic`, `P_c = sum_i p_ic`, `T_c = sum_i t_ic`:
  `dice_c = 1 - (I_c + smooth) / (I_c + alpha (P_c - I_c) + beta (T_c - I_c) + smooth)`, then
  reduced over the classes. `alpha` weighs the false positives and `beta` the false negatives:
  `alpha = beta = 0.5` is the standard Dice loss, other values the Tversky loss.

  Args:
    predictions: logits of shape `[..., num_classes]`, or `[..., 1]` or `[...]` for binary
      segmentation.
    targets: one-hot targets of shape `[..., num_classes]`, or binary targets of shape `[..., 1]`
      or `[...]`.
    class_weights: optional `[num_classes]` weight of each class; `None` weighs all equally.
    smooth: smoothing term, avoids division by zero and steadies the gradient.
    alpha: weight of the false positives.
    beta: weight of the false negatives.
    apply_softmax: whether to turn the logits into probabilities (softmax over the classes, or
      sigmoid for a single channel); `False` if `predictions` are probabilities already.
    reduction: `"mean"`, `"sum"` or `"none"` (per-class losses) over the classes.
    ignore_background: whether to leave class 0 (background) out.
    axis: axis or axes summed over; `None` sums over all but the first and the last.

  Returns:
    The loss, shape `[...]` (batch dimensions) for `"mean"`/`"sum"`, `[..., num_classes]` for
    `"none"`.

  Raises:
    ValueError: for an unknown `reduction`, mismatched shapes, or (outside `jit`) predictions that
      are not probabilities when `apply_softmax=False`.

  References:
    Milletari et al., 2016, "V-Net: Fully Convolutional Neural Networks for Volumetric Medical
    Image Segmentation", https://arxiv.org/abs/1606.04797;
    Salehi et al., 2017, "Tversky loss function for image segmentation using 3D fully
    convolutional deep networks", https://arxiv.org/abs/1706.05721

  Example:
    >>> import jax
    >>> import functional_optim as fo
    >>> key = jax.random.key(0)
    >>> logits = jax.random.normal(key, (2, 4, 4, 3))
    >>> targets = jax.nn.one_hot(jax.random.randint(key, (2, 4, 4), 0, 3), 3)
    >>> fo.losses.dice_loss(logits, targets, alpha=0.3, beta=0.7).shape
    (2,)
  """
  if predictions.ndim == targets.ndim - 1:
    predictions = predictions[..., None]
  if targets.ndim == predictions.ndim - 1:
    targets = targets[..., None]
  check_shapes_equal(predictions, targets)
  if not apply_softmax:
    _check_probabilities(predictions)

  probs = predictions
  if apply_softmax:
    probs = (
        jax.nn.sigmoid(predictions)
        if predictions.shape[-1] == 1
        else jax.nn.softmax(predictions, axis=-1)
    )
  # By default, sum over all spatial dimensions (all but the first and the last).
  axis = tuple(range(1, probs.ndim - 1)) if axis is None else axis

  intersection = jnp.sum(probs * targets, axis=axis)
  pred_sum = jnp.sum(probs, axis=axis)
  target_sum = jnp.sum(targets, axis=axis)
  numerator = intersection + smooth
  denominator = (
      intersection
      + alpha * (pred_sum - intersection)
      + beta * (target_sum - intersection)
      + smooth
  )
  dice_l = 1.0 - numerator / denominator  # [..., classes]

  if class_weights is not None:
    check_rank(class_weights, 1)
    dice_l = dice_l * class_weights
  if ignore_background and probs.shape[-1] > 1:
    dice_l = dice_l[..., 1:]
  return _reduce_loss(dice_l, reduction, axis=-1)


def multiclass_generalized_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
  """Generalized Dice loss: Dice weighted by the inverse squared class frequencies.

  The weights `1 / (frequency**2 + 1e-7)`, normalized to sum to `num_classes`, counter class
  imbalance.

  Args:
    predictions: logits of shape `[..., num_classes]`.
    targets: one-hot targets of shape `[..., num_classes]`.
    smooth: smoothing term.
    apply_softmax: whether to apply a softmax to `predictions`.
    ignore_background: whether to leave class 0 (background) out.

  Returns:
    The scalar loss, averaged over the classes and the batch.

  References:
    Sudre et al., 2017, "Generalised Dice overlap as a deep learning loss function for highly
    unbalanced segmentations", https://arxiv.org/abs/1707.03237

  Example:
    >>> import jax
    >>> import functional_optim as fo
    >>> key = jax.random.key(0)
    >>> logits = jax.random.normal(key, (2, 4, 4, 3))
    >>> targets = jax.nn.one_hot(jax.random.randint(key, (2, 4, 4), 0, 3), 3)
    >>> fo.losses.multiclass_generalized_dice_loss(logits, targets).shape
    ()
  """
  check_shapes_equal(predictions, targets)
  class_frequencies = jnp.sum(targets, axis=tuple(range(targets.ndim - 1)))
  epsilon = 1e-7  # no division by zero for absent classes
  class_weights = 1.0 / (class_frequencies**2 + epsilon)
  class_weights = class_weights / jnp.sum(class_weights) * len(class_weights)
  return jnp.mean(
      dice_loss(
          predictions,
          targets,
          class_weights=class_weights,
          smooth=smooth,
          apply_softmax=apply_softmax,
          reduction="none",
          ignore_background=ignore_background,
      )
  )


def binary_dice_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    smooth: jax.typing.ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
  """Binary Dice loss: `dice_loss` of single-channel predictions.

  Args:
    predictions: logits of shape `[...]` or `[..., 1]`.
    targets: binary targets of shape `[...]` or `[..., 1]`.
    smooth: smoothing term.
    apply_sigmoid: whether to apply a sigmoid to `predictions`.

  Returns:
    The loss, shape `[...]` (batch dimensions only).

  References:
    Milletari et al., 2016, "V-Net: Fully Convolutional Neural Networks for Volumetric Medical
    Image Segmentation", https://arxiv.org/abs/1606.04797

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> logits = jnp.array([[[1.0, -1.0], [0.5, 0.5]]])  # one 2x2 image
    >>> targets = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])
    >>> with jnp.printoptions(precision=4):
    ...   print(fo.losses.binary_dice_loss(logits, targets))
    [0.2463]
  """
  # Both get a channel dimension.
  if predictions.ndim == targets.ndim and predictions.shape[-1] != 1:
    predictions = predictions[..., None]
    targets = targets[..., None]
  return dice_loss(
      predictions, targets, smooth=smooth, apply_softmax=apply_sigmoid, reduction="mean"
  )
