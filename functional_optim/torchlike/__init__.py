"""torch.optim's algorithms as pure `(init, update)` transformations.

Each factory takes torch's argument names and defaults, and
`functional_optim.apply_updates(params, updates)` reproduces the parameters that
the torch optimizer computes, to float32 rounding. Each state is a NamedTuple
whose fields are named like torch's per-parameter state keys and hold one array
per parameter leaf (`*_TORCH_STATE_KEYS` lists which fields torch's state_dict
has), so a state converts to and from `optimizer.state_dict()` parameter by
parameter.

Example:
  >>> import jax.numpy as jnp
  >>> import functional_optim as fo
  >>> from functional_optim import torchlike
  >>> tx = torchlike.adamw(lr=0.1)
  >>> params = {"w": jnp.ones(2)}
  >>> updates, state = tx.update({"w": jnp.ones(2)}, tx.init(params), params)
  >>> fo.apply_updates(params, updates)["w"]
  Array([0.899, 0.899], dtype=float32)
"""

from ._adadelta import ADADELTA_TORCH_STATE_KEYS
from ._adadelta import AdadeltaState
from ._adadelta import adadelta
from ._adafactor import ADAFACTOR_TORCH_STATE_KEYS
from ._adafactor import AdafactorState
from ._adafactor import adafactor
from ._adagrad import ADAGRAD_TORCH_STATE_KEYS
from ._adagrad import AdagradState
from ._adagrad import adagrad
from ._adam import ADAMW_TORCH_STATE_KEYS
from ._adam import ADAM_TORCH_STATE_KEYS
from ._adam import AdamState
from ._adam import adam
from ._adam import adamw
from ._adamax import ADAMAX_TORCH_STATE_KEYS
from ._adamax import AdamaxState
from ._adamax import adamax
from ._asgd import ASGD_TORCH_STATE_KEYS
from ._asgd import ASGDState
from ._asgd import asgd
from ._lbfgs import LBFGS_TORCH_STATE_KEYS
from ._lbfgs import LBFGSState
from ._lbfgs import lbfgs
from ._muon import MUON_TORCH_STATE_KEYS
from ._muon import MuonState
from ._muon import muon
from ._nadam import NADAM_TORCH_STATE_KEYS
from ._nadam import NAdamState
from ._nadam import nadam
from ._radam import RADAM_TORCH_STATE_KEYS
from ._radam import RAdamState
from ._radam import radam
from ._rmsprop import RMSPROP_TORCH_STATE_KEYS
from ._rmsprop import RMSpropState
from ._rmsprop import rmsprop
from ._rprop import RPROP_TORCH_STATE_KEYS
from ._rprop import RpropState
from ._rprop import rprop
from ._sgd import SGD_TORCH_STATE_KEYS
from ._sgd import SGDState
from ._sgd import sgd
from ._sparse_adam import SPARSE_ADAM_TORCH_STATE_KEYS
from ._sparse_adam import SparseAdamState
from ._sparse_adam import sparse_adam

__all__ = [
    "ADADELTA_TORCH_STATE_KEYS",
    "AdadeltaState",
    "adadelta",
    "ADAFACTOR_TORCH_STATE_KEYS",
    "AdafactorState",
    "adafactor",
    "ASGD_TORCH_STATE_KEYS",
    "ASGDState",
    "asgd",
    "LBFGS_TORCH_STATE_KEYS",
    "LBFGSState",
    "lbfgs",
    "MUON_TORCH_STATE_KEYS",
    "MuonState",
    "muon",
    "RPROP_TORCH_STATE_KEYS",
    "RpropState",
    "rprop",
    "ADAGRAD_TORCH_STATE_KEYS",
    "AdagradState",
    "adagrad",
    "ADAMW_TORCH_STATE_KEYS",
    "ADAM_TORCH_STATE_KEYS",
    "AdamState",
    "adam",
    "adamw",
    "ADAMAX_TORCH_STATE_KEYS",
    "AdamaxState",
    "adamax",
    "NADAM_TORCH_STATE_KEYS",
    "NAdamState",
    "nadam",
    "RADAM_TORCH_STATE_KEYS",
    "RAdamState",
    "radam",
    "RMSPROP_TORCH_STATE_KEYS",
    "RMSpropState",
    "rmsprop",
    "SGD_TORCH_STATE_KEYS",
    "SGDState",
    "sgd",
    "SPARSE_ADAM_TORCH_STATE_KEYS",
    "SparseAdamState",
    "sparse_adam",
]
