"""A pure JAX function as a `torch.autograd.Function`, differentiable to any order.

`JaxProgram(fn)` wraps a JAX function of a flat list of arrays that returns a tuple
of arrays; `call(program, tensors)` runs it on torch tensors and returns torch
tensors recorded by autograd. The backward pass is the VJP of `fn`, itself a
`JaxProgram` (compiled once, cached on its program), so the backward is recorded
too when autograd builds a graph of it (`create_graph=True`, `gradgradcheck`).

Gradients follow torch's conventions: an output that depends on no input that
requires grad does not require grad (found from `fn`'s jaxpr, once per pattern of
inputs that require grad), integer outputs never do, and complex tensors get
torch's conjugate Wirtinger gradients (JAX's cotangents are their conjugates).
"""

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import torch
from jax.interpreters import partial_eval

_WIDE = (torch.float64, torch.complex128)


def _inexact(dtype) -> bool:
  return jnp.issubdtype(dtype, jnp.inexact)


def _conj(x):
  return jnp.conj(x) if jnp.iscomplexobj(x) else x


def to_jax(tensor: torch.Tensor) -> jax.Array:
  """`tensor`'s values in JAX (zero-copy when DLPack allows; the caller keeps it unchanged)."""
  return jnp.from_dlpack(tensor.detach().contiguous())


class JaxProgram:
  """A JAX function of a flat list of arrays, jitted once, with its VJP program and dependences."""

  def __init__(self, fn: Callable[..., tuple], x64: bool):
    self.fn = fn
    self.x64 = x64
    self._jitted = jax.jit(fn)
    self._vjps: dict[int, "JaxProgram"] = {}
    self._dependences: dict[tuple, tuple[bool, ...]] = {}

  def precision(self):
    """JAX's 64-bit mode when the program computes in float64 (scoped, as the step is)."""
    return jax.enable_x64(self.x64)

  def __call__(self, arrays: Sequence[jax.Array]) -> tuple:
    return self._jitted(*arrays)

  def vjp(self, num_inputs: int) -> "JaxProgram":
    """The program `(*inputs, *cotangents) -> input cotangents`, in torch's conventions.

    Cotangents come for the inexact outputs and go to the inexact inputs, in order.
    """
    if num_inputs not in self._vjps:
      fn = self.fn

      def vjp_fn(*args):
        primals, cotangents = args[:num_inputs], list(args[num_inputs:])
        wrt = [i for i, x in enumerate(primals) if _inexact(x.dtype)]

        def of_inexact(*values):
          full = list(primals)
          for i, value in zip(wrt, values):
            full[i] = value
          return fn(*full)

        outputs, pullback = jax.vjp(of_inexact, *(primals[i] for i in wrt))
        full_cotangents = tuple(
            _conj(cotangents.pop(0)).astype(o.dtype) if _inexact(o.dtype)
            else np.zeros(o.shape, jax.dtypes.float0)
            for o in outputs
        )
        return tuple(_conj(g) for g in pullback(full_cotangents))

      self._vjps[num_inputs] = JaxProgram(vjp_fn, self.x64)
    return self._vjps[num_inputs]

  def dependent_outputs(self, arrays: Sequence[jax.Array], requires_grad: Sequence[bool]) -> tuple[bool, ...]:
    """Which outputs depend on an input that requires grad (and are inexact)."""
    key = (tuple(requires_grad), tuple((a.shape, str(a.dtype)) for a in arrays))
    if key not in self._dependences:
      closed = jax.make_jaxpr(self.fn)(*arrays)
      jaxpr = closed.jaxpr
      count = len(jaxpr.outvars)
      dependent = []
      for k, var in enumerate(jaxpr.outvars):
        if not _inexact(var.aval.dtype):
          dependent.append(False)
          continue
        _, used = partial_eval.dce_jaxpr(jaxpr, [j == k for j in range(count)])
        dependent.append(any(u and r for u, r in zip(used, requires_grad)))
      self._dependences[key] = tuple(dependent)
    return self._dependences[key]


class _Call(torch.autograd.Function):
  """`program(*tensors)`, recorded by autograd; its backward is `program.vjp`."""

  @staticmethod
  def forward(ctx, program: JaxProgram, *tensors):
    with program.precision():
      arrays = [to_jax(t) for t in tensors]
      outputs = program(arrays)
      jax.block_until_ready(outputs)
      dependent = program.dependent_outputs(arrays, ctx.needs_input_grad[1:])
    results = tuple(torch.from_dlpack(o) for o in outputs)
    ctx.program = program
    ctx.inexact_inputs = [i for i, a in enumerate(arrays) if _inexact(a.dtype)]
    ctx.inexact_outputs = [i for i, o in enumerate(outputs) if _inexact(o.dtype)]
    ctx.output_like = [(r.shape, r.dtype, r.device) for r in results]
    ctx.save_for_backward(*tensors)
    ctx.mark_non_differentiable(*(r for r, d in zip(results, dependent) if not d))
    return results

  @staticmethod
  def backward(ctx, *cotangents):
    inputs = ctx.saved_tensors
    used = []
    for i in ctx.inexact_outputs:
      ct = cotangents[i]
      if ct is None:
        shape, dtype, device = ctx.output_like[i]
        ct = torch.zeros(shape, dtype=dtype, device=device)
      used.append(ct)
    grads = _Call.apply(ctx.program.vjp(len(inputs)), *inputs, *used)
    result = [None] * len(inputs)
    for i, g in zip(ctx.inexact_inputs, grads):
      if ctx.needs_input_grad[1 + i]:
        result[i] = g
    return (None, *result)


def call(program: JaxProgram, tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
  """Runs `program` on `tensors`; the results are recorded by autograd when grad mode is on."""
  return _Call.apply(program, *tensors)


def needs_x64(tensors) -> bool:
  return any(t.dtype in _WIDE for t in tensors)
