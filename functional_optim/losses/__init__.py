"""Loss functions, mirroring ``optax.losses`` name for name.

Each family lives in its own private module: classification (cross entropies, divergences,
margins, CTC), regression, ranking, segmentation, self-supervised, smoothing and Fenchel-Young.
"""

# pylint: disable=g-importing-member

from ._classification import poly_loss_cross_entropy
from ._classification import safe_softmax_cross_entropy
from ._classification import sigmoid_binary_cross_entropy
from ._classification import sigmoid_focal_loss
from ._classification import softmax_cross_entropy
from ._classification import softmax_cross_entropy_with_integer_labels
from ._ctc import ctc_loss
from ._ctc import ctc_loss_with_forward_probs
from ._divergences import convex_kl_divergence
from ._divergences import generalized_kl_divergence
from ._divergences import kl_divergence
from ._divergences import kl_divergence_with_log_targets
from ._fenchel_young import make_fenchel_young_loss
from ._margins import hinge_loss
from ._margins import multiclass_hinge_loss
from ._margins import multiclass_perceptron_loss
from ._margins import multiclass_sparsemax_loss
from ._margins import perceptron_loss
from ._margins import sparsemax_loss
from ._ranking import ranking_softmax_loss
from ._regression import cosine_distance
from ._regression import cosine_similarity
from ._regression import huber_loss
from ._regression import l2_loss
from ._regression import log_cosh
from ._regression import squared_error
from ._segmentation import binary_dice_loss
from ._segmentation import dice_loss
from ._segmentation import multiclass_generalized_dice_loss
from ._self_supervised import ntxent
from ._self_supervised import triplet_margin_loss
from ._smoothing import smooth_labels

__all__ = [
    "binary_dice_loss",
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "ctc_loss",
    "ctc_loss_with_forward_probs",
    "dice_loss",
    "generalized_kl_divergence",
    "hinge_loss",
    "huber_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l2_loss",
    "log_cosh",
    "make_fenchel_young_loss",
    "multiclass_generalized_dice_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "ntxent",
    "perceptron_loss",
    "poly_loss_cross_entropy",
    "ranking_softmax_loss",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "sparsemax_loss",
    "squared_error",
    "triplet_margin_loss",
]
