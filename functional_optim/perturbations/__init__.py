"""Perturbation-based smoothing, mirroring ``optax.perturbations`` name for name."""

# pylint: disable=g-importing-member

from functional_optim.perturbations._make_pert import Gumbel
from functional_optim.perturbations._make_pert import make_perturbed_fun
from functional_optim.perturbations._make_pert import Normal
