"""Learning-rate schedules and hyperparameter injection, under optax's names."""

from ._inject import *  # noqa: F401,F403
from ._schedules import *  # noqa: F401,F403
