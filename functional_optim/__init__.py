"""functional_optim: optax-compatible gradient transformations in pure JAX.

Every public optax core name exists here with the same arguments and defaults, so
`import functional_optim as optax` is a working switch.
"""

from . import schedules
from . import transforms
from . import tree
from . import tree_utils
from .transforms._accumulation import apply_every
from .transforms._accumulation import ApplyEvery
from .transforms._accumulation import MultiSteps
from .transforms._accumulation import MultiStepsState
from .transforms._accumulation import ShouldSkipUpdateFunction
from .transforms._accumulation import skip_large_updates
from .transforms._accumulation import skip_not_finite
from ._adabelief import adabelief
from ._adabelief import scale_by_belief
from ._adabelief import ScaleByBeliefState
from ._adadelta import adadelta
from ._adadelta import scale_by_adadelta
from ._adadelta import ScaleByAdaDeltaState
from ._adam import adam
from ._adam import adamw
from ._adam import amsgrad
from ._adam import MaskOrFn
from ._adam import nadam
from ._adam import nadamw
from ._adam import scale_by_adam
from ._adam import scale_by_amsgrad
from ._adam import ScaleByAdamState
from ._adam import ScaleByAmsgradState
from ._adamax import adamax
from ._adamax import adamaxw
from ._adamax import scale_by_adamax
from ._adan import adan
from ._adan import scale_by_adan
from ._adan import ScaleByAdanState
from .transforms._adding import add_decayed_weights
from .transforms._adding import add_noise
from .transforms._adding import AddDecayedWeightsState
from .transforms._adding import AddNoiseState
from .transforms._adding import WeightDecaySchedule
from ._base import ArrayTree
from ._base import EmptyState
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import identity
from ._base import init_empty_state
from ._base import OptState
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import Schedule
from ._base import set_to_zero
from ._base import stateless
from ._base import stateless_with_tree_map
from ._base import TransformInitFn
from ._base import TransformUpdateExtraArgsFn
from ._base import TransformUpdateFn
from ._base import Updates
from ._base import with_extra_args_support
from ._checkpoint import load_state
from ._checkpoint import save_state
from ._checkpoint import state_from_dict
from ._checkpoint import state_to_dict
from .transforms._clipping import adaptive_grad_clip
from .transforms._clipping import AdaptiveGradClipState
from .transforms._clipping import clip
from .transforms._clipping import clip_by_block_rms
from .transforms._clipping import clip_by_global_norm
from .transforms._clipping import ClipByGlobalNormState
from .transforms._clipping import ClipState
from .transforms._clipping import per_example_global_norm_clip
from .transforms._clipping import per_example_layer_norm_clip
from .transforms._combining import chain
from .transforms._combining import named_chain
from .transforms._conditionality import apply_if_finite
from .transforms._conditionality import ApplyIfFiniteState
from .transforms._conditionality import conditionally_mask
from .transforms._conditionality import conditionally_transform
from .transforms._conditionality import ConditionallyMaskState
from .transforms._conditionality import ConditionallyTransformState
from .transforms._constraining import keep_params_nonnegative
from .transforms._constraining import NonNegativeParamsState
from .transforms._constraining import zero_nans
from .transforms._constraining import ZeroNansState
from ._dog import scale_by_distance_over_gradients
from ._dog import ScaleByDistanceOverGradientsState
from ._factored import adafactor
from ._factored import FactoredState
from ._factored import scale_by_factored_rms
from .transforms._freezing import freeze
from .transforms._freezing import selective_transform
from .schedules._inject import inject_hyperparams
from .schedules._inject import inject_stateful_hyperparams
from .schedules._inject import InjectHyperparamsState
from .schedules._inject import InjectStatefulHyperparamsState
from .schedules._inject import WrappedSchedule
from .transforms._layouts import flatten
from ._lbfgs import lbfgs
from ._lbfgs import scale_by_lbfgs
from ._lbfgs import ScaleByLBFGSState
from ._linesearch import scale_by_backtracking_linesearch
from ._linesearch import scale_by_zoom_linesearch
from ._linesearch import ScaleByBacktrackingLinesearchState
from ._linesearch import ScaleByZoomLinesearchState
from ._linesearch import value_and_grad_from_state
from ._linesearch import ZoomLinesearchInfo
from ._lion import lion
from ._lion import scale_by_lion
from ._lion import ScaleByLionState
from ._lookahead import lookahead
from ._lookahead import LookaheadParams
from ._lookahead import LookaheadState
from .transforms._masking import masked
from .transforms._masking import MaskedNode
from .transforms._masking import MaskedState
from .transforms._monitoring import measure_with_ema
from .transforms._monitoring import monitor
from .transforms._monitoring import MonitorState
from .transforms._monitoring import snapshot
from .transforms._monitoring import SnapshotState
from .transforms._accumulation import ema
from .transforms._accumulation import EmaState
from ._momentum import noisy_sgd
from ._momentum import sgd
from .transforms._accumulation import trace
from .transforms._accumulation import TraceState
from ._normalizing import centralize
from ._normalizing import normalize_by_update_norm
from ._normalizing import scale_gradient
from ._novograd import novograd
from ._novograd import scale_by_novograd
from ._novograd import ScaleByNovogradState
from ._numerics import abs_sq
from ._numerics import safe_increment
from ._numerics import safe_int32_increment
from ._numerics import safe_norm
from ._numerics import safe_root_mean_squares
from ._optimistic import optimistic_adam
from ._optimistic import optimistic_adam_v2
from ._optimistic import optimistic_gradient_descent
from ._optimistic import scale_by_optimistic_gradient
from ._optimistic import ScaleByOptimisticGradientState
from .transforms._combining import multi_transform
from .transforms._combining import MultiTransformState
from .transforms._combining import partition
from .transforms._combining import PartitionState
from ._polyak import polyak_sgd
from ._polyak import scale_by_polyak
from ._precision import with_state_dtype
from ._radam import radam
from ._radam import scale_by_radam
from ._rms import adagrad
from ._rms import rmsprop
from ._rms import scale_by_rms
from ._rms import scale_by_rss
from ._rms import scale_by_stddev
from ._rms import ScaleByRmsState
from ._rms import ScaleByRssState
from ._rms import ScaleByRStdDevState
from ._rprop import rprop
from ._rprop import scale_by_rprop
from ._rprop import ScaleByRpropState
from ._scaling import scale
from ._scaling import scale_by_learning_rate
from ._scaling import scale_by_schedule
from ._scaling import ScaleByScheduleState
from ._scaling import ScaleState
from .schedules._schedule import constant_schedule
from .schedules._schedule import cosine_decay_schedule
from .schedules._schedule import cosine_onecycle_schedule
from .schedules._schedule import exponential_decay
from .schedules._join import join_schedules
from .schedules._schedule import linear_onecycle_schedule
from .schedules._schedule import linear_schedule
from .schedules._schedule import piecewise_constant_schedule
from .schedules._schedule import piecewise_interpolate_schedule
from .schedules._schedule import polynomial_schedule
from .schedules._schedule import sgdr_schedule
from .schedules._schedule import warmup_constant_schedule
from .schedules._schedule import warmup_cosine_decay_schedule
from .schedules._schedule import warmup_exponential_decay_schedule
from ._sign import scale_by_sign
from ._sign import sign_sgd
from ._sign import signum
from ._sm3 import scale_by_sm3
from ._sm3 import ScaleBySM3State
from ._sm3 import sm3
from .tree_utils._tree_math import tree_bias_correction as bias_correction
from ._linear_algebra import global_norm
from ._linear_algebra import matrix_inverse_pth_root
from ._linear_algebra import nnls
from ._linear_algebra import power_iteration
from ._utils import multi_normal
from .tree_utils._state_utils import tree_map_params
from .tree_utils._tree_math import tree_update_infinity_moment as update_infinity_moment
from .tree_utils._tree_math import tree_update_moment as update_moment
from .tree_utils._tree_math import tree_update_moment_per_elem_norm as update_moment_per_elem_norm
from ._trust_ratio import fromage
from ._trust_ratio import lamb
from ._trust_ratio import lars
from ._trust_ratio import scale_by_param_block_norm
from ._trust_ratio import scale_by_param_block_rms
from ._trust_ratio import scale_by_trust_ratio
from ._trust_ratio import ScaleByTrustRatioState
from ._update import apply_updates
from ._update import incremental_update
from ._update import periodic_update
from ._yogi import scale_by_yogi
from ._yogi import yogi


__version__ = "0.1.0"

from . import contrib  # noqa: E402  (last: contrib uses the names above)
from . import experimental  # noqa: E402
from . import perturbations  # noqa: E402
from . import projections  # noqa: E402
from . import second_order  # noqa: E402
from . import assignment  # noqa: E402
from . import microbatching  # noqa: E402
from .microbatching import microbatch  # noqa: E402
from . import losses  # noqa: E402
from .losses import convex_kl_divergence  # noqa: E402
from .losses import cosine_distance  # noqa: E402
from .losses import cosine_similarity  # noqa: E402
from .losses import ctc_loss  # noqa: E402
from .losses import ctc_loss_with_forward_probs  # noqa: E402
from .losses import generalized_kl_divergence  # noqa: E402
from .losses import hinge_loss  # noqa: E402
from .losses import huber_loss  # noqa: E402
from .losses import kl_divergence  # noqa: E402
from .losses import l2_loss  # noqa: E402
from .losses import log_cosh  # noqa: E402
from .losses import ntxent  # noqa: E402
from .losses import safe_softmax_cross_entropy  # noqa: E402
from .losses import sigmoid_binary_cross_entropy  # noqa: E402
from .losses import sigmoid_focal_loss  # noqa: E402
from .losses import smooth_labels  # noqa: E402
from .losses import softmax_cross_entropy  # noqa: E402
from .losses import softmax_cross_entropy_with_integer_labels  # noqa: E402
from .losses import squared_error  # noqa: E402
