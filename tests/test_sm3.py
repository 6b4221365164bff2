"""scale_by_sm3 and sm3 against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Deviation: optax's scale_by_sm3 keeps no accumulator for rank-0 leaves and fails
# in `update` (IndexError). Ours keeps one accumulator shaped like the leaf, as for
# rank-1 leaves, so a scalar behaves as a vector of one entry. Parity with optax is
# tested on leaves of rank >= 1; `test_scalar_leaf_is_a_one_entry_vector` covers
# scalars.
OPTAX_SM3_FAILS_ON_SCALAR_LEAVES = True
# optax rejects complex parameters in scale_by_sm3 (so do we): real dtypes only.

b1s = st.floats(0.0, 0.99)
b2s = st.one_of(st.just(1.0), st.floats(0.0, 1.0))
epsilons = st.floats(1e-8, 1e-2)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, min_rank=1), b1=b1s, b2=b2s, eps=epsilons
)
def test_scale_by_sm3(spec, b1, b2, eps):
  parity.assert_same_trajectory(
      fo.scale_by_sm3(b1, b2, eps), optax.scale_by_sm3(b1, b2, eps), spec
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, min_rank=1),
    learning_rate=st.floats(1e-4, 1.0),
    momentum=b1s,
)
def test_sm3(spec, learning_rate, momentum):
  parity.assert_same_trajectory(
      fo.sm3(learning_rate, momentum), optax.sm3(learning_rate, momentum), spec
  )


def _add_trailing_axis_to_rank(tree, rank):
  return jax.tree.map(lambda x: x[..., None] if x.ndim == rank else x, tree)


@given(spec=parity.pytrees(parity.REAL_DTYPES, max_rank=1), b1=b1s, b2=b2s)
def test_scalar_leaf_is_a_one_entry_vector(spec, b1, b2):
  assert OPTAX_SM3_FAILS_ON_SCALAR_LEAVES
  params, noise = spec.build(), spec.noise(10)
  ours = parity.trajectory(
      fo.scale_by_sm3(b1, b2), params, noise, apply_updates=fo.apply_updates
  )
  theirs = parity.trajectory(
      optax.scale_by_sm3(b1, b2),
      _add_trailing_axis_to_rank(params, 0),
      _add_trailing_axis_to_rank(noise, 1),  # noise has a leading step axis
      apply_updates=optax.apply_updates,
  )
  our_ps, our_us, our_state = ours
  their_ps, their_us, their_state = theirs
  parity.assert_trees_close(_add_trailing_axis_to_rank(our_us, 1), their_us, spec.dtype, "updates")
  parity.assert_trees_close(_add_trailing_axis_to_rank(our_ps, 1), their_ps, spec.dtype, "params")
  lifted_state = jax.tree.map(lambda x: x.reshape(-1) if x.ndim == 0 else x, our_state)
  parity.assert_trees_close(lifted_state, their_state, spec.dtype, "final state")


def test_optax_fails_on_scalar_leaves():
  tx = optax.scale_by_sm3()
  with pytest.raises(IndexError):
    tx.update(jnp.ones(()), tx.init(jnp.ones(())))


@pytest.mark.parametrize("b2", [0.5, 1.0])
def test_traced_b2_matches_constant_b2(b2):
  params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.arange(2.0)}

  def step(b2):
    tx = fo.scale_by_sm3(b2=b2)
    return tx.update(params, tx.init(params))[0]

  parity.assert_trees_close(jax.jit(step)(jnp.asarray(b2)), step(b2))


def test_complex_parameters_are_rejected():
  with pytest.raises(ValueError, match="complex"):
    fo.scale_by_sm3().init({"w": jnp.ones(2, jnp.complex64)})


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_sm3, dict(b1=1.0), "b1"),
        (fo.scale_by_sm3, dict(b1=-0.1), "b1"),
        (fo.scale_by_sm3, dict(b2=1.5), "b2"),
        (fo.scale_by_sm3, dict(b2=-0.1), "b2"),
        (fo.scale_by_sm3, dict(eps=-1.0), "eps"),
        (fo.sm3, dict(learning_rate=-1.0), "learning_rate"),
        (fo.sm3, dict(learning_rate=0.1, momentum=1.0), "momentum"),
    ],
)
def test_invalid_hyperparameters_raise(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
