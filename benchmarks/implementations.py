"""The implementations under test, each behind one small `Runner` interface.

A runner owns its parameters, optimizer state and pre-generated gradients.
`prepare()` puts the gradients where the optimizer finds them (for torch: a fresh
tensor assigned to each `p.grad`, as after `backward()`); `step()` is the timed
part and returns only when the new values are computed. torch and jax are
imported on first use, so a memory-measuring subprocess loads only what it runs.
"""

from collections.abc import Iterable
from typing import Callable, Protocol

import numpy as np

from .algorithms import Algorithm
from .system import Device


class Runner(Protocol):
  def load_grads(self, grads: Iterable[np.ndarray]) -> None: ...
  def prepare(self) -> None: ...
  def step(self) -> None: ...
  def params(self) -> list[np.ndarray]: ...


class _TorchParams:
  """Parameters and gradients as torch tensors, gradients handed over through `p.grad`."""

  def __init__(self, params: Iterable[np.ndarray], device: Device):
    import torch
    self._device = device
    self.tensors = [torch.nn.Parameter(torch.from_numpy(a).to(device.torch, copy=True)) for a in params]
    self._grads = []

  def load_grads(self, grads: Iterable[np.ndarray]) -> None:
    import torch
    self._grads = [torch.from_numpy(g).to(self._device.torch, copy=True) for g in grads]

  def prepare(self) -> None:
    for p, g in zip(self.tensors, self._grads):
      p.grad = g

  def params(self) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in self.tensors]


class TorchOptimRunner(_TorchParams):
  """torch.optim in one of its three kernels: 'forloop', 'foreach' or 'fused'."""

  def __init__(self, algorithm: Algorithm, params: Iterable[np.ndarray], device: Device, kernel: str):
    import torch
    super().__init__(params, device)
    flags = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[kernel]
    self.optimizer = getattr(torch.optim, algorithm.torch_class)(self.tensors, **algorithm.torch_kwargs, **flags)
    self._clip_norm = algorithm.clip_norm
    self._clip_foreach = kernel != "forloop"

  def step(self) -> None:
    import torch
    if self._clip_norm is not None:  # clips p.grad in place, as a training loop does
      torch.nn.utils.clip_grad_norm_(self.tensors, self._clip_norm, foreach=self._clip_foreach)
    self.optimizer.step()
    self._device.sync_torch()


class BridgeRunner(_TorchParams):
  """torch_bridge: the drop-in class, or FunctionalOptimizer over the functional chain."""

  def __init__(self, algorithm: Algorithm, params: Iterable[np.ndarray], device: Device):
    import functional_optim
    import torch_bridge
    super().__init__(params, device)
    if algorithm.clip_norm is None:
      self.optimizer = getattr(torch_bridge, algorithm.torch_class)(self.tensors, **algorithm.torch_kwargs)
    else:
      self.optimizer = torch_bridge.FunctionalOptimizer(
          self.tensors, algorithm.functional(functional_optim), elementwise=True)

  def step(self) -> None:
    self.optimizer.step()
    self._device.sync_torch()


class JaxRunner:
  """A transformation from optax or functional_optim, stepped by one jitted function.

  Parameters and state are donated, so XLA may write the new values over the old
  ones; the gradients are not (they are the next step's gradients too).
  """

  def __init__(self, algorithm: Algorithm, params: Iterable[np.ndarray], device: Device, module_name: str):
    import importlib

    import jax
    import jax.numpy as jnp
    module = importlib.import_module(module_name)
    transformation = algorithm.functional(module)
    self._device = device.jax
    self._params = [jnp.array(a, copy=True, device=self._device) for a in params]
    # Distinct buffers (donatable), all committed to the device as the step's outputs are: an
    # uncommitted leaf (init's step count) would make the second step compile the program again.
    self._state = jax.tree.map(lambda x: jax.device_put(jnp.copy(x), self._device),
                               transformation.init(self._params))
    self._grads = []

    def update(params, grads, state):
      updates, state = transformation.update(grads, state, params)
      return module.apply_updates(params, updates), state

    self._update = jax.jit(update, donate_argnums=(0, 2))

  def load_grads(self, grads: Iterable[np.ndarray]) -> None:
    import jax.numpy as jnp
    self._grads = [jnp.array(g, copy=True, device=self._device) for g in grads]

  def prepare(self) -> None:
    pass

  def step(self) -> None:
    import jax
    self._params, self._state = self._update(self._params, self._grads, self._state)
    jax.block_until_ready((self._params, self._state))

  def params(self) -> list[np.ndarray]:
    return [np.array(p) for p in self._params]


Builder = Callable[[Algorithm, Iterable[np.ndarray], Device], Runner]

# name -> (what it is, how to build it); the table's columns, in this order.
IMPLEMENTATIONS: dict[str, tuple[str, Builder]] = {
    "torch-forloop": ("torch.optim, foreach=False", lambda a, p, d: TorchOptimRunner(a, p, d, "forloop")),
    "torch-foreach": ("torch.optim, foreach=True", lambda a, p, d: TorchOptimRunner(a, p, d, "foreach")),
    "torch-fused": ("torch.optim, fused=True", lambda a, p, d: TorchOptimRunner(a, p, d, "fused")),
    "optax": ("optax under jax.jit, params and state donated", lambda a, p, d: JaxRunner(a, p, d, "optax")),
    "functional_optim": ("functional_optim under jax.jit, params and state donated",
                         lambda a, p, d: JaxRunner(a, p, d, "functional_optim")),
    "bridge": ("torch_bridge drop-in (chain: FunctionalOptimizer)", BridgeRunner),
}
JAX_IMPLEMENTATIONS = ("optax", "functional_optim")
TORCH_REFERENCE_ORDER = ("torch-fused", "torch-foreach")  # "ratio to torch": the first one measured
