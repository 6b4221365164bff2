"""Microbatching: evaluate a function on a large batch one microbatch at a time.

Mirrors ``optax.microbatching`` name for name: `microbatch` (also at the top level as
``fo.microbatch``), `micro_vmap`, `micro_grad`, `reshape_batch_axis`, and the
`Accumulator` / `AccumulationType` that say how the microbatch results combine.
"""

# pylint: disable=g-importing-member

from ._accumulators import Accumulator
from ._accumulators import AccumulationType
from ._microbatching import micro_grad
from ._microbatching import micro_vmap
from ._microbatching import microbatch
from ._reshaping import reshape_batch_axis

__all__ = [
    "Accumulator",
    "AccumulationType",
    "micro_grad",
    "micro_vmap",
    "microbatch",
    "reshape_batch_axis",
]
