"""Drop-ins for torch.optim's first-order optimizers, with torch 2.13's signatures.

Each class passes its arguments, in torch's group-key order, to `TorchDropIn`,
which runs the matching `functional_optim.torchlike` transformation.
"""

from typing import Optional, Union

import torch

from functional_optim import torchlike

from ._dropin import TorchDropIn
from ._dropin import check_torch_arguments

Float = Union[float, torch.Tensor]


def _check_adam_arguments(lr, betas, eps, weight_decay, foreach, capturable) -> None:
  """torch.optim.Adam's checks in torch's order: lr, the numbers, then the betas' types."""
  check_torch_arguments("Adam", {"lr": lr, "foreach": foreach, "capturable": capturable})
  torchlike.adam(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
  if not (all(isinstance(b, float) for b in betas) or all(isinstance(b, torch.Tensor) for b in betas)):
    raise ValueError("betas must be either both floats or both Tensors")
  for index, beta in enumerate(betas):
    if isinstance(beta, torch.Tensor):
      if foreach and not capturable:
        raise ValueError(f"betas[{index}] as a Tensor is not supported for capturable=False and foreach=True")
      if beta.numel() != 1:
        raise ValueError(f"Tensor betas[{index}] must be 1-element")


class SGD(TorchDropIn):
  """`torch.optim.SGD` (momentum, dampening, Nesterov, weight decay, maximize).

  References:
    Sutskever et al., 2013, "On the importance of initialization and momentum in deep learning",
    http://proceedings.mlr.press/v28/sutskever13.html;
    `torch.optim.SGD`, https://docs.pytorch.org/docs/stable/generated/torch.optim.SGD.html

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
               foreach: Optional[bool] = None, differentiable: bool = False, fused: Optional[bool] = None,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                     nesterov=nesterov, maximize=maximize, foreach=foreach,
                     differentiable=differentiable, fused=fused, state_dtype=state_dtype)


class Adam(TorchDropIn):
  """`torch.optim.Adam` (amsgrad, coupled or decoupled weight decay, maximize).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.Adam([w], lr=0.1), torch.optim.Adam([ref], lr=0.1)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.8, -1.8], True)

  References:
    Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    `torch.optim.Adam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adam.html
  """

  factory = staticmethod(torchlike.adam)
  torch_state_keys = torchlike.ADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[Float, Float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
               foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None,
               decoupled_weight_decay: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    _check_adam_arguments(lr, betas, eps, weight_decay, foreach, capturable)
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable, fused=fused,
                     decoupled_weight_decay=decoupled_weight_decay, state_dtype=state_dtype)


class AdamW(TorchDropIn):
  """`torch.optim.AdamW`: Adam with decoupled weight decay.

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101;
    `torch.optim.AdamW`, https://docs.pytorch.org/docs/stable/generated/torch.optim.AdamW.html

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
  forced_group_keys = {"decoupled_weight_decay": True}  # whatever a loaded checkpoint says, as torch

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[Float, Float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
               maximize: bool = False, foreach: Optional[bool] = None, capturable: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None,
               state_dtype: Optional[torch.dtype] = None):
    _check_adam_arguments(lr, betas, eps, weight_decay, foreach, capturable)
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable, fused=fused, decoupled_weight_decay=True,
                     state_dtype=state_dtype)


class Adagrad(TorchDropIn):
  """`torch.optim.Adagrad` (lr_decay, initial_accumulator_value, weight decay, maximize).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.Adagrad([w], lr=0.1), torch.optim.Adagrad([ref], lr=0.1)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.8293, -1.8293], True)

  References:
    Duchi, Hazan and Singer, 2011, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization", https://jmlr.org/papers/v12/duchi11a.html;
    `torch.optim.Adagrad`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adagrad.html
  """

  factory = staticmethod(torchlike.adagrad)
  torch_state_keys = torchlike.ADAGRAD_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
               initial_accumulator_value: float = 0, eps: float = 1e-10,
               foreach: Optional[bool] = None, *, maximize: bool = False,
               differentiable: bool = False, fused: Optional[bool] = None,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, fused=fused, state_dtype=state_dtype)
    self._materialize_state()  # torch creates Adagrad's state when it is built, not at the first step

  def _gather(self, runtime):
    group = next(g for g, rt in zip(self.param_groups, self._runtimes) if rt is runtime)
    if group["weight_decay"] != 0 and any(p.grad is not None and p.grad.is_sparse for p in runtime.params):
      raise RuntimeError("weight_decay option is not compatible with sparse gradients")
    return super()._gather(runtime)


class RMSprop(TorchDropIn):
  """`torch.optim.RMSprop` (momentum, centered, weight decay, maximize).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.RMSprop([w], lr=0.01), torch.optim.RMSprop([ref], lr=0.01)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.8291, -1.8291], True)

  References:
    Hinton, 2012, "Neural Networks for Machine Learning", lecture 6e,
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf;
    `torch.optim.RMSprop`, https://docs.pytorch.org/docs/stable/generated/torch.optim.RMSprop.html
  """

  factory = staticmethod(torchlike.rmsprop)
  torch_state_keys = torchlike.RMSPROP_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
               weight_decay: float = 0, momentum: float = 0, centered: bool = False,
               capturable: bool = False, foreach: Optional[bool] = None, maximize: bool = False,
               differentiable: bool = False,
               *, state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                     weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, state_dtype=state_dtype)


class Adamax(TorchDropIn):
  """`torch.optim.Adamax` (Adam with the infinity norm).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.Adamax([w], lr=0.1), torch.optim.Adamax([ref], lr=0.1)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.8, -1.8], True)

  References:
    Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    `torch.optim.Adamax`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Adamax.html
  """

  factory = staticmethod(torchlike.adamax)
  torch_state_keys = torchlike.ADAMAX_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, foreach: Optional[bool] = None, *,
               maximize: bool = False, differentiable: bool = False, capturable: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                     maximize=maximize, differentiable=differentiable, capturable=capturable,
                     state_dtype=state_dtype)


class NAdam(TorchDropIn):
  """`torch.optim.NAdam` (momentum_decay, coupled or decoupled weight decay).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.NAdam([w], lr=0.1), torch.optim.NAdam([ref], lr=0.1)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.816, -1.816], True)

  References:
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ;
    `torch.optim.NAdam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.NAdam.html
  """

  factory = staticmethod(torchlike.nadam)
  torch_state_keys = torchlike.NADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
               decoupled_weight_decay: bool = False, *, foreach: Optional[bool] = None,
               maximize: bool = False, capturable: bool = False, differentiable: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     differentiable=differentiable, state_dtype=state_dtype)


class RAdam(TorchDropIn):
  """`torch.optim.RAdam` (rectified Adam; coupled or decoupled weight decay).

  Example:
    >>> import torch, torch_bridge
    >>> w, ref = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    >>> opt, ref_opt = torch_bridge.RAdam([w], lr=0.1), torch.optim.RAdam([ref], lr=0.1)
    >>> for _ in range(2):
    ...   for o, p in ((opt, w), (ref_opt, ref)):
    ...     p.grad = torch.tensor([0.5, -0.5])
    ...     o.step()
    >>> [round(v, 4) for v in w.tolist()], torch.allclose(w, ref)
    ([0.9, -1.9], True)

  References:
    Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
    https://arxiv.org/abs/1908.03265;
    `torch.optim.RAdam`, https://docs.pytorch.org/docs/stable/generated/torch.optim.RAdam.html
  """

  factory = staticmethod(torchlike.radam)
  torch_state_keys = torchlike.RADAM_TORCH_STATE_KEYS

  def __init__(self, params, lr: Float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
               foreach: Optional[bool] = None, maximize: bool = False, capturable: bool = False,
               differentiable: bool = False,
               state_dtype: Optional[torch.dtype] = None):
    super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     maximize=maximize, foreach=foreach, capturable=capturable,
                     decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable,
                     state_dtype=state_dtype)
