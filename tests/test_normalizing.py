"""centralize, normalize_by_update_norm, scale_gradient against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_centralize(spec):
  parity.assert_same_trajectory(fo.centralize(), optax.centralize(), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    scale_factor=st.floats(-2.0, 2.0),
    eps=st.just(0.0) | st.floats(0.0, 1e-2),
)
def test_normalize_by_update_norm(spec, scale_factor, eps):
  parity.assert_same_trajectory(
      fo.normalize_by_update_norm(scale_factor, eps),
      optax.normalize_by_update_norm(scale_factor, eps),
      spec,
  )


def _loss(scale_gradient, params, scale):
  scaled = scale_gradient(params, scale)
  return sum(jnp.sum(jnp.sin(x) * x).real for x in jax.tree.leaves(scaled))


# Real dtypes: jax.grad of a real loss of complex inputs follows its own
# conjugation convention, which has nothing to do with scale_gradient.
@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    scale=st.sampled_from([0.0, 1.0]) | st.floats(-3.0, 3.0),
)
def test_scale_gradient(spec, scale):
  params = spec.build()
  ours = jax.grad(_loss, argnums=1)(fo.scale_gradient, params, scale)
  theirs = jax.grad(_loss, argnums=1)(optax.scale_gradient, params, scale)
  unscaled = jax.grad(_loss, argnums=1)(lambda x, s: x, params, scale)
  parity.assert_trees_close(ours, theirs, spec.dtype, "gradient")
  parity.assert_trees_close(
      ours, jax.tree.map(lambda g: (g * scale).astype(g.dtype), unscaled), spec.dtype, "scaled"
  )
  # The forward pass is the identity.
  parity.assert_trees_close(fo.scale_gradient(params, scale), params, spec.dtype, "forward")


def test_scale_gradient_traced_scale():
  # Deviation from optax (whose shortcut `scale == 1.0` needs a concrete scale):
  # the scale may be an argument of a jitted function.
  grad = jax.jit(jax.grad(lambda x, s: fo.scale_gradient(x, s) ** 2))(3.0, 0.5)
  np.testing.assert_allclose(grad, 3.0)
  with pytest.raises(jax.errors.ConcretizationTypeError):
    jax.jit(jax.grad(lambda x, s: optax.scale_gradient(x, s) ** 2))(3.0, 0.5)


@pytest.mark.parametrize(
    "make, name",
    [(lambda: fo.normalize_by_update_norm(eps=-1.0), "eps")],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()
