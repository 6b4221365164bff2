"""torch.optim.Muon as a pure transformation."""

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from .._base import GradientTransformation, Params, Updates
from . import _common
from ._checks import check_non_negative, check_type, is_number

__all__ = ["MUON_TORCH_STATE_KEYS", "MuonState", "muon"]

# The fields of `MuonState` that torch's per-parameter state_dict holds.
MUON_TORCH_STATE_KEYS = ("momentum_buffer",)

_HIGHEST = jax.lax.Precision.HIGHEST


class MuonState(NamedTuple):
  """State of `muon`: torch's per-parameter state (zero before the first step)."""

  momentum_buffer: Params  # like params (matrices): momentum of the gradients


def _bf16(x):
  """Rounds float32 values to bfloat16 precision, keeping float32 storage."""
  return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=7)


def _bf16_fma(scale, x, y):
  """float32 `fma(scale, x, y)` for bfloat16-valued `x`, exact on any backend.

  torch's bfloat16 `addmm` adds `beta * input` to the float32 product with one
  rounding; XLA may or may not contract `scale * x + y`, so `scale * x` is split
  into two products that are exact in float32 (16 x 8 and 8 x 8 significant bits),
  which are then summed with an error-free `y + hi` (TwoSum).
  """
  scale = jnp.asarray(scale, jnp.float32)
  scale_hi = jax.lax.reduce_precision(scale, exponent_bits=8, mantissa_bits=15)
  hi, lo = scale_hi * x, (scale - scale_hi) * x
  total = y + hi
  y_back = total - hi
  error = (y - y_back) + (hi - (total - y_back))
  return total + (error + lo)


def _zeropower_via_newton_schulz(grad, coefficients, steps, eps):
  """torch's orthogonalization, in bfloat16 with float32 accumulation, as torch.

  Every product of bfloat16 values is exact in float32, so the results equal
  torch's up to the order of the float32 sums inside the matrix products (which
  is the same for small matrices).
  """
  a, b, c = coefficients
  x = _bf16(grad)
  transposed = x.shape[0] > x.shape[1]
  if transposed:
    x = x.T
  norm = _bf16(jnp.sqrt(jnp.sum(x * x)))
  x = _bf16(x / jnp.maximum(norm, _bf16(jnp.float32(eps))))

  def iteration(_, x):
    gram = _bf16(jnp.matmul(x, x.T, precision=_HIGHEST))
    # torch rounds `c * (gram @ gram)` to float32 before adding `b * gram` to it.
    scaled_square = jax.lax.optimization_barrier(c * jnp.matmul(gram, gram, precision=_HIGHEST))
    gram_update = _bf16(_bf16_fma(b, gram, scaled_square))
    return _bf16(_bf16_fma(a, x, jnp.matmul(gram_update, x, precision=_HIGHEST)))

  x = jax.lax.fori_loop(0, steps, iteration, x)
  return x.T if transposed else x


def _lr_ratio(adjust_lr_fn: Optional[str], shape) -> float:
  rows, cols = shape[:2]
  if adjust_lr_fn is None or adjust_lr_fn == "original":
    return math.sqrt(max(1, rows / cols))
  return 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw"


def muon(
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: Optional[str] = None,
) -> GradientTransformation:
  """Muon, step for step as `torch.optim.Muon`: orthogonalized momentum for matrices.

  Every parameter must be a real matrix (2-D), as in torch; `init` raises
  otherwise. The momentum (Nesterov by default) is orthogonalized by `ns_steps`
  Newton-Schulz iterations computed in bfloat16, as torch computes them, and the
  parameters decay by `1 - lr * weight_decay` before the step. torch checks
  `ns_steps` and `ns_coefficients` at the first step; here the factory checks them.
  One deliberate difference: for bfloat16 parameters with `nesterov=False`, torch
  2.13 divides the momentum buffer itself by its norm (the orthogonalization
  aliases it; https://github.com/pytorch/pytorch/pull/194664 fixes that); here the
  buffer is the plain momentum, as torch keeps it for every other dtype.

  Args:
    lr: learning rate.
    weight_decay: decoupled weight decay.
    momentum: momentum factor.
    nesterov: use Nesterov momentum.
    ns_coefficients: `(a, b, c)`, the coefficients of the quintic Newton-Schulz
      iteration `X <- a X + (b A + c A A) X` with `A = X X^T`.
    eps: lower bound of the norm that the momentum is divided by first.
    ns_steps: number of Newton-Schulz iterations (less than 100).
    adjust_lr_fn: None or "original": scale the learning rate by
      `sqrt(max(1, rows / cols))`; "match_rms_adamw": by `0.2 * sqrt(max(rows,
      cols))`, to match AdamW's update RMS.

  Returns:
    A `GradientTransformation` whose `update(grads, state, params)` needs `params`.

  References:
    Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks",
    https://kellerjordan.github.io/posts/muon/;
    Liu et al., 2025, "Muon is Scalable for LLM Training", https://arxiv.org/abs/2502.16982
    (match_rms_adamw);
    `torch.optim.Muon`, https://docs.pytorch.org/docs/stable/generated/torch.optim.Muon.html

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import torchlike
    >>> tx = torchlike.muon(lr=0.1, weight_decay=0.0)
    >>> params = jnp.zeros((2, 2))
    >>> updates, state = tx.update(jnp.eye(2), tx.init(params), params)
    >>> updates
    Array([[-0.1125,  0.    ],
           [ 0.    , -0.1125]], dtype=float32)
  """
  check_type(lr, f"Learning rate: {lr}")
  check_type(momentum, f"momentum: {momentum}")
  if is_number(lr) and not 0.0 <= lr:
    raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
  if is_number(momentum) and not 0.0 <= momentum:
    raise ValueError(f"momentum should be >= 0 but is: {momentum}")
  check_non_negative(weight_decay, f"weight decay should be >= 0 but is: {weight_decay}")
  if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
    raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
  if ns_steps >= 100:
    raise ValueError("Number of steps must be less than 100 for computational efficiency")
  if len(ns_coefficients) != 3:
    raise ValueError("Coefficients must be a tuple of exactly 3 values")

  def kernel(rnd, param, grad, momentum_buffer):
    if grad.ndim != 2:
      raise ValueError("Param gradient must be a 2D matrix")
    momentum_buffer = rnd(_common.lerp(momentum_buffer, grad, 1 - momentum))
    update = rnd(_common.lerp(grad, momentum_buffer, momentum)) if nesterov else momentum_buffer
    update = _zeropower_via_newton_schulz(update, ns_coefficients, ns_steps, eps)
    decayed = rnd(param * (1 - lr * weight_decay))
    adjusted_lr = lr * _lr_ratio(adjust_lr_fn, param.shape)
    new_param = rnd(decayed + rnd(-adjusted_lr) * update)
    return new_param - param, momentum_buffer

  def init_fn(params: Params) -> MuonState:
    for p in jax.tree.leaves(params):
      p = jnp.asarray(p)
      if p.ndim != 2:
        raise ValueError(
            "Muon only supports 2D parameters whereas we found a parameter with size: "
            f"torch.Size({list(p.shape)})"
        )
      if jnp.issubdtype(p.dtype, jnp.complexfloating):
        raise RuntimeError("Muon does not support complex parameters")
    return MuonState(momentum_buffer=_common.zeros_like(params))

  def update_fn(
      updates: Updates, state: MuonState, params: Optional[Params] = None
  ) -> tuple[Updates, MuonState]:
    updates, (momentum_buffer,) = _common.map_params(kernel, params, updates, *state)
    return updates, MuonState(momentum_buffer)

  return GradientTransformation(init_fn, update_fn)
