"""Experimental modules, mirroring ``optax.experimental`` name for name."""

from . import aggregating

__all__ = [
    "aggregating",
]
