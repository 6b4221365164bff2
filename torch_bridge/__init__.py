"""torch_bridge: functional optimizers as real `torch.optim.Optimizer` instances.

`FunctionalOptimizer` runs any `(init, update)` transformation (from
functional_optim or optax, unchanged) in a PyTorch training loop; the drop-in
classes (`torch_bridge.AdamW`, ...) take torch.optim's arguments, produce its
numbers and read and write its checkpoints.
"""

try:
  import torch  # noqa: F401  (checked first, for a message that says what to install)
except ImportError as error:
  raise ImportError(
      "torch_bridge needs PyTorch (torch 2.13 is tested): pip install \"functional-optim[torch]\", "
      "or choose the build first, e.g. CPU-only: "
      "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
  ) from error

from ._adaptive import ASGD
from ._adaptive import Adadelta
from ._adaptive import Adafactor
from ._adaptive import Muon
from ._adaptive import Rprop
from ._dropin import TorchDropIn
from ._lbfgs import LBFGS
from ._first_order import Adagrad
from ._first_order import Adam
from ._first_order import Adamax
from ._first_order import AdamW
from ._first_order import NAdam
from ._first_order import RAdam
from ._first_order import RMSprop
from ._first_order import SGD
from ._optimizer import FunctionalOptimizer
from ._sparse_adam import SparseAdam

__all__ = [
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "ASGD",
    "FunctionalOptimizer",
    "LBFGS",
    "Muon",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SGD",
    "SparseAdam",
    "TorchDropIn",
]
