"""Second-order utilities, mirroring ``optax.second_order`` name for name (deprecated there)."""

# pylint: disable=g-importing-member

from functional_optim.second_order._deprecated import fisher_diag
from functional_optim.second_order._deprecated import hessian_diag
from functional_optim.second_order._deprecated import hvp
