"""contrib.sam and contrib.normalize against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax blends the two branches as `cond * a + (1 - cond) * b`, so a non-finite value in the
# branch not taken poisons the result: normalizing a zero gradient (0 / 0) on the outer step
# makes the outer update NaN. We select instead.
OPTAX_SAM_BLEND_PROPAGATES_NAN = True
# optax's normalize() promotes the low-precision leaves of a mixed-dtype tree to the dtype of the
# global norm (the highest); ours keeps each leaf's dtype.
OPTAX_NORMALIZE_PROMOTES_MIXED_DTYPES = True


def _build(lib, outer_lr, rho, adv, sync_period, reset_state, opaque_mode):
  adv_opt = lib.sgd(rho) if adv == "sgd" else lib.adam(rho)
  return lib.contrib.sam(
      lib.sgd(outer_lr, momentum=0.9),
      lib.chain(lib.contrib.normalize(), adv_opt),
      sync_period,
      reset_state,
      opaque_mode,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_normalize(spec):
  parity.assert_same_trajectory(fo.contrib.normalize(), optax.contrib.normalize(), spec)


def test_normalize_keeps_leaf_dtypes():
  updates = {"a": jnp.array([3.0], jnp.bfloat16), "b": jnp.array([4.0])}
  dtypes = lambda tree: {k: v.dtype for k, v in tree.items()}
  ours, theirs = fo.contrib.normalize(), optax.contrib.normalize()
  assert dtypes(ours.update(updates, ours.init(updates))[0]) == dtypes(updates)
  their_dtypes = dtypes(theirs.update(updates, theirs.init(updates))[0])
  assert (their_dtypes["a"] == jnp.float32) == OPTAX_NORMALIZE_PROMOTES_MIXED_DTYPES


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    outer_lr=st.floats(1e-3, 0.5),
    rho=st.floats(1e-3, 0.5),
    adv=st.sampled_from(["sgd", "adam"]),
    sync_period=st.integers(1, 3),
    reset_state=st.booleans(),
)
def test_sam_transparent(spec, outer_lr, rho, adv, sync_period, reset_state):
  args = (outer_lr, rho, adv, sync_period, reset_state, False)
  parity.assert_same_trajectory(_build(fo, *args), _build(optax, *args), spec)


def _grad_fn_args(params, grads):
  del grads
  return {"grad_fn": lambda p, i: jax.tree.map(lambda x: (0.5 + 0.1 * i) * x, p)}


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    outer_lr=st.floats(1e-3, 0.5),
    rho=st.floats(1e-3, 0.5),
    adv=st.sampled_from(["sgd", "adam"]),
    sync_period=st.integers(1, 3),
    reset_state=st.booleans(),
)
def test_sam_opaque(spec, outer_lr, rho, adv, sync_period, reset_state):
  args = (outer_lr, rho, adv, sync_period, reset_state, True)
  parity.assert_same_trajectory(
      _build(fo, *args), _build(optax, *args), spec, extra_args_fn=_grad_fn_args
  )


def test_zero_gradient_on_the_outer_step():
  params = jnp.array([1.0, -2.0])
  zero = jnp.zeros(2)

  def run(lib):
    tx = lib.contrib.sam(lib.sgd(0.1), lib.chain(lib.contrib.normalize(), lib.sgd(0.1)))
    state = tx.init(params)
    updates, state = tx.update(params, state, params)  # adversarial step
    p = lib.apply_updates(params, updates)
    updates, state = tx.update(zero, state, p)  # outer step: back to the cache
    return lib.apply_updates(p, updates)

  np.testing.assert_allclose(run(fo), params)  # zero gradient: the cached params, unchanged
  assert bool(jnp.all(jnp.isnan(run(optax)))) == OPTAX_SAM_BLEND_PROPAGATES_NAN


def test_sam_accepts_extra_args():
  tx = fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1))
  params = jnp.ones(2)
  tx.update(params, tx.init(params), params, value=1.0)


def test_opaque_sam_needs_grad_fn():
  tx = fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1), opaque_mode=True)
  params = jnp.ones(2)
  with pytest.raises(ValueError, match="grad_fn"):
    tx.update(params, tx.init(params), params)


def test_rejects_invalid_sync_period():
  with pytest.raises(ValueError, match="Synchronization period"):
    fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1), sync_period=0)
