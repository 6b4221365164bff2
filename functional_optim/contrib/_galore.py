"""GaLore: gradient low-rank projection, keeping optimizer state in a low-rank subspace."""

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base

__all__ = ["GaLoreDimensionNumbers", "GaLoreState", "galore", "scale_by_galore"]

ReshapeFn = Callable[[jax.Array], jax.Array]


class GaLoreDimensionNumbers(NamedTuple):
  """Which axes of a weight form the rows (reduction) and columns (output) of its matrix.

  A weight stored with more than two axes, e.g. an attention projection of shape
  `(embed, heads, head_dim)`, is projected as the matrix `(embed, heads * head_dim)`
  with `reduction_axis=0, output_axis=(1, 2)`. Every axis must be named.
  """

  reduction_axis: Union[Sequence[int], int] = 0  # axis or axes forming the rows
  output_axis: Union[Sequence[int], int] = 1  # axis or axes forming the columns


GaLoreDimNumsOrFn = Union[
    GaLoreDimensionNumbers, _base.Params, Callable[[_base.Params], Optional[_base.Params]]
]

_is_galore_dim_nums = lambda x: isinstance(x, GaLoreDimensionNumbers)
_is_dim_nums_leaf = lambda x: x is None or isinstance(x, GaLoreDimensionNumbers)


def _normalize_axes(
    x: jax.Array, dim_nums: GaLoreDimensionNumbers
) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """The reduction and output axes as tuples of non-negative ints."""
  as_tuple = lambda axes: (axes,) if isinstance(axes, int) else tuple(axes)
  reduction_axes = tuple(ax % x.ndim for ax in as_tuple(dim_nums.reduction_axis))
  output_axes = tuple(ax % x.ndim for ax in as_tuple(dim_nums.output_axis))
  return reduction_axes, output_axes


def _compute_galore_reshape(
    x: jax.Array, dim_nums: GaLoreDimensionNumbers
) -> tuple[ReshapeFn, ReshapeFn]:
  """`(reshape_fn, inverse_fn)`: `x` to its `(reduction, output)` matrix and back."""
  if x.ndim < 2:
    raise ValueError(f"GaLore requires tensors with rank >= 2, got shape {x.shape}")
  reduction_axes, output_axes = _normalize_axes(x, dim_nums)
  if set(reduction_axes) & set(output_axes):
    raise ValueError(
        f"Reduction axes {reduction_axes} and output axes {output_axes} "
        f"must be disjoint. Got dim_nums={dim_nums} for shape {x.shape}"
    )
  if len(set(reduction_axes) | set(output_axes)) != x.ndim:
    raise ValueError(
        f"All axes must be specified. Got reduction={reduction_axes}, "
        f"output={output_axes} for tensor with {x.ndim} dimensions"
    )
  transpose = reduction_axes + output_axes
  inv_transpose = tuple(sorted(range(x.ndim), key=lambda i: transpose[i]))
  axes2shape = lambda axes: tuple(x.shape[ax] for ax in axes)
  matrix_shape = (math.prod(axes2shape(reduction_axes)), math.prod(axes2shape(output_axes)))
  transposed_shape = axes2shape(reduction_axes) + axes2shape(output_axes)
  reshape_fn = lambda y: y.transpose(transpose).reshape(matrix_shape)
  inverse_fn = lambda y: y.reshape(transposed_shape).transpose(inv_transpose)
  return reshape_fn, inverse_fn


def _matrix_shape(x: jax.Array, dim_nums: GaLoreDimensionNumbers) -> tuple[int, int]:
  """`(m, n)`: the shape of the matrix `_compute_galore_reshape` makes of `x`."""
  reduction_axes, output_axes = _normalize_axes(x, dim_nums)
  return math.prod(x.shape[a] for a in reduction_axes), math.prod(x.shape[a] for a in output_axes)


def _svd_dtype(dtype) -> jnp.dtype:
  # optax takes the SVD in float32, which drops the imaginary part of a complex
  # gradient; a complex gradient is decomposed in complex64 here.
  return jnp.complex64 if jnp.issubdtype(dtype, jnp.complexfloating) else jnp.float32


class GaLoreState(NamedTuple):
  """State of `scale_by_galore`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  base_optimizer_state: _base.OptState  # base optimizer's state over the low-rank gradients
  # per leaf, dtype of the param: (m, r) for a left projection (m >= n), (n, r) for a
  # right one, (0, 0) for a leaf that is not projected
  projector: _base.Updates


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[_base.GradientTransformation] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> _base.GradientTransformation:
  """Runs `base_optimizer` on gradients projected onto a rank-`rank` subspace.

  Each projected gradient `G` (an `(m, n)` matrix) becomes `P^T G` when `m >= n`
  (`P`: the top `r = min(rank, m, n)` left singular vectors of `G`) or `G P` when
  `m < n` (`P`: right singular vectors). `P` is recomputed from the current gradient
  every `update_proj_gap` steps. The base optimizer's output is projected back
  (`P U` or `U P^T`) and multiplied by `scale`. Leaves that are not projected go
  through the base optimizer unchanged.

  The base optimizer sees low-rank shapes and no params, so it must be a gradient
  scaling (`scale_by_adam`, `scale_by_lion`, `scale_by_rms`, ...), not `adamw` or
  `lamb`; weight decay belongs to `galore`'s `weight_decay`.

  Args:
    rank: rank of the projection (clipped to `min(m, n)`).
    update_proj_gap: steps between recomputations of the projectors.
    scale: factor applied to the projected-back updates.
    base_optimizer: the transformation run in the subspace; None means
      `fo.scale_by_adam()`.
    weight_dimension_numbers: which leaves are projected and as which matrix:
      None projects the 2-d leaves; one `GaLoreDimensionNumbers` applies to every
      leaf of rank >= 2; a tree of them (None: not projected) with the structure
      of the params, or a function of the params returning one.

  References:
    Zhao et al., 2024, "GaLore: Memory-Efficient LLM Training by Gradient
    Low-Rank Projection", https://arxiv.org/abs/2403.03507

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_galore(rank=1)
    >>> params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    >>> state = tx.init(params)
    >>> state.projector["w"].shape, state.base_optimizer_state.mu["w"].shape
    ((3, 1), (1, 2))
  """
  if base_optimizer is None:
    base_optimizer = fo.scale_by_adam()
  if not isinstance(rank, int):
    raise TypeError(f"`rank` must be an int, got {type(rank)}")
  if rank <= 0:
    raise ValueError(f"`rank` must be positive, got {rank}")
  if isinstance(update_proj_gap, numbers.Integral) and update_proj_gap < 1:
    raise ValueError(f"update_proj_gap must be >= 1, got update_proj_gap={update_proj_gap!r}")

  def get_dim_nums(params):
    if weight_dimension_numbers is None:
      return jax.tree.map(lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, params)
    if callable(weight_dimension_numbers):
      return weight_dimension_numbers(params)
    if _is_galore_dim_nums(weight_dimension_numbers):
      return jax.tree.map(lambda p: weight_dimension_numbers if p.ndim >= 2 else None, params)
    return weight_dimension_numbers

  def matrix_layout(x, dim_num):
    """`(reshape_fn, inverse_fn, use_left, effective_rank)` of a projected leaf."""
    reshape_fn, inverse_fn = _compute_galore_reshape(x, dim_num)
    m_dim, n_dim = _matrix_shape(x, dim_num)
    return reshape_fn, inverse_fn, m_dim >= n_dim, min(rank, m_dim, n_dim)

  def projector_and_proxy(p, dim_num):
    """Zero projector and low-rank stand-in for `p` (what the base optimizer sees)."""
    if dim_num is None:
      return jnp.zeros((0, 0), dtype=p.dtype), jnp.zeros_like(p)
    _, _, use_left, r = matrix_layout(p, dim_num)
    m_dim, n_dim = _matrix_shape(p, dim_num)
    if use_left:
      projector_shape, proxy_shape = (m_dim, r), (r, n_dim)
    else:
      projector_shape, proxy_shape = (n_dim, r), (m_dim, r)
    return jnp.zeros(projector_shape, dtype=p.dtype), jnp.zeros(proxy_shape, dtype=p.dtype)

  def split_pairs(like, pairs):
    if not jax.tree.leaves(like):  # nothing to split (optax fails on an empty tree here)
      return like, like
    return jax.tree.transpose(jax.tree.structure(like), jax.tree.structure((0, 0)), pairs)

  def init_fn(params):
    if not jax.tree.leaves(params):  # e.g. the placeholder of `tree.map_params`
      return GaLoreState(
          count=jnp.zeros([], jnp.int32),
          base_optimizer_state=base_optimizer.init(params),
          projector=params,
      )
    pairs = jax.tree.map(
        projector_and_proxy, params, get_dim_nums(params), is_leaf=_is_dim_nums_leaf
    )
    projectors, proxies = split_pairs(params, pairs)
    return GaLoreState(
        count=jnp.zeros([], jnp.int32),
        base_optimizer_state=base_optimizer.init(proxies),
        projector=projectors,
    )

  def update_fn(updates, state, params=None):
    del params
    should_update_proj = (state.count % update_proj_gap) == 0
    dim_nums = get_dim_nums(updates)

    def project_to_low_rank(grad, projector, dim_num):
      if dim_num is None:
        return grad, projector
      reshape_fn, _, use_left, r = matrix_layout(grad, dim_num)
      grad_2d = reshape_fn(grad)

      def fresh_projector():
        u, _, vh = jnp.linalg.svd(grad_2d.astype(_svd_dtype(grad.dtype)), full_matrices=False)
        # Columns of P span the subspace: top left singular vectors, or the
        # (conjugated) top right ones, so that G P = U S on that subspace.
        new = u[:, :r] if use_left else vh[:r, :].conj().T
        return new.astype(grad.dtype)

      projector = jax.lax.cond(should_update_proj, fresh_projector, lambda: projector)
      low_rank = projector.conj().T @ grad_2d if use_left else grad_2d @ projector
      return low_rank, projector

    def project_back_to_full(low_rank_update, projector, grad, dim_num):
      if dim_num is None:
        return low_rank_update
      _, inverse_fn, use_left, _ = matrix_layout(grad, dim_num)
      upd_2d = projector @ low_rank_update if use_left else low_rank_update @ projector.conj().T
      return (scale * inverse_fn(upd_2d)).astype(grad.dtype)

    pairs = jax.tree.map(
        project_to_low_rank, updates, state.projector, dim_nums, is_leaf=_is_dim_nums_leaf
    )
    low_rank_grads, projectors = split_pairs(updates, pairs)
    low_rank_updates, base_state = base_optimizer.update(
        low_rank_grads, state.base_optimizer_state, None
    )
    full_updates = jax.tree.map(
        project_back_to_full, low_rank_updates, projectors, updates, dim_nums,
        is_leaf=_is_dim_nums_leaf,
    )
    return full_updates, GaLoreState(
        count=fo.safe_int32_increment(state.count),
        base_optimizer_state=base_state,
        projector=projectors,
    )

  return _base.GradientTransformation(init_fn, update_fn)


def galore(
    learning_rate: _base.ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: Optional[_base.GradientTransformation] = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
    weight_dimension_numbers: Optional[GaLoreDimNumsOrFn] = None,
) -> _base.GradientTransformationExtraArgs:
  """GaLore: `scale_by_galore`, decoupled weight decay, then the learning rate.

  Full-parameter training whose optimizer state lives in a low-rank subspace of
  each weight matrix's gradient: Adam's two moments of an `(m, n)` matrix take
  `2 r max(m, n)` numbers instead of `2 m n`, plus the projector. Weight decay is
  applied in the full space and multiplied by the learning rate. If the base
  optimizer carries its own learning rate, pass `learning_rate=1.0`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    rank: rank of the projection.
    update_proj_gap: steps between recomputations of the projectors.
    scale: factor applied to the projected-back updates.
    base_optimizer: a gradient-only transformation run in the subspace; None
      means `fo.scale_by_adam()`.
    weight_decay: decoupled weight decay rate.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.
    weight_dimension_numbers: which leaves are projected, see `scale_by_galore`.

  References:
    Zhao et al., 2024, "GaLore: Memory-Efficient LLM Training by Gradient
    Low-Rank Projection", https://arxiv.org/abs/2403.03507

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(jnp.square(x["w"]))
    >>> solver = fo.contrib.galore(learning_rate=0.01, rank=4)
    >>> params = {"w": jnp.ones((8, 8)), "b": jnp.ones(8)}
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   updates, opt_state = solver.update(jax.grad(f)(params), opt_state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{f(params):.2E}")
    6.18E+01
  """
  return fo.chain(
      scale_by_galore(
          rank=rank,
          update_proj_gap=update_proj_gap,
          scale=scale,
          base_optimizer=base_optimizer,
          weight_dimension_numbers=weight_dimension_numbers,
      ),
      fo.add_decayed_weights(weight_decay, mask),
      fo.scale_by_learning_rate(learning_rate),
  )
