"""The linear assignment problem, mirroring ``optax.assignment`` name for name.

`hungarian_algorithm` and `base_hungarian_algorithm` both return a minimum-cost
matching of the rows of a cost matrix to its columns; they are pure JAX, so they work
under `jax.jit` and `jax.vmap`.
"""

# pylint: disable=g-importing-member

from ._base_hungarian_algorithm import base_hungarian_algorithm
from ._hungarian_algorithm import hungarian_algorithm

__all__ = ["base_hungarian_algorithm", "hungarian_algorithm"]
