"""contrib galore and scale_by_galore against optax.contrib."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax takes the SVD of `grad.astype(float32)`, which drops the imaginary part of
# a complex gradient, and projects with `P^T` instead of `P^H`: a complex gradient
# is not projected onto its own singular subspace. Ours decomposes in complex64 and
# uses conjugate transposes (the same numbers for real gradients).
OPTAX_GALORE_DROPS_IMAGINARY_PART = True

# optax's update fails on an empty tree (its init handles one); ours returns it.
OPTAX_GALORE_FAILS_ON_EMPTY_TREE = True


def _dim_nums_fn(module):
  """Projects every leaf of rank >= 2 as (first axis, all other axes)."""
  return lambda params: jax.tree.map(
      lambda p: module.GaLoreDimensionNumbers(0, tuple(range(1, p.ndim))) if p.ndim >= 2 else None,
      params,
  )


_BASE_OPTIMIZERS = {
    "default": lambda m: None,
    "lion": lambda m: m.scale_by_lion(),
    "rms": lambda m: m.scale_by_rms(),
}


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_rank=3),
    rank=st.integers(1, 4),
    update_proj_gap=st.integers(1, 4),
    scale=st.floats(0.1, 2.0),
    base=st.sampled_from(sorted(_BASE_OPTIMIZERS)),
    higher_rank=st.booleans(),
)
def test_scale_by_galore(spec, rank, update_proj_gap, scale, base, higher_rank):
  def make(module, contrib):
    return contrib.scale_by_galore(
        rank,
        update_proj_gap,
        scale,
        _BASE_OPTIMIZERS[base](module),
        _dim_nums_fn(contrib) if higher_rank else None,
    )

  parity.assert_same_trajectory(make(fo, fo.contrib), make(optax, optax.contrib), spec)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES, max_rank=3),
    learning_rate=st.floats(1e-4, 1.0),
    rank=st.integers(1, 4),
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_galore(spec, learning_rate, rank, weight_decay, mask):
  kwargs = dict(rank=rank, update_proj_gap=3, weight_decay=weight_decay, mask=mask)
  parity.assert_same_trajectory(
      fo.contrib.galore(learning_rate, **kwargs),
      optax.contrib.galore(learning_rate, **kwargs),
      spec,
  )


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 2)])
def test_full_rank_projection_of_a_complex_gradient_is_the_identity(shape):
  g = jax.random.normal(jax.random.key(0), shape, jnp.complex64)
  dim_nums = fo.contrib.GaLoreDimensionNumbers(0, tuple(range(1, len(shape))))
  tx = fo.contrib.scale_by_galore(
      rank=4, base_optimizer=fo.identity(), weight_dimension_numbers=dim_nums
  )
  ours, _ = tx.update(g, tx.init(g))
  np.testing.assert_allclose(ours, g, rtol=1e-5, atol=1e-5)
  their_dim_nums = optax.contrib.GaLoreDimensionNumbers(0, tuple(range(1, len(shape))))
  theirs_tx = optax.contrib.scale_by_galore(
      rank=4, base_optimizer=optax.identity(), weight_dimension_numbers=their_dim_nums
  )
  with warnings.catch_warnings():  # optax's complex -> float32 cast warns
    warnings.simplefilter("ignore")
    theirs, _ = theirs_tx.update(g, theirs_tx.init(g))
  assert OPTAX_GALORE_DROPS_IMAGINARY_PART == (not np.allclose(theirs, g, rtol=1e-4, atol=1e-4))


@pytest.mark.parametrize(
    "shape, dim_nums, projector, moment",
    [
        ((6, 4), None, (6, 2), (2, 4)),  # tall: left projection
        ((4, 6), None, (6, 2), (4, 2)),  # wide: right projection
        ((5, 1), None, (5, 1), (1, 1)),  # rank clipped to min(m, n)
        ((4, 2, 3), (0, (1, 2)), (6, 2), (4, 2)),  # 3-d as a (4, 6) matrix
        ((3,), None, (0, 0), (3,)),  # not projected
    ],
)
def test_state_shapes(shape, dim_nums, projector, moment):
  params = {"w": jnp.zeros(shape)}
  if dim_nums is not None:
    dim_nums = {"w": fo.contrib.GaLoreDimensionNumbers(*dim_nums)}
  state = fo.contrib.galore(0.1, rank=2, weight_dimension_numbers=dim_nums).init(params)
  galore_state = state[0]
  assert galore_state.projector["w"].shape == projector
  assert galore_state.base_optimizer_state.mu["w"].shape == moment


def test_empty_tree():
  tx = fo.contrib.galore(0.1)
  updates, _ = tx.update({}, tx.init({}), {})
  assert updates == {}
  theirs = optax.contrib.galore(0.1)
  try:
    theirs.update({}, theirs.init({}), {})
    fails = False
  except ValueError:
    fails = True
  assert fails == OPTAX_GALORE_FAILS_ON_EMPTY_TREE


@pytest.mark.parametrize(
    "name", ["galore", "scale_by_galore", "GaLoreDimensionNumbers", "GaLoreState"]
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
  with pytest.raises(TypeError, match="rank"):
    fo.contrib.scale_by_galore(rank=2.0)
  with pytest.raises(ValueError, match="rank"):
    fo.contrib.scale_by_galore(rank=0)
  with pytest.raises(ValueError, match="update_proj_gap"):
    fo.contrib.scale_by_galore(update_proj_gap=0)
  with pytest.raises(ValueError, match="learning_rate"):
    fo.contrib.galore(learning_rate=-1.0)
  with pytest.raises(ValueError, match="disjoint"):
    bad = {"w": fo.contrib.GaLoreDimensionNumbers(0, 0)}
    fo.contrib.galore(0.1, weight_dimension_numbers=bad).init({"w": jnp.zeros((2, 2))})
