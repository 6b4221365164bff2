"""Muon's orthogonalization: Newton-Schulz iterations over (batches of) matrices.

`MuonDimensionNumbers` says which axes of a weight form the matrix; the other axes
are batch axes, orthogonalized independently (through `jax.vmap`).
"""

import math
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, Union

import jax
import jax.numpy as jnp

from functional_optim import _base

ReshapeFn = Callable[[jax.Array], jax.Array]

_PRECONDITIONINGS = ["frobenius", "spectral", "aol", "schatten"]
_DEFAULT_NS_COEFFS = (3.4445, -4.7750, 2.0315)
# Per-step coefficients from the Dion paper (https://arxiv.org/abs/2504.05295).
_DION_NS_COEFFS = [
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
]
_NS_COEFFS_PRESET_DICT = {"standard": _DEFAULT_NS_COEFFS, "dion": _DION_NS_COEFFS}


class MuonDimensionNumbers(NamedTuple):
  """Which axes of a weight form the reduction (rows) and output (columns) of its matrix.

  A 2-d weight `W` of `x @ W = y` has reduction axis 0 and output axis 1 (the
  default). Axes named in neither are batch axes: each batch element is
  orthogonalized on its own.
  """

  reduction_axis: Union[Sequence[int], int] = 0  # axis or axes forming the rows
  output_axis: Union[Sequence[int], int] = 1  # axis or axes forming the columns


WeightDimNumOrFn = Union[
    MuonDimensionNumbers, _base.Params, Callable[[_base.Params], Union[_base.Params, None]]
]

_is_weight_dim_nums = lambda x: isinstance(x, MuonDimensionNumbers)


def _normalize_axes(
    x: jax.Array, dim_nums: MuonDimensionNumbers
) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """The reduction and output axes as tuples of non-negative ints."""
  as_tuple = lambda axes: (axes,) if isinstance(axes, int) else tuple(axes)
  reduction_axes = tuple(ax % x.ndim for ax in as_tuple(dim_nums.reduction_axis))
  output_axes = tuple(ax % x.ndim for ax in as_tuple(dim_nums.output_axis))
  return reduction_axes, output_axes


def _compute_muon_reshape(
    x: jax.Array, dim_nums: MuonDimensionNumbers
) -> tuple[ReshapeFn, ReshapeFn]:
  """`(reshape_fn, inverse_fn)`: `x` to shape `(batch, reduction, output)` and back."""
  if x.ndim < 2:
    raise ValueError(f"Muon optimized parameters must have rank >= 2, got {x.ndim=}")
  reduction_axes, output_axes = _normalize_axes(x, dim_nums)
  if set(reduction_axes) & set(output_axes):
    raise ValueError(
        "Normalized reduction axes and output axes must be disjoint, got"
        f" {reduction_axes} and {output_axes}. Originally {dim_nums=} and {x.shape=}"
    )
  batch_axes = tuple(sorted(set(range(x.ndim)) - set(reduction_axes) - set(output_axes)))
  transpose = batch_axes + reduction_axes + output_axes
  inv_transpose = tuple(sorted(range(x.ndim), key=lambda i: transpose[i]))
  axes2shape = lambda axes: tuple(x.shape[ax] for ax in axes)
  flat_shape = (
      math.prod(axes2shape(batch_axes)),
      math.prod(axes2shape(reduction_axes)),
      math.prod(axes2shape(output_axes)),
  )
  unflat_shape = axes2shape(batch_axes) + axes2shape(reduction_axes) + axes2shape(output_axes)
  reshape_fn = lambda y: y.transpose(transpose).reshape(flat_shape)
  inverse_fn = lambda y: y.reshape(unflat_shape).transpose(inv_transpose)
  return reshape_fn, inverse_fn


def _get_shape_products(x: jax.Array, dim_nums: MuonDimensionNumbers) -> tuple[int, int]:
  """`(fan_in, fan_out)`: the sizes of the reduction and output axes."""
  reduction_axes, output_axes = _normalize_axes(x, dim_nums)
  fan_in = math.prod(x.shape[ax] for ax in reduction_axes)
  fan_out = math.prod(x.shape[ax] for ax in output_axes)
  return fan_in, fan_out


# Newton-Schulz steps. One step maps X to c0 X + (c1 A + c2 A A) X with A = X X^H;
# f(X^H) = f(X)^H, so a tall X may be transposed first. The AOL and Schatten
# variants rescale X in their first step instead of before the loop.


def _base_newton_schulz_iteration(x: jax.Array, coeffs: jax.Array) -> jax.Array:
  a = x @ x.T.conj()
  b = coeffs[1] * a + coeffs[2] * a @ a
  return coeffs[0] * x + b @ x


def _aol_first_newton_schulz_iteration(
    x: jax.Array, coeffs: jax.Array, eps: jax.typing.ArrayLike = 1e-8
) -> jax.Array:
  """First step with 'Almost Orthogonal Layer' row rescaling (Turbo-Muon)."""
  a = x @ x.T.conj()
  rescaling = jnp.clip(jnp.abs(a).sum(axis=-1), min=eps)
  s = jnp.expand_dims(jax.lax.rsqrt(rescaling), -1)
  x, a = x * s, a * s * s.transpose(-1, -2)
  b = coeffs[1] * a + coeffs[2] * a @ a
  return coeffs[0] * x + b @ x


def _schatten_first_newton_schulz_iteration(
    x: jax.Array, coeffs: jax.Array, eps: jax.typing.ArrayLike = 1e-8
) -> jax.Array:
  """First step with Schatten-4 norm rescaling.

  optax forms `A = X X^T` here, without the conjugate its other steps use; for a
  complex `X` that is not `X X^H`, so this uses `X X^H` (the same for real `X`).
  """
  a = x @ x.T.conj()
  rescaling = jnp.clip(jnp.linalg.norm(a, ord="fro", axis=(-2, -1)), min=eps)
  s = jnp.expand_dims(jax.lax.rsqrt(rescaling), (0, -1))
  x, a = x * s, a * s**2
  b = coeffs[1] * a + coeffs[2] * a @ a
  return coeffs[0] * x + b @ x


_newton_schulz_iterator = _base_newton_schulz_iteration  # optax's older name


def _spectral_norm(x: jax.Array) -> jax.Array:
  """Largest singular value, in the real dtype of `x`.

  The SVD has no half-precision kernel on CPU (optax fails there on bfloat16), so
  float16 and bfloat16 matrices are decomposed in float32.
  """
  if jnp.finfo(x.dtype).bits < 32:
    return jnp.linalg.norm(x.astype(jnp.float32), ord=2).astype(x.dtype)
  return jnp.linalg.norm(x, ord=2)


def _first_step_variant(first_step):
  def iterator(i, x, coeffs):
    return jax.lax.cond(
        i == 0,
        lambda x: first_step(x, coeffs),
        lambda x: _base_newton_schulz_iteration(x, coeffs),
        x,
    )

  return iterator


def _base_ns_iterator(i, x, coeffs):
  del i
  return _base_newton_schulz_iteration(x, coeffs)


_aol_ns_iterator = _first_step_variant(_aol_first_newton_schulz_iteration)
_schatten_ns_iterator = _first_step_variant(_schatten_first_newton_schulz_iteration)
_NS_ITERATORS = {
    "frobenius": _base_ns_iterator,
    "spectral": _base_ns_iterator,
    "aol": _aol_ns_iterator,
    "schatten": _schatten_ns_iterator,
}


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: jax.Array,
    ns_steps: jax.typing.ArrayLike = 5,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    eps: jax.typing.ArrayLike = 1e-8,
    dimension_numbers: Union[MuonDimensionNumbers, None] = None,
) -> jax.Array:
  r"""Approximately orthogonalizes `x` (maps `U S V^H` to about `U V^H`) by Newton-Schulz.

  The quintic iteration's coefficients maximize the slope at zero rather than
  converge exactly: the result is `U S' V^H` with `S'` roughly uniform in
  [0.5, 1.5], which trains as well as `U V^H` in fewer steps.

  Args:
    x: a matrix, or an array whose matrix axes `dimension_numbers` names.
    ns_coeffs: coefficients `(3,)`, or one row per step `(n, 3)`.
    ns_steps: number of steps (ignored when `ns_coeffs` is 2-d).
    preconditioning: rescaling before the iteration: `"frobenius"` (divide by the
      Frobenius norm), `"spectral"` (by the spectral norm), `"aol"` or
      `"schatten"` (rescale within the first step).
    eps: added to the norm for `"frobenius"` and `"spectral"`.
    dimension_numbers: the matrix axes of a non-2-d `x`; other axes are batched.

  References:
    Jordan, 2024, "modded-nanogpt: Speedrunning the NanoGPT baseline",
    https://github.com/KellerJordan/modded-nanogpt

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.contrib import _muon
    >>> x = jnp.array([[3.0, 0.0], [0.0, 1.0]])
    >>> q = _muon.orthogonalize_via_newton_schulz(x, jnp.array([2.0, -1.5, 0.5]), 20)
    >>> jnp.round(q, 3)
    Array([[1., 0.],
           [0., 1.]], dtype=float32)
  """
  if x.ndim != 2 and not isinstance(dimension_numbers, MuonDimensionNumbers):
    raise ValueError(
        "Input must have shape (m, n) or weight dimension numbers must be"
        f" provided. Got shape={x.shape} and {dimension_numbers=}."
    )
  if x.ndim == 2:
    dimension_numbers = MuonDimensionNumbers(reduction_axis=0, output_axis=1)
  if ns_coeffs.ndim > 2 or ns_coeffs.shape[-1] != 3:
    raise ValueError(
        f"Newton-Schulz coefficients must have shape (3,) or (n, 3), got {ns_coeffs.shape}"
    )
  if preconditioning not in _PRECONDITIONINGS:
    raise ValueError(f"Unknown preconditioning {preconditioning}")
  ns_iterator = _NS_ITERATORS[preconditioning]

  def orthogonalize(x):
    transposed = x.shape[0] > x.shape[1]
    if transposed:
      x = x.T
    if preconditioning == "frobenius":
      x /= jnp.linalg.norm(x, ord="fro") + eps
    elif preconditioning == "spectral":
      x /= _spectral_norm(x) + eps
    coeffs = ns_coeffs.astype(x.dtype)
    if coeffs.ndim == 1:
      # Unrolled, so that it composes efficiently with jax.vmap.
      x = jax.lax.fori_loop(0, ns_steps, lambda i, x: ns_iterator(i, x, coeffs), x, unroll=True)
    else:

      def scan_body(carry, step_coeffs):
        i, x = carry
        return (i + 1, ns_iterator(i, x, step_coeffs)), None

      (_, x), _ = jax.lax.scan(scan_body, (jnp.asarray(0, dtype=jnp.int32), x), coeffs)
    return x.T if transposed else x

  reshape_fn, inverse_fn = _compute_muon_reshape(x, dimension_numbers)
  return inverse_fn(jax.vmap(orthogonalize)(reshape_fn(x)))
