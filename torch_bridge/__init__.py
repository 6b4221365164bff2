"""torch_bridge: functional optimizers as real `torch.optim.Optimizer`s.

`FunctionalOptimizer` runs any `(init, update)` transformation (from
functional_optim or optax, unchanged) in a PyTorch training loop.
"""

from ._optimizer import FunctionalOptimizer

__all__ = ["FunctionalOptimizer"]
