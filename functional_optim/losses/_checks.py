"""Input checks and small helpers shared by the loss families.

The checks run at trace time on static shapes and dtypes, so they cost nothing under `jit`.
"""

import functools
import operator
import warnings
from collections.abc import Callable
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np


def check_subdtype(array: jax.typing.ArrayLike, subdtype: jax.typing.DTypeLike) -> None:
  """Raises `TypeError` unless `array`'s dtype is a subdtype of `subdtype`."""
  dtype = jax.dtypes.result_type(array)
  if not jnp.issubdtype(dtype, subdtype):
    raise TypeError(
        f"Expected the input to have a dtype that is a subdtype of {subdtype}, got {dtype} instead"
    )


def _shape(array) -> tuple[int, ...]:
  return array.shape if hasattr(array, "shape") else np.asarray(array).shape


def check_shapes_equal(a: jax.typing.ArrayLike, b: jax.typing.ArrayLike) -> None:
  """Raises `ValueError` unless `a` and `b` have the same shape."""
  if _shape(a) != _shape(b):
    raise ValueError(f"Shape mismatch: got {_shape(a)} and {_shape(b)}.")


def check_rank(array: jax.typing.ArrayLike, rank: int) -> None:
  """Raises `ValueError` unless `array` has rank `rank`."""
  if len(_shape(array)) != rank:
    raise ValueError(f"Expected the input to have rank {rank}, got {len(_shape(array))} instead")


def canonicalize_axis(axis: int, ndim: int) -> int:
  """`axis` as a non-negative index into `ndim` dimensions (numpy's `normalize_axis_index`)."""
  axis = operator.index(axis)
  if 0 <= axis < ndim:
    return axis
  if -ndim <= axis < 0:
    return axis + ndim
  raise ValueError(f"axis {axis} is out of bounds for array of dimension {ndim}")


def canonicalize_axes(axes, ndim: int) -> tuple[int, ...]:
  """Each of `axes` as a non-negative index (numpy's `normalize_axis_tuple`)."""
  return tuple(canonicalize_axis(axis, ndim) for axis in axes)


def deprecated(
    replacement: Optional[str] = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
  """Decorator: calling the function emits optax's `DeprecationWarning` naming `replacement`."""

  def decorate(fun):
    message = f"The function {fun.__name__} is deprecated."
    if replacement:
      message += f" Please use {replacement} instead."

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
      warnings.warn(message, category=DeprecationWarning, stacklevel=2)
      return fun(*args, **kwargs)

    return wrapped

  return decorate
