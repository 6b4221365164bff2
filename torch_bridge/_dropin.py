"""The base of the drop-ins: a torch-exact transformation behind torch's interface."""

import inspect
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp

from ._optimizer import FunctionalOptimizer


class TorchDropIn(FunctionalOptimizer):
  """A `FunctionalOptimizer` that is indistinguishable from `torch.optim.<Name>`.

  Subclasses name a factory from `functional_optim.torchlike` and the state fields
  torch keeps per parameter. Their param groups carry exactly torch's keys
  (including `foreach`, `fused`, `capturable`, `differentiable`, which are accepted
  and recorded; the step always runs as one compiled JAX program), and their
  `state_dict()` holds exactly torch's per-parameter state, so checkpoints move
  between `torch.optim.<Name>` and this class both ways.
  """

  factory: ClassVar[Callable]  # a functional_optim.torchlike factory
  torch_state_keys: ClassVar[tuple[str, ...]]  # the state fields torch's state_dict holds
  # Whether the algorithm treats each element on its own (see `_flat`); True for all
  # but the shape-aware ones (Adafactor, Muon) and SparseAdam.
  elementwise: ClassVar[bool] = True

  def __init__(self, params, **defaults: Any):
    if defaults.get("differentiable"):
      raise NotImplementedError(
          f"{type(self).__name__}(differentiable=True) is not supported: the step runs as a "
          "compiled JAX program, outside torch's autograd"
      )
    factory = type(self).factory
    factory_args = tuple(inspect.signature(factory).parameters)
    factory(**{k: v for k, v in defaults.items() if k in factory_args})  # torch's checks and messages
    self._setup(params, lambda hp: factory(**hp), factory_args, defaults, elementwise=type(self).elementwise)

  def _exported_fields(self, names) -> list[str]:
    return [name for name in names if name in self.torch_state_keys]

  def _derived_field(self, name: str, fresh: jax.Array) -> jax.Array:
    # Bookkeeping flags ("torch's state already has X") are true once torch has state.
    if fresh.dtype == jnp.bool_:
      return jnp.ones_like(fresh)
    return super()._derived_field(name, fresh)
