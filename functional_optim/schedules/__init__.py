"""Learning-rate schedules and hyperparameter injection, under the names of `optax.schedules`."""

from .._base import Schedule
from .._base import StatefulSchedule
from ._inject import inject_hyperparams
from ._inject import inject_stateful_hyperparams
from ._inject import InjectHyperparamsState
from ._inject import InjectStatefulHyperparamsState
from ._inject import WrappedSchedule
from ._join import join_schedules
from ._schedule import constant_schedule
from ._schedule import cosine_decay_schedule
from ._schedule import cosine_onecycle_schedule
from ._schedule import exponential_decay
from ._schedule import linear_onecycle_schedule
from ._schedule import linear_schedule
from ._schedule import piecewise_constant_schedule
from ._schedule import piecewise_interpolate_schedule
from ._schedule import polynomial_schedule
from ._schedule import sgdr_schedule
from ._schedule import warmup_constant_schedule
from ._schedule import warmup_cosine_decay_schedule
from ._schedule import warmup_exponential_decay_schedule
