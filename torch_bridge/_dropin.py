"""The base of the drop-ins: a torch-exact transformation behind torch's interface."""

import inspect
import numbers
from typing import Any, Callable, ClassVar, Optional

import torch

from ._optimizer import FunctionalOptimizer

# torch.optim.SGD and Adagrad step sparse gradients (the drop-ins make them dense first).
_TORCH_TAKES_SPARSE_GRADIENTS = ("SGD", "Adagrad")


def check_torch_arguments(name: str, defaults: dict[str, Any]) -> None:
  """torch's argument checks that precede its numeric ones, with torch's messages.

  The numeric checks (`Invalid learning rate: -1.0`, ...) live in the
  `functional_optim.torchlike` factories.
  """
  lr = defaults.get("lr")
  if isinstance(lr, torch.Tensor):
    if name in ("Adam", "AdamW") and defaults.get("foreach") and not defaults.get("capturable"):
      raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
    if lr.numel() != 1:
      raise ValueError("Tensor lr must be 1-element")
  elif not isinstance(lr, numbers.Real) or isinstance(lr, bool):
    raise TypeError(f"Invalid learning rate: expected a float or a 1-element tensor, got {lr!r}")
  if defaults.get("fused"):
    if defaults.get("differentiable"):
      raise RuntimeError("`fused` does not support `differentiable`")
    if defaults.get("foreach"):
      raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def sparse_gradient_message(name: str) -> str:
  """torch.optim's error for a sparse gradient given to optimizer `name`."""
  if name in ("Adam", "AdamW"):  # torch 2.13's AdamW is an Adam and says so
    return "Adam does not support sparse gradients, please consider SparseAdam instead"
  return f"{name} does not support sparse gradients"


class TorchDropIn(FunctionalOptimizer):
  """A `FunctionalOptimizer` that is indistinguishable from `torch.optim.<Name>`.

  Subclasses name a factory from `functional_optim.torchlike` and the state fields
  torch keeps per parameter. Their param groups carry exactly torch's keys
  (including `foreach`, `fused`, `capturable`, which are accepted and recorded: the step
  runs as one compiled JAX program; and `differentiable`, with which autograd records
  the step when something in it requires grad, see `torch_bridge._differentiable`), and their
  `state_dict()` holds exactly torch's per-parameter state, so checkpoints move
  between `torch.optim.<Name>` and this class both ways.

  One argument beyond torch's, keyword-only and last in every drop-in:
  `state_dtype=torch.float32` keeps the state of bfloat16/float16 parameters in
  float32 (see `FunctionalOptimizer`); None (the default) keeps torch's behaviour,
  state in each parameter's dtype.

  Example:
    >>> import torch, torch_bridge
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> w.grad = torch.full((2,), 0.5)
    >>> ref = torch.optim.AdamW([w], lr=0.1)
    >>> ref.step()
    >>> opt = torch_bridge.AdamW([w], lr=0.1)  # resumes torch.optim.AdamW's checkpoint
    >>> opt.load_state_dict(ref.state_dict())
    >>> isinstance(opt, torch_bridge.TorchDropIn), sorted(opt.param_groups[0]) == sorted(ref.param_groups[0])
    (True, True)
    >>> sorted(opt.state_dict()["state"][0]), float(opt.state_dict()["state"][0]["step"])
    (['exp_avg', 'exp_avg_sq', 'step'], 1.0)

  References:
    `torch.optim`, https://docs.pytorch.org/docs/stable/optim.html
  """

  factory: ClassVar[Callable]  # a functional_optim.torchlike factory
  torch_state_keys: ClassVar[tuple[str, ...]]  # the state fields torch's state_dict holds
  # Whether the algorithm treats each element on its own (see `_flat`); True for all
  # but the shape-aware ones (Adafactor, Muon) and SparseAdam.
  elementwise: ClassVar[bool] = True
  _names_parameters = False  # torch-exact algorithms take no label functions: no names needed

  def __init__(self, params, *, state_dtype: Optional[torch.dtype] = None, **defaults: Any):
    check_torch_arguments(type(self).__name__, defaults)
    factory = type(self).factory
    factory_args = tuple(inspect.signature(factory).parameters)
    factory(**{k: v for k, v in defaults.items() if k in factory_args})  # torch's checks and messages
    self._setup(params, factory, factory_args, defaults,
                elementwise=type(self).elementwise, state_dtype=state_dtype)

  def _exported(self, name: str) -> bool:
    return name in self.torch_state_keys

  def _sparse_gradient_message(self) -> Optional[str]:
    name = type(self).__name__
    return None if name in _TORCH_TAKES_SPARSE_GRADIENTS else sparse_gradient_message(name)
