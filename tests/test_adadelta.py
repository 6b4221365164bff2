"""scale_by_adadelta and adadelta against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Deviation: for complex gradients optax accumulates g**2 (a complex number, not a
# squared magnitude) and so rotates the updates; optax lists adadelta as not
# supporting complex parameters. We accumulate |g|^2. Complex parity with optax is
# therefore not tested; `test_complex_is_real_adadelta_rotated` checks ours instead.
OPTAX_ADADELTA_SQUARES_COMPLEX_GRADIENTS = True

rhos = st.floats(0.0, 0.99)
epsilons = st.floats(1e-8, 1e-2)
learning_rates = st.one_of(
    st.none(),
    st.floats(1e-4, 1.0),
    st.floats(0.5, 1.0).map(lambda rate: (lambda count: 0.1 * rate**count)),
)


def _matrices_only(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(spec=parity.pytrees(parity.REAL_DTYPES), rho=rhos, eps=epsilons)
def test_scale_by_adadelta(spec, rho, eps):
  parity.assert_same_trajectory(
      fo.scale_by_adadelta(rho=rho, eps=eps), optax.scale_by_adadelta(rho=rho, eps=eps), spec
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=learning_rates,
    rho=rhos,
    eps=epsilons,
    weight_decay=st.floats(0.0, 0.1),
    use_mask=st.booleans(),
)
def test_adadelta(spec, learning_rate, rho, eps, weight_decay, use_mask):
  kwargs = dict(
      learning_rate=learning_rate,
      rho=rho,
      eps=eps,
      weight_decay=weight_decay,
      weight_decay_mask=_matrices_only if use_mask else None,
  )
  parity.assert_same_trajectory(fo.adadelta(**kwargs), optax.adadelta(**kwargs), spec)


@given(spec=parity.pytrees((parity.FLOAT32,)), rho=rhos, eps=epsilons, seed=st.integers(0, 2**16))
def test_complex_is_real_adadelta_rotated(spec, rho, eps, seed):
  """Rotating each entry by a fixed phase rotates the whole trajectory (gradients are
  rotated too), so ours on `phase * x` must equal `phase *` optax's real run on `x`."""
  assert OPTAX_ADADELTA_SQUARES_COMPLEX_GRADIENTS
  params, noise = spec.build(), spec.noise(10)
  rng = np.random.default_rng(seed)
  phases = jax.tree.map(
      lambda p: jnp.exp(1j * jnp.asarray(rng.uniform(0, 2 * np.pi, p.shape), jnp.float32)), params
  )
  rotate = lambda tree: jax.tree.map(lambda x, u: (u * x).astype(jnp.complex64), tree, phases)
  real_ps, real_us, _ = parity.trajectory(
      optax.scale_by_adadelta(rho=rho, eps=eps), params, noise, apply_updates=optax.apply_updates
  )
  ours_ps, ours_us, _ = parity.trajectory(
      fo.scale_by_adadelta(rho=rho, eps=eps), rotate(params), rotate(noise),
      apply_updates=fo.apply_updates,
  )
  parity.assert_trees_close(ours_us, rotate(real_us), parity.COMPLEX64, "updates")
  parity.assert_trees_close(ours_ps, rotate(real_ps), parity.COMPLEX64, "params")


def test_optax_rotates_complex_updates():
  """The optax behaviour we deviate from: a purely imaginary gradient gets a negative
  squared 'magnitude', so optax's first step is not along the gradient."""
  g = jnp.array([2j])
  theirs = optax.scale_by_adadelta(rho=0.0, eps=1.0)
  ours = fo.scale_by_adadelta(rho=0.0, eps=1.0)
  their_update = theirs.update(g, theirs.init(g))[0]
  our_update = ours.update(g, ours.init(g))[0]
  np.testing.assert_allclose(our_update, g / jnp.sqrt(5.0), rtol=1e-6)
  assert not np.allclose(their_update, our_update)


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_adadelta, dict(rho=1.0), "rho"),
        (fo.scale_by_adadelta, dict(rho=-0.1), "rho"),
        (fo.scale_by_adadelta, dict(eps=-1e-6), "eps"),
        (fo.adadelta, dict(learning_rate=-1.0), "learning_rate"),
        (fo.adadelta, dict(rho=1.5), "rho"),
        (fo.adadelta, dict(eps=-1.0), "eps"),
        (fo.adadelta, dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_invalid_hyperparameters_raise(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
