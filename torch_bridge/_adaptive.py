"""Drop-ins for torch.optim's Rprop, ASGD, Adadelta, Adafactor and Muon (torch 2.13).

Each class passes its arguments, in torch's group-key order, to `TorchDropIn`,
which runs the matching `functional_optim.torchlike` transformation.
"""

from typing import Optional

import torch

from functional_optim import torchlike

from ._dropin import TorchDropIn
from ._first_order import Float


class Rprop(TorchDropIn):
  """`torch.optim.Rprop` (resilient backpropagation; etas, step-size bounds, maximize).

  References:
    Riedmiller and Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
    RPROP Algorithm", https://doi.org/10.1109/ICNN.1993.298623;
    `torch.optim.Rprop`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Rprop.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.Rprop(model.parameters(), lr=0.01)
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['prev', 'step', 'step_size']
  """

  factory = staticmethod(torchlike.rprop)
  torch_state_keys = torchlike.RPROP_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
               step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
               foreach: Optional[bool] = None, maximize: bool = False,
               differentiable: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, capturable=capturable,
                     state_dtype=state_dtype)


class ASGD(TorchDropIn):
  """`torch.optim.ASGD` (averaged SGD; lambd, alpha, t0, weight decay, maximize).

  References:
    Polyak and Juditsky, 1992, "Acceleration of Stochastic Approximation by Averaging",
    https://doi.org/10.1137/0330046;
    `torch.optim.ASGD`, https://docs.pytorch.org/docs/stable/generated/torch.optim.ASGD.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.ASGD(model.parameters(), lr=0.01)
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['ax', 'eta', 'mu', 'step']
  """

  factory = staticmethod(torchlike.asgd)
  torch_state_keys = torchlike.ASGD_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
               t0: float = 1e6, weight_decay: float = 0, foreach: Optional[bool] = None,
               maximize: bool = False, differentiable: bool = False, capturable: bool = False,
               *, state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                     foreach=foreach, maximize=maximize, differentiable=differentiable,
                     capturable=capturable, state_dtype=state_dtype)


class Adadelta(TorchDropIn):
  """`torch.optim.Adadelta` (rho, eps, weight decay, maximize).

  References:
    Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method", https://arxiv.org/abs/1212.5701;
    `torch.optim.Adadelta`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adadelta.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.Adadelta(model.parameters())
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['acc_delta', 'square_avg', 'step']
  """

  factory = staticmethod(torchlike.adadelta)
  torch_state_keys = torchlike.ADADELTA_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1.0, rho: float = 0.9, eps: float = 1e-6,
               weight_decay: float = 0, foreach: Optional[bool] = None, *,
               capturable: bool = False, maximize: bool = False, differentiable: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                     capturable=capturable, foreach=foreach, differentiable=differentiable,
                     state_dtype=state_dtype)


class Adafactor(TorchDropIn):
  """`torch.optim.Adafactor` (factored second moments for >=2-D parameters).

  As in torch, complex parameters are rejected (here when the optimizer is built).

  References:
    Shazeer and Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
    https://arxiv.org/abs/1804.04235;
    `torch.optim.Adafactor`,
    https://docs.pytorch.org/docs/stable/generated/torch.optim.Adafactor.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.Adafactor(model.parameters())
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> state = opt.state_dict()["state"]
    >>> sorted(state[0]), sorted(state[1])
    (['col_var', 'row_var', 'step'], ['step', 'variance'])
  """

  factory = staticmethod(torchlike.adafactor)
  elementwise = False
  torch_state_keys = torchlike.ADAFACTOR_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, beta2_decay: float = -0.8,
               eps: tuple[Optional[float], float] = (None, 1e-3), d: float = 1.0,
               weight_decay: float = 0.0, *, foreach: Optional[bool] = None,
               maximize: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                     weight_decay=weight_decay, foreach=foreach, maximize=maximize, state_dtype=state_dtype)


class Muon(TorchDropIn):
  """`torch.optim.Muon` (orthogonalized momentum; 2-D parameters only, as in torch).

  Unlike torch 2.13, a bfloat16 momentum buffer is not normalized in place when
  `nesterov=False` (see `functional_optim.torchlike.muon`).

  References:
    Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks",
    https://kellerjordan.github.io/posts/muon/;
    Liu et al., 2025, "Muon is Scalable for LLM Training", https://arxiv.org/abs/2502.16982;
    `torch.optim.Muon`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Muon.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 3, bias=False)
    >>> opt = torch_bridge.Muon(model.parameters(), lr=0.02)
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['momentum_buffer']
  """

  factory = staticmethod(torchlike.muon)
  elementwise = False
  torch_state_keys = torchlike.MUON_TORCH_STATE_KEYS

  def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
               nesterov: bool = True,
               ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
               eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: Optional[str] = None,
               *, state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                     ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                     adjust_lr_fn=adjust_lr_fn, state_dtype=state_dtype)
