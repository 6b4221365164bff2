"""contrib.split_real_and_imaginary against optax, and against running on real pairs."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


class _Pair(NamedTuple):
  re: jax.Array
  im: jax.Array


def _inner(lib, name, learning_rate):
  return {
      "adam": lambda: lib.adam(learning_rate),
      "rmsprop": lambda: lib.rmsprop(learning_rate, momentum=0.9),
      "sign": lambda: lib.chain(lib.scale_by_sign(), lib.scale(-learning_rate)),
  }[name]()


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    inner=st.sampled_from(["adam", "rmsprop", "sign"]),
    learning_rate=st.floats(1e-3, 0.5),
)
def test_split_real_and_imaginary(spec, inner, learning_rate):
  parity.assert_same_trajectory(
      fo.contrib.split_real_and_imaginary(_inner(fo, inner, learning_rate)),
      optax.contrib.split_real_and_imaginary(_inner(optax, inner, learning_rate)),
      spec,
  )


@given(spec=parity.pytrees([parity.COMPLEX64]), learning_rate=st.floats(1e-3, 0.5))
def test_same_as_on_real_and_imaginary_parts(spec, learning_rate):
  """One step on complex `z` equals one step of the inner optimizer on `(re z, im z)`."""
  params = spec.build()
  grads = jax.tree.map(lambda z: (1.5 - 0.5j) * z + 0.3, params)
  tx = fo.contrib.split_real_and_imaginary(fo.adam(learning_rate))
  updates, _ = tx.update(grads, tx.init(params), params)
  split = lambda tree: jax.tree.map(lambda z: _Pair(z.real, z.imag), tree)
  inner = fo.adam(learning_rate)
  real_updates, _ = inner.update(split(grads), inner.init(split(params)), split(params))
  merged = jax.tree.map(
      lambda pair: pair.re + 1j * pair.im, real_updates, is_leaf=lambda x: isinstance(x, _Pair)
  )
  parity.assert_trees_close(updates, merged, parity.COMPLEX64)


def test_real_leaves_pass_unsplit():
  params = {"re": jnp.ones(2), "z": jnp.array([1.0 + 1.0j])}
  tx = fo.contrib.split_real_and_imaginary(fo.sgd(0.1))
  updates, state = tx.update(params, tx.init(params), params)
  assert updates["re"].dtype == jnp.float32 and updates["z"].dtype == jnp.complex64
  assert isinstance(state, fo.contrib.SplitRealAndImaginaryState)
