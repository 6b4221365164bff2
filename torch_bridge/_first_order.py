"""Drop-ins for torch.optim's first-order optimizers, with torch 2.13's signatures.

Each class passes its arguments, in torch's group-key order, to `TorchDropIn`,
which runs the matching `functional_optim.torchlike` transformation.
"""

from typing import Optional, Union

import torch

from functional_optim import torchlike

from ._dropin import TorchDropIn

Float = Union[float, torch.Tensor]


class SGD(TorchDropIn):
  """`torch.optim.SGD` (momentum, dampening, Nesterov, weight decay, maximize).

  Reference: Sutskever et al., 2013, http://proceedings.mlr.press/v28/sutskever13.html

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['momentum_buffer']
  """

  factory = staticmethod(torchlike.sgd)
  torch_state_keys = torchlike.SGD_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, momentum: float = 0, dampening: float = 0,
               weight_decay: Float = 0, nesterov: bool = False, *, maximize: bool = False,
               foreach: Optional[bool] = None, differentiable: bool = False, fused: Optional[bool] = None):
    super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                     nesterov=nesterov, maximize=maximize, foreach=foreach,
                     differentiable=differentiable, fused=fused)


class Adam(TorchDropIn):
  """`torch.optim.Adam` (amsgrad, coupled or decoupled weight decay, maximize).

  Reference: Kingma and Ba, 2015, https://arxiv.org/abs/1412.6980
  """

  factory = staticmethod(torchlike.adam)
  torch_state_keys = torchlike.ADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[Float, Float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
               foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None,
               decoupled_weight_decay: bool = False):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable, fused=fused,
                     decoupled_weight_decay=decoupled_weight_decay)


class AdamW(TorchDropIn):
  """`torch.optim.AdamW`: Adam with decoupled weight decay.

  Reference: Loshchilov and Hutter, 2019, https://arxiv.org/abs/1711.05101

  Example:
    >>> import torch, torch_bridge
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch_bridge.AdamW(model.parameters(), lr=1e-3)
    >>> model(torch.ones(1, 2)).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0])
    ['exp_avg', 'exp_avg_sq', 'step']
  """

  factory = staticmethod(torchlike.adam)  # torch 2.13's AdamW is Adam(decoupled_weight_decay=True)
  torch_state_keys = torchlike.ADAMW_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[Float, Float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
               maximize: bool = False, foreach: Optional[bool] = None, capturable: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable, fused=fused, decoupled_weight_decay=True)


class Adagrad(TorchDropIn):
  """`torch.optim.Adagrad` (lr_decay, initial_accumulator_value, weight decay, maximize).

  Reference: Duchi et al., 2011, https://jmlr.org/papers/v12/duchi11a.html
  """

  factory = staticmethod(torchlike.adagrad)
  torch_state_keys = torchlike.ADAGRAD_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
               initial_accumulator_value: float = 0, eps: float = 1e-10,
               foreach: Optional[bool] = None, *, maximize: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None):
    super().__init__(params, lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, fused=fused)


class RMSprop(TorchDropIn):
  """`torch.optim.RMSprop` (momentum, centered, weight decay, maximize).

  Reference: Hinton, 2012, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
  """

  factory = staticmethod(torchlike.rmsprop)
  torch_state_keys = torchlike.RMSPROP_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
               weight_decay: float = 0, momentum: float = 0, centered: bool = False,
               capturable: bool = False, foreach: Optional[bool] = None, maximize: bool = False,
               differentiable: bool = False):
    super().__init__(params, lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                     weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                     maximize=maximize, differentiable=differentiable)


class Adamax(TorchDropIn):
  """`torch.optim.Adamax` (Adam with the infinity norm).

  Reference: Kingma and Ba, 2015, https://arxiv.org/abs/1412.6980
  """

  factory = staticmethod(torchlike.adamax)
  torch_state_keys = torchlike.ADAMAX_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, foreach: Optional[bool] = None, *,
               maximize: bool = False, differentiable: bool = False, capturable: bool = False):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, capturable=capturable)


class NAdam(TorchDropIn):
  """`torch.optim.NAdam` (momentum_decay, coupled or decoupled weight decay).

  Reference: Dozat, 2016, https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
  """

  factory = staticmethod(torchlike.nadam)
  torch_state_keys = torchlike.NADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
               decoupled_weight_decay: bool = False, *, foreach: Optional[bool] = None,
               maximize: bool = False, capturable: bool = False, differentiable: bool = False):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable)


class RAdam(TorchDropIn):
  """`torch.optim.RAdam` (rectified Adam; coupled or decoupled weight decay).

  Reference: Liu et al., 2020, https://arxiv.org/abs/1908.03265
  """

  factory = staticmethod(torchlike.radam)
  torch_state_keys = torchlike.RADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
               foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
               differentiable: bool = False):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable)
