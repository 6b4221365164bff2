"""Gradient transformations under the names of `optax.transforms`.

Each family is a private module, as in optax's `optax/transforms/`; the same names are
also exported at the top level of `functional_optim`.
"""

from ._accumulation import ema
from ._accumulation import EmaState
from ._accumulation import MultiSteps
from ._accumulation import MultiStepsState
from ._accumulation import ShouldSkipUpdateFunction
from ._accumulation import skip_large_updates
from ._accumulation import skip_not_finite
from ._accumulation import trace
from ._accumulation import TraceState
from ._adding import add_decayed_weights
from ._adding import add_noise
from ._adding import AddNoiseState
from ._clipping import adaptive_grad_clip
from ._clipping import clip
from ._clipping import clip_by_block_rms
from ._clipping import clip_by_global_norm
from ._clipping import per_example_global_norm_clip
from ._clipping import per_example_layer_norm_clip
from ._clipping import unitwise_clip
from ._clipping import unitwise_norm
from ._combining import chain
from ._combining import named_chain
from ._combining import partition
from ._combining import PartitionState
from ._conditionality import apply_if_finite
from ._conditionality import ApplyIfFiniteState
from ._conditionality import conditionally_mask
from ._conditionality import conditionally_transform
from ._conditionality import ConditionallyMaskState
from ._conditionality import ConditionallyTransformState
from ._conditionality import ConditionFn
from ._constraining import keep_params_nonnegative
from ._constraining import NonNegativeParamsState
from ._constraining import zero_nans
from ._constraining import ZeroNansState
from ._freezing import freeze
from ._freezing import selective_transform
from ._layouts import flatten
from ._masking import masked
from ._masking import MaskedNode
from ._masking import MaskedState
from ._monitoring import measure_with_ema
from ._monitoring import monitor
from ._monitoring import MonitorState
from ._monitoring import snapshot
from ._monitoring import SnapshotState

__all__ = (
    "adaptive_grad_clip",
    "add_decayed_weights",
    "add_noise",
    "AddNoiseState",
    "apply_if_finite",
    "ApplyIfFiniteState",
    "chain",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "clip",
    "conditionally_mask",
    "ConditionallyMaskState",
    "conditionally_transform",
    "ConditionallyTransformState",
    "ema",
    "EmaState",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "masked",
    "MaskedState",
    "measure_with_ema",
    "monitor",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "named_chain",
    "NonNegativeParamsState",
    "partition",
    "PartitionState",
    "selective_transform",
    "ShouldSkipUpdateFunction",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "SnapshotState",
    "trace",
    "TraceState",
    "zero_nans",
    "ZeroNansState",
)
