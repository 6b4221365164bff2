"""functional_optim: optax-compatible gradient transformations in pure JAX.

Every public optax core name exists here with the same arguments and defaults, so
`import functional_optim as optax` is a working switch.
"""

from . import schedules
from . import tree
from ._adding import AddNoiseState
from ._adding import WeightDecaySchedule
from ._adding import add_decayed_weights
from ._adding import add_noise
from ._base import ArrayTree
from ._base import EmptyState
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import OptState
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import Schedule
from ._base import TransformInitFn
from ._base import TransformUpdateExtraArgsFn
from ._base import TransformUpdateFn
from ._base import Updates
from ._base import identity
from ._base import init_empty_state
from ._base import set_to_zero
from ._base import stateless
from ._base import stateless_with_tree_map
from ._base import with_extra_args_support
from ._combine import chain
from ._combine import named_chain
from ._masking import MaskedNode
from ._masking import MaskedState
from ._masking import masked
from ._numerics import abs_sq
from ._numerics import safe_increment
from ._numerics import safe_int32_increment
from ._numerics import safe_norm
from ._numerics import safe_root_mean_squares
from ._scaling import ScaleByScheduleState
from ._scaling import scale
from ._scaling import scale_by_learning_rate
from ._scaling import scale_by_schedule
from ._tree import bias_correction
from ._tree import global_norm
from ._tree import update_infinity_moment
from ._tree import update_moment
from ._tree import update_moment_per_elem_norm
from ._update import apply_updates
from ._update import incremental_update
from ._update import periodic_update

# BEGIN families (temporary star imports while families are written in parallel)
from ._accumulation import *  # noqa: F401,F403
from ._adabelief import *  # noqa: F401,F403
from ._adadelta import *  # noqa: F401,F403
from ._adam import *  # noqa: F401,F403
from ._adamax import *  # noqa: F401,F403
from ._adan import *  # noqa: F401,F403
from ._clipping import *  # noqa: F401,F403
from ._conditionality import *  # noqa: F401,F403
from ._constraining import *  # noqa: F401,F403
from ._dog import *  # noqa: F401,F403
from ._factored import *  # noqa: F401,F403
from ._freezing import *  # noqa: F401,F403
from ._inject import *  # noqa: F401,F403
from ._layouts import *  # noqa: F401,F403
from ._lbfgs import *  # noqa: F401,F403
from ._linesearch import *  # noqa: F401,F403
from ._lion import *  # noqa: F401,F403
from ._lookahead import *  # noqa: F401,F403
from ._momentum import *  # noqa: F401,F403
from ._normalizing import *  # noqa: F401,F403
from ._novograd import *  # noqa: F401,F403
from ._optimistic import *  # noqa: F401,F403
from ._partition import *  # noqa: F401,F403
from ._polyak import *  # noqa: F401,F403
from ._radam import *  # noqa: F401,F403
from ._rms import *  # noqa: F401,F403
from ._rprop import *  # noqa: F401,F403
from ._schedules import *  # noqa: F401,F403
from ._sign import *  # noqa: F401,F403
from ._sm3 import *  # noqa: F401,F403
from ._trust_ratio import *  # noqa: F401,F403
from ._yogi import *  # noqa: F401,F403
# END families

__version__ = "0.1.0"
