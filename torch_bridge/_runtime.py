"""What `FunctionalOptimizer` keeps per param group, and the step's small helpers."""

import contextlib
import operator
from collections.abc import Mapping
from typing import Optional

import jax
import jax.numpy as jnp
import torch

from . import _dtensor, _flat, _store
from ._buffers import GroupBuffers


class GroupRuntime:
  """What the optimizer keeps per param group besides torch's group dict and state."""

  def __init__(self, params, flat_scalars, state_layout, device, make_transformation):
    self.params = params  # the group's distinct tensors, in order
    self.make_transformation = make_transformation  # hyperparameters -> the group's transformation
    self.multiplicity = [1] * len(params)  # how often the group lists each (torch steps each listing)
    self.buffers = GroupBuffers(params)
    self.flat_scalars = flat_scalars  # None: per-parameter form; else flat form (see _flat)
    self.store = _store.StateStore(state_layout, device, params)
    self._segments = None  # flat form: segment ids, built when the general case first runs
    self.scratch = None  # the last step's outputs: memory for the next step's
    self.device = device
    self.written = None  # CUDA: an event after the last write-back, which read `scratch` (see _step_once)
    self.wide = any(p.dtype in WIDE_DTYPES for p in params)  # needs JAX's 64-bit mode (see precision)
    self.state_snapshot = None  # state_snapshot of optimizer.state's entries when they were last all live

  def general_case(self, has_grad, has_state) -> bool:
    """Whether this step needs the general program (missing grads or state, diverged scalars)."""
    if not (all(has_grad) and all(has_state)):
      return True
    return self.flat_scalars is not None and not self.store.uniform_scalars()

  def segments(self) -> Optional[dict]:
    if self.flat_scalars is None:
      return None
    if self._segments is None:
      self._segments = _flat.segment_ids(self.buffers.layout)
    return self._segments

  def abstract_segments(self):
    """Shapes of `segments()`, for compiling the general case ahead of its first use."""
    if self.flat_scalars is None:
      return None
    return {d: jax.ShapeDtypeStruct((n,), jnp.int32) for d, n in self.buffers.sizes.items()}


class Refused:
  """A group whose parameters the algorithm refuses (Muon: not 2-D, Adafactor: complex).

  torch raises such errors at the first step, not at construction; so does this.
  """

  def __init__(self, params, error: Exception):
    self.params, self.error, self.multiplicity = params, error, [1] * len(params)
    self.buffers = self  # `rt.buffers.check_params()` is where a step first looks at a group

  def check_params(self) -> None:
    raise self.error


class _Identities(list):
  """Objects compared by identity (`is`), not `==` (a tensor's `==` is elementwise)."""

  def __eq__(self, other) -> bool:
    return isinstance(other, _Identities) and len(self) == len(other) and all(map(operator.is_, self, other))

  __hash__ = None


def state_snapshot(entries) -> tuple:
  """What `_sync_state_in` must see unchanged to skip its per-entry checks.

  Which parameters have state, each entry's keys in order, and the identity of
  each value: a replaced entry, key or tensor changes it; an in-place edit of a
  live tensor needs no check. A few list comprehensions: ~0.5 us per parameter.
  """
  has = [bool(e) for e in entries]
  keys = [k for e in entries if e for k in e]
  values = _Identities([v for e in entries if e for v in e.values()])
  return has, keys, values


def scratch_for(previous, shapes, device=None):
  """Memory for a step's outputs: the last step's where there is some (not None), zeros elsewhere."""
  fresh = lambda s: jnp.zeros(s.shape, s.dtype, device=device)
  if previous is None:
    return jax.tree.map(fresh, shapes)
  return jax.tree.map(lambda old, s: fresh(s) if old is None else old, previous, shapes, is_leaf=lambda x: x is None)


def abstract(shapes, device=None):
  """`shapes` placed on `device`, for lowering: no memory (a model's scratch is hundreds of MB)."""
  sharding = None if device is None else jax.sharding.SingleDeviceSharding(device)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def jax_device(flat_params: Mapping[str, jax.Array]):
  """The JAX device of a group's imported parameters (None: JAX's default), for its scratch."""
  for array in flat_params.values():
    return next(iter(array.devices()))
  return None


def check_supported_tensor(p) -> None:
  """Raises for tensors the bridge cannot step: before any DLPack call ever sees them."""
  if _dtensor.is_dtensor(p):
    _dtensor.check_parameter(p)
    p = _dtensor.local(p)
  if not isinstance(p, torch.Tensor) or type(p.detach()) is not torch.Tensor:
    kind = type(p.detach()).__name__ if isinstance(p, torch.Tensor) else type(p).__name__
    raise TypeError(
        f"torch_bridge cannot step a parameter of type {kind} (only plain tensors and DTensors)"
    )
  if p.is_meta:
    raise TypeError("torch_bridge cannot step a parameter on the meta device")
  if p.device.type not in ("cpu", "cuda"):
    raise TypeError(f"torch_bridge steps parameters on cpu or cuda, not on {p.device.type}")
  if p.device.type == "cuda":
    check_jax_gpu()
  if p.layout != torch.strided:
    raise TypeError(f"torch_bridge cannot step a parameter with layout {p.layout}")
  if not (p.is_floating_point() or p.is_complex()):
    raise TypeError(f"can only optimize floating-point or complex tensors, got {p.dtype}")


def check_jax_gpu() -> None:
  """Raises if JAX cannot compute where CUDA parameters live (a CPU-only jaxlib)."""
  try:
    jax.devices("cuda")
  except RuntimeError as error:
    raise TypeError(
        f"torch_bridge cannot step CUDA parameters: jax {jax.__version__} has no CUDA backend ({error}); "
        "install a CUDA jax next to torch (pip install 'functional-optim[cuda12]', i.e. jax[cuda12])"
    ) from None


WIDE_DTYPES = (torch.float64, torch.complex128)


@contextlib.contextmanager
def precision_of(runtimes):
  """`precision` for the parameters of `runtimes`, from what each worked out once (no per-parameter work)."""
  if any(rt.wide for rt in runtimes):
    with jax.enable_x64(True):
      yield
  else:
    yield


@contextlib.contextmanager
def precision(params):
  """JAX's 64-bit mode, scoped, when a parameter is float64 (the user's setting is untouched)."""
  if any(p.dtype in WIDE_DTYPES for p in params):
    with jax.enable_x64(True):
      yield
  else:
    yield
