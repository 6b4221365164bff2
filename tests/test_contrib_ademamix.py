"""contrib ademamix and simplified_ademamix against optax.contrib."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax initializes m1, m2 and nu in `mu_dtype` (or the params' dtype) but lets the
# update return them in the promoted dtype of gradient, accumulator and b3, so a
# bfloat16 accumulator becomes float32 after one step (and `lax.scan` over it
# fails); a float32 schedule for b3 does the same. Ours keeps the dtypes. The
# comparison runs optax with its state cast back after each step.
OPTAX_ADEMAMIX_STATE_DTYPE_DRIFTS = True

# optax's simplified AdEMAMix squares the gradient as `g * g`, which for a complex
# gradient is not |g|^2 (it is complex, and can be negative). Ours uses g * conj(g).
OPTAX_SIMPLIFIED_ADEMAMIX_SQUARES_COMPLEX_GRADIENT = True

mu_dtypes = st.sampled_from([None, "float32", "bfloat16"])


def _mu_dtype_for(spec, mu_dtype):
  if spec.dtype == parity.COMPLEX64 and mu_dtype is not None:
    return "complex64"
  return mu_dtype


def _with_state_cast(tx):
  """optax's `scale_by_ademamix` with m1, m2 and nu cast back to their dtypes each step."""
  if not OPTAX_ADEMAMIX_STATE_DTYPE_DRIFTS:
    return tx

  def update_fn(updates, state, params=None):
    updates, new = tx.update(updates, state, params)
    cast = optax.tree.cast_like
    return updates, new._replace(
        m1=cast(new.m1, state.m1), m2=cast(new.m2, state.m2), nu=cast(new.nu, state.nu)
    )

  return optax.GradientTransformation(tx.init, update_fn)


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 0.999),
    b3=st.floats(0.0, 1.0),
    alpha=st.floats(0.0, 8.0),
    eps=st.floats(1e-8, 1e-3),
    eps_root=st.sampled_from([0.0, 1e-8]),
    mu_dtype=mu_dtypes,
)
def test_scale_by_ademamix(spec, b1, b2, b3, alpha, eps, eps_root, mu_dtype):
  mu_dtype = _mu_dtype_for(spec, mu_dtype)
  hyper = (b1, b2, b3, alpha, eps, eps_root, mu_dtype)
  parity.assert_same_trajectory(
      fo.contrib.scale_by_ademamix(*hyper),
      _with_state_cast(optax.contrib.scale_by_ademamix(*hyper)),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    b3=st.floats(0.9, 0.9999),
    alpha=st.floats(0.0, 8.0),
    decay=st.one_of(st.none(), st.floats(0.5, 1.0)),
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_ademamix(spec, learning_rate, b3, alpha, decay, weight_decay, mask):
  if decay is not None:  # b3 and alpha as schedules of count_m2
    b3 = lambda count, b3=b3: b3 - 0.5 * decay**count
    alpha = lambda count, alpha=alpha: alpha * (1.0 - decay**count)
  kwargs = dict(b3=b3, alpha=alpha, weight_decay=weight_decay, mask=mask)
  parity.assert_same_trajectory(
      fo.contrib.ademamix(learning_rate, **kwargs),
      optax.chain(  # optax.contrib.ademamix, its state dtypes restored after each step
          _with_state_cast(optax.contrib.scale_by_ademamix(b3=b3, alpha=alpha)),
          optax.add_decayed_weights(weight_decay, mask),
          optax.scale_by_learning_rate(learning_rate),
      ),
      spec,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.999),
    alpha=st.floats(0.0, 8.0),
    decay=st.one_of(st.none(), st.floats(0.5, 1.0)),
    eps=st.floats(1e-8, 1e-3),
    eps_root=st.sampled_from([0.0, 1e-8]),
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_simplified_ademamix(
    spec, learning_rate, b1, b2, alpha, decay, eps, eps_root, weight_decay, mask
):
  if decay is not None:  # alpha as a schedule of t
    alpha = lambda t, alpha=alpha: alpha * (1.0 - decay**t)
  args = (learning_rate, b1, b2, alpha, eps, eps_root, weight_decay, mask)
  parity.assert_same_trajectory(
      fo.contrib.simplified_ademamix(*args), optax.contrib.simplified_ademamix(*args), spec
  )


def test_simplified_ademamix_squares_complex_gradients_by_magnitude():
  g = jnp.array([1.0 + 2.0j, -3.0j])
  ours = fo.contrib.scale_by_simplified_ademamix(b2=0.5)
  _, state = ours.update(g, ours.init(g))
  np.testing.assert_allclose(state.n, 0.5 * jnp.abs(g) ** 2)
  theirs = optax.contrib.scale_by_simplified_ademamix(b2=0.5)
  _, their_state = theirs.update(g, theirs.init(g))
  assert OPTAX_SIMPLIFIED_ADEMAMIX_SQUARES_COMPLEX_GRADIENT == (
      not np.allclose(their_state.n, state.n)
  )


def test_ademamix_keeps_the_accumulator_dtype():
  params = jnp.ones(3)
  tx = fo.contrib.scale_by_ademamix(mu_dtype=jnp.bfloat16)
  _, state = tx.update(params, tx.init(params))
  assert {x.dtype for x in (state.m1, state.m2, state.nu)} == {jnp.dtype(jnp.bfloat16)}
  theirs = optax.contrib.scale_by_ademamix(mu_dtype=jnp.bfloat16)
  _, their_state = theirs.update(params, theirs.init(params))
  assert OPTAX_ADEMAMIX_STATE_DTYPE_DRIFTS == (their_state.m1.dtype != jnp.bfloat16)


@pytest.mark.parametrize(
    "name",
    ["ademamix", "scale_by_ademamix", "scale_by_simplified_ademamix", "simplified_ademamix",
     "ScaleByAdemamixState", "ScaleBySimplifiedAdEMAMixState"],
)
def test_public_name_matches_optax(name):
  ours, theirs = getattr(fo.contrib, name), getattr(optax.contrib, name)
  if isinstance(theirs, type):
    assert ours._fields == theirs._fields
  else:
    describe = lambda f: [
        (p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()
    ]
    assert describe(ours) == describe(theirs)


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.contrib.scale_by_ademamix, dict(b1=1.0), "b1"),
        (fo.contrib.scale_by_ademamix, dict(b2=-0.1), "b2"),
        (fo.contrib.scale_by_ademamix, dict(b3=1.5), "b3"),
        (fo.contrib.scale_by_ademamix, dict(eps=-1.0), "eps"),
        (fo.contrib.ademamix, dict(learning_rate=-1.0), "learning_rate"),
        (fo.contrib.ademamix, dict(learning_rate=0.1, weight_decay=-1.0), "weight_decay"),
        (fo.contrib.scale_by_simplified_ademamix, dict(b2=1.0), "b2"),
        (fo.contrib.scale_by_simplified_ademamix, dict(eps_root=-1.0), "eps_root"),
        (fo.contrib.simplified_ademamix, dict(learning_rate=-1.0), "learning_rate"),
    ],
)
def test_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
