"""Euclidean projections, mirroring ``optax.projections`` name for name.

Use them after an update to keep parameters in a constraint set (projected gradient descent).
"""

# pylint: disable=g-importing-member

from functional_optim.projections._projections import projection_box
from functional_optim.projections._projections import projection_halfspace
from functional_optim.projections._projections import projection_hypercube
from functional_optim.projections._projections import projection_hyperplane
from functional_optim.projections._projections import projection_l1_ball
from functional_optim.projections._projections import projection_l1_sphere
from functional_optim.projections._projections import projection_l2_ball
from functional_optim.projections._projections import projection_l2_sphere
from functional_optim.projections._projections import projection_linf_ball
from functional_optim.projections._projections import projection_non_negative
from functional_optim.projections._projections import projection_simplex
from functional_optim.projections._projections import projection_vector
