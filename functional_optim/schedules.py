"""Learning-rate schedules and hyperparameter injection, under optax's names."""

from ._inject import inject_hyperparams
from ._inject import inject_stateful_hyperparams
from ._inject import InjectHyperparamsState
from ._inject import InjectStatefulHyperparamsState
from ._inject import WrappedSchedule
from ._schedules import constant_schedule
from ._schedules import cosine_decay_schedule
from ._schedules import cosine_onecycle_schedule
from ._schedules import exponential_decay
from ._schedules import join_schedules
from ._schedules import linear_onecycle_schedule
from ._schedules import linear_schedule
from ._schedules import piecewise_constant_schedule
from ._schedules import piecewise_interpolate_schedule
from ._schedules import polynomial_schedule
from ._schedules import sgdr_schedule
from ._schedules import warmup_constant_schedule
from ._schedules import warmup_cosine_decay_schedule
from ._schedules import warmup_exponential_decay_schedule
