"""contrib muon and scale_by_muon against optax.contrib."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st
from optax.contrib import _muon as optax_muon  # test-time reference only

import functional_optim as fo
import parity
from functional_optim.contrib import _muon

# optax's Schatten-4 first Newton-Schulz step forms A = X X^T, without the
# conjugate its other steps use, so for a complex X it is not X X^H. Ours uses X X^H
# (the same numbers for real X).
OPTAX_MUON_SCHATTEN_IGNORES_CONJUGATE = True

# optax's scale_by_muon and scale_by_shape document `weight_dimension_numbers=None`
# as "every leaf is a 2-d matrix" but pass None on as a tree, which fails for any
# tree but a lone array. Ours treats every leaf as a matrix; the comparison gives
# optax the explicit tree.
OPTAX_SCALE_BY_MUON_NONE_DIM_NUMS_FAILS_ON_TREES = True

# optax's spectral preconditioning takes the SVD of the matrix in its own dtype,
# which has no bfloat16 (or float16) kernel on CPU: it fails. Ours decomposes
# half-precision matrices in float32.
OPTAX_MUON_SPECTRAL_FAILS_ON_HALF_PRECISION_CPU = jax.default_backend() == "cpu"

PRECONDITIONINGS = ["frobenius", "spectral", "aol", "schatten"]


def _comparable(spec, preconditioning):
  schatten_complex = spec.dtype == parity.COMPLEX64 and preconditioning == "schatten"
  spectral_half = spec.dtype == parity.BFLOAT16 and preconditioning == "spectral"
  return not (
      (OPTAX_MUON_SCHATTEN_IGNORES_CONJUGATE and schatten_complex)
      or (OPTAX_MUON_SPECTRAL_FAILS_ON_HALF_PRECISION_CPU and spectral_half)
  )


def _mu_dtype_for(spec, mu_dtype):
  if spec.dtype == parity.COMPLEX64 and mu_dtype is not None:
    return "complex64"
  return mu_dtype


def _batched_dim_nums(contrib):
  """Leaves of rank >= 2 are batches of matrices over their last two axes; others: Adam."""
  return lambda params: jax.tree.map(
      lambda p: contrib.MuonDimensionNumbers(-2, -1) if p.ndim >= 2 else None, params
  )


ns_coeff_choices = st.sampled_from(
    # Per-step coefficients use every row (as optax: ns_steps must be >= the rows).
    [((3.4445, -4.7750, 2.0315), 5), ((2.0, -1.5, 0.5), 3), (tuple(_muon._DION_NS_COEFFS), 5),
     (tuple(_muon._DION_NS_COEFFS[:2]), 4)]
)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES, min_rank=2, max_rank=2),
    ns=ns_coeff_choices,
    beta=st.floats(0.0, 0.99),
    mu_dtype=st.sampled_from([None, "float32", "bfloat16"]),
    nesterov=st.booleans(),
    adaptive=st.booleans(),
    preconditioning=st.sampled_from(PRECONDITIONINGS),
)
def test_scale_by_muon(spec, ns, beta, mu_dtype, nesterov, adaptive, preconditioning):
  if not _comparable(spec, preconditioning):
    preconditioning = "frobenius"
  ns_coeffs, ns_steps = ns
  mu_dtype = _mu_dtype_for(spec, mu_dtype)
  make = lambda contrib, dim_nums: contrib.scale_by_muon(
      ns_coeffs, ns_steps, beta, 1e-8, mu_dtype,
      nesterov=nesterov, adaptive=adaptive, preconditioning=preconditioning,
      weight_dimension_numbers=dim_nums,
  )
  every_matrix = lambda p: jax.tree.map(lambda _: optax.contrib.MuonDimensionNumbers(), p)
  their_dim_nums = every_matrix if OPTAX_SCALE_BY_MUON_NONE_DIM_NUMS_FAILS_ON_TREES else None
  parity.assert_same_trajectory(
      make(fo.contrib, None), make(optax.contrib, their_dim_nums), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    ns_coeffs=st.sampled_from(["standard", "dion", (3.0, -3.2, 1.2)]),
    beta=st.floats(0.0, 0.99),
    weight_decay=st.floats(0.0, 0.5),
    nesterov=st.booleans(),
    preconditioning=st.sampled_from(PRECONDITIONINGS),
    adam_learning_rate=st.one_of(st.none(), st.floats(1e-4, 1.0)),
    adam_weight_decay=st.floats(0.0, 0.5),
    consistent_rms=st.one_of(st.none(), st.floats(0.1, 0.5)),
    batched=st.booleans(),
)
def test_muon(
    spec, learning_rate, ns_coeffs, beta, weight_decay, nesterov, preconditioning,
    adam_learning_rate, adam_weight_decay, consistent_rms, batched,
):
  if not _comparable(spec, preconditioning):
    preconditioning = "frobenius"

  def make(contrib):
    return contrib.muon(
        learning_rate, ns_coeffs, beta=beta, weight_decay=weight_decay,
        weight_decay_mask=lambda p: jax.tree.map(lambda x: x.ndim != 3, p),
        nesterov=nesterov, preconditioning=preconditioning,
        adam_learning_rate=adam_learning_rate, adam_weight_decay=adam_weight_decay,
        muon_weight_dimension_numbers=_batched_dim_nums(contrib) if batched else None,
        consistent_rms=consistent_rms,
    )

  parity.assert_same_trajectory(make(fo.contrib), make(optax.contrib), spec)


def test_none_dimension_numbers_mean_every_leaf_is_a_matrix():
  params = {"a": jnp.ones((2, 3)), "b": (jnp.eye(2),)}
  ours = fo.contrib.scale_by_muon()
  updates, _ = ours.update(params, ours.init(params))
  assert jax.tree.map(jnp.shape, updates) == jax.tree.map(jnp.shape, params)
  theirs = optax.contrib.scale_by_muon()
  try:
    theirs.update(params, theirs.init(params))
    fails = False
  except ValueError:
    fails = True
  assert fails == OPTAX_SCALE_BY_MUON_NONE_DIM_NUMS_FAILS_ON_TREES
  shape = _muon.scale_by_shape()
  np.testing.assert_allclose(shape.update(params, None)[0]["a"], jnp.sqrt(1.5) * params["a"])


def test_spectral_preconditioning_of_bfloat16():
  g = jax.random.normal(jax.random.key(2), (4, 3))
  tx = fo.contrib.scale_by_muon(preconditioning="spectral")
  ours, _ = tx.update(g.astype(jnp.bfloat16), tx.init(g.astype(jnp.bfloat16)))
  reference, _ = tx.update(g, tx.init(g))
  assert ours.dtype == jnp.bfloat16
  np.testing.assert_allclose(ours.astype(jnp.float32), reference, atol=0.1)
  theirs = optax.contrib.scale_by_muon(preconditioning="spectral")
  try:
    theirs.update(g.astype(jnp.bfloat16), theirs.init(g.astype(jnp.bfloat16)))
    fails = False
  except NotImplementedError:
    fails = True
  assert fails == OPTAX_MUON_SPECTRAL_FAILS_ON_HALF_PRECISION_CPU


def test_schatten_first_step_uses_the_conjugate():
  x = jax.random.normal(jax.random.key(0), (3, 4), jnp.complex64)
  coeffs = jnp.array([2.0, -1.5, 0.5], jnp.complex64)
  a = x @ x.conj().T
  s = jax.lax.rsqrt(jnp.linalg.norm(a))
  xs, a = x * s, a * s**2
  expected = coeffs[0] * xs + (coeffs[1] * a + coeffs[2] * a @ a) @ xs
  ours = _muon._schatten_first_newton_schulz_iteration(x, coeffs)
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
  theirs = optax_muon._schatten_first_newton_schulz_iteration(x, coeffs)
  assert OPTAX_MUON_SCHATTEN_IGNORES_CONJUGATE == (not np.allclose(theirs, expected, atol=1e-4))


@pytest.mark.parametrize("preconditioning", PRECONDITIONINGS)
def test_newton_schulz_orthogonalizes_complex_batches(preconditioning):
  x = jax.random.normal(jax.random.key(1), (2, 5, 3), jnp.complex64)
  q = _muon.orthogonalize_via_newton_schulz(
      x, jnp.array([2.0, -1.5, 0.5]), 15, preconditioning,
      dimension_numbers=_muon.MuonDimensionNumbers(1, 2),
  )
  gram = jnp.einsum("bij,bik->bjk", q.conj(), q)
  np.testing.assert_allclose(gram, jnp.broadcast_to(jnp.eye(3), gram.shape), atol=1e-4)


def test_default_partition_and_state_layout():
  params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2), "k": jnp.ones((2, 2, 2))}
  state = fo.contrib.muon(0.1).init(params)
  muon_mu = state[0]["muon"][0][0][1]
  assert isinstance(muon_mu["b"], fo.MaskedNode) and isinstance(muon_mu["k"], fo.MaskedNode)
  assert muon_mu["w"].shape == (3, 2)
  dim_nums = {"w": None, "b": None, "k": fo.contrib.MuonDimensionNumbers(1, 2)}
  state = fo.contrib.muon(0.1, muon_weight_dimension_numbers=dim_nums).init(params)
  muon_mu = state[0]["muon"][0][0][1]
  assert isinstance(muon_mu["w"], fo.MaskedNode) and muon_mu["k"].shape == (2, 2, 2)


@pytest.mark.parametrize(
    "name", ["muon", "scale_by_muon", "MuonDimensionNumbers", "MuonState"]
)
def test_public_name_matches_optax(name):
  ours, theirs = getattr(fo.contrib, name), getattr(optax.contrib, name)
  if isinstance(theirs, type):
    assert ours._fields == theirs._fields
    assert ours._field_defaults == theirs._field_defaults
  else:
    describe = lambda f: [
        (p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()
    ]
    assert describe(ours) == describe(theirs)


def test_rejects_invalid():
  with pytest.raises(ValueError, match="preconditioning"):
    fo.contrib.scale_by_muon(preconditioning="qr")
  with pytest.raises(ValueError, match="beta"):
    fo.contrib.scale_by_muon(beta=1.0)
  with pytest.raises(ValueError, match="preset"):
    fo.contrib.muon(0.1, ns_coeffs="fast")
  with pytest.raises(ValueError, match="learning_rate"):
    fo.contrib.muon(-0.1)
  with pytest.raises(ValueError, match="ns_coeffs"):
    fo.contrib.scale_by_muon(ns_coeffs=(1.0, 2.0)).init(jnp.ones((2, 2)))
  with pytest.raises(ValueError, match="Not enough coeffs"):  # optax's message, kept
    fo.contrib.scale_by_muon(ns_coeffs=((1.0, 2.0, 3.0),) * 3, ns_steps=2).init(jnp.ones((2, 2)))
  with pytest.raises(ValueError, match="disjoint"):
    _muon._compute_muon_reshape(jnp.ones((2, 2)), _muon.MuonDimensionNumbers(0, 0))
