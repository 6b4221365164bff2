"""Complex parameters optimized as pairs of real ones.

`split_real_and_imaginary` hands the wrapped transformation the real and imaginary
parts of each complex array as two real arrays, and merges its real updates back
into complex ones, so the optimizer behaves as on twice as many real parameters.

JAX's gradient of a real function of complex inputs is the conjugate of the
convention of PyTorch and others: conjugate it between `jax.grad` and `update`.
See https://github.com/deepmind/optax/issues/196.
"""

from typing import NamedTuple, Union

import jax
import jax.numpy as jnp

from functional_optim import _base

__all__ = ["SplitRealAndImaginaryState", "split_real_and_imaginary"]


class SplitRealAndImaginaryArrays(NamedTuple):
  """A pair of real arrays split from a complex array."""

  real: jax.typing.ArrayLike  # like the complex array, its real dtype
  imaginary: jax.typing.ArrayLike  # like the complex array, its real dtype


def _complex_to_real_pair(
    x: jax.typing.ArrayLike,
) -> Union[jax.typing.ArrayLike, SplitRealAndImaginaryArrays]:
  """Splits a complex array into a `SplitRealAndImaginaryArrays`; a real one passes."""
  if jnp.iscomplexobj(x):
    return SplitRealAndImaginaryArrays(x.real, x.imag)
  return x


def _real_pair_to_complex(
    x: Union[jax.typing.ArrayLike, SplitRealAndImaginaryArrays],
) -> jax.typing.ArrayLike:
  """Merges a `SplitRealAndImaginaryArrays` into a complex array; anything else passes."""
  if isinstance(x, SplitRealAndImaginaryArrays):
    return x.real + x.imaginary * 1j
  return x


class SplitRealAndImaginaryState(NamedTuple):
  """State of `split_real_and_imaginary`: the wrapped transformation's state."""

  inner_state: _base.OptState  # the inner state, over the split (real) parameters


def split_real_and_imaginary(
    inner: _base.GradientTransformation,
) -> _base.GradientTransformation:
  """Runs `inner` on the real and imaginary parts of complex updates, as separate arrays.

  Each complex leaf becomes a `SplitRealAndImaginaryArrays(real, imaginary)` pair
  for `inner`, and the pair of real updates it returns is merged back into one
  complex update. Real parameters and updates pass through unsplit.

  Args:
    inner: the transformation to run on real arrays.

  References:
    optax issue #196, "Complex-valued optimization",
    https://github.com/deepmind/optax/issues/196

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.split_real_and_imaginary(fo.scale_by_sign())
    >>> z = jnp.array([1.0 + 2.0j])
    >>> tx.update(jnp.array([0.5 - 3.0j]), tx.init(z), z)[0]
    Array([1.-1.j], dtype=complex64)
  """

  def init_fn(params):
    return SplitRealAndImaginaryState(inner.init(jax.tree.map(_complex_to_real_pair, params)))

  def update_fn(updates, state, params=None):
    updates = jax.tree.map(_complex_to_real_pair, updates)
    params = jax.tree.map(_complex_to_real_pair, params)
    updates, inner_state = inner.update(updates, state.inner_state, params)
    updates = jax.tree.map(
        _real_pair_to_complex,
        updates,
        is_leaf=lambda x: isinstance(x, SplitRealAndImaginaryArrays),
    )
    return updates, SplitRealAndImaginaryState(inner_state)

  return _base.GradientTransformation(init_fn, update_fn)
