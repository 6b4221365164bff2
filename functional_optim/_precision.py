"""Mixed precision: low-precision parameters with optimizer state in a wider dtype."""

from typing import Any

import jax
import jax.numpy as jnp

from ._base import GradientTransformation, GradientTransformationExtraArgs, with_extra_args_support

__all__ = ["with_state_dtype"]


def _widens(leaf_dtype, dtype) -> bool:
  """True for a real floating dtype that `dtype` holds exactly and is narrower than it."""
  return (
      jnp.issubdtype(leaf_dtype, jnp.floating)
      and leaf_dtype != dtype
      and jnp.promote_types(leaf_dtype, dtype) == dtype
  )


def _upcast(tree: Any, dtype) -> Any:
  def cast(leaf):
    if hasattr(leaf, "dtype") and _widens(leaf.dtype, dtype):
      return jnp.asarray(leaf, dtype)
    return leaf

  return jax.tree.map(cast, tree)


def with_state_dtype(
    inner: GradientTransformation,
    dtype: jax.typing.DTypeLike = jnp.float32,
) -> GradientTransformationExtraArgs:
  """Runs `inner` in `dtype` for low-precision parameters, so its state lives in `dtype`.

  Every real floating-point leaf narrower than `dtype` (bfloat16 and float16 for
  the default float32) of the parameters, updates and array extra arguments is
  cast to `dtype` before it reaches `inner`; so `inner.init` builds its moments in
  `dtype`, and `inner.update` computes in it. Leaves that `dtype` cannot hold
  exactly (float64 for float32, complex, integer) pass through unchanged.

  The updates are returned as `inner` computes them, in `dtype`, not rounded to
  the parameters' dtype: `apply_updates(params, updates)` then computes
  `params + updates` in `dtype` and rounds once to each parameter's dtype.
  Rounding the updates to the parameters' dtype first would round twice; against
  a float32 run the two differ little (`tests/test_precision.py` measures both).

  The parameters themselves stay in their own dtype: an update smaller than half
  an ulp of a parameter still leaves it unchanged (there are no float32 master
  weights). So float32 state rescues float16 training (whose float16 Adam state
  under- and overflows), while bfloat16 training stays dominated by the
  parameters' own rounding.

  Args:
    inner: any transformation (from this package or optax).
    dtype: a real floating-point dtype for the state and the computation.

  Returns:
    A transformation with `inner`'s state structure (floating parts in `dtype`)
    whose `update` accepts extra arguments and forwards them to `inner` if it
    takes them.

  Raises:
    ValueError: `dtype` is not a real floating-point dtype.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> optimizer = fo.with_state_dtype(fo.adam(1e-3), jnp.float32)
    >>> params = {"w": jnp.ones(2, jnp.bfloat16)}
    >>> state = optimizer.init(params)
    >>> state[0].mu["w"].dtype
    dtype('float32')
    >>> updates, state = optimizer.update(params, state, params)
    >>> fo.apply_updates(params, updates)["w"].dtype
    dtype(bfloat16)

  Reference: Micikevicius et al., 2018, "Mixed Precision Training",
  https://arxiv.org/abs/1710.03740
  """
  try:
    dtype = jnp.dtype(dtype)
  except TypeError:
    raise ValueError(f"dtype must be a real floating-point dtype, got {dtype!r}") from None
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"dtype must be a real floating-point dtype, got {dtype}")
  inner = with_extra_args_support(inner)

  def init_fn(params):
    return inner.init(_upcast(params, dtype))

  def update_fn(updates, state, params=None, **extra_args):
    return inner.update(
        _upcast(updates, dtype),
        state,
        None if params is None else _upcast(params, dtype),
        **{name: _upcast(value, dtype) for name, value in extra_args.items()},
    )

  return GradientTransformationExtraArgs(init_fn, update_fn)
