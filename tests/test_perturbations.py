"""functional_optim.perturbations against optax.perturbations."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _public(module):
  return sorted(n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n)))


def test_same_names_and_signatures_as_optax():
  assert _public(fo.perturbations) == _public(optax.perturbations)
  for name in ("make_perturbed_fun", "Normal.sample", "Normal.log_prob", "Gumbel.sample",
               "Gumbel.log_prob"):
    ours, theirs = fo.perturbations, optax.perturbations
    for part in name.split("."):
      ours, theirs = getattr(ours, part), getattr(theirs, part)
    comparable = lambda p: (p.name, p.kind, type(p.default).__name__ if p.name == "noise" else p.default)
    assert [comparable(p) for p in inspect.signature(ours).parameters.values()] == [
        comparable(p) for p in inspect.signature(theirs).parameters.values()
    ], name
  default_noise = inspect.signature(fo.perturbations.make_perturbed_fun).parameters["noise"].default
  assert isinstance(default_noise, fo.perturbations.Gumbel)


def _nondifferentiable(x):
  """Pytree to pytree, piecewise constant/linear: its autodiff gradient is useless."""
  return jax.tree.map(lambda leaf: jnp.sign(leaf) + jnp.maximum(leaf, 0.0), x)


def _estimates(perturbations, key, x, num_samples, sigma, noise_name, use_baseline):
  noise = getattr(perturbations, noise_name)()
  smooth = perturbations.make_perturbed_fun(
      _nondifferentiable, num_samples, sigma, noise, use_baseline
  )
  grad = jax.grad(lambda x: fo.tree.sum(smooth(key, x)))
  tangent = jax.tree.map(jnp.ones_like, x)
  return {
      "value": smooth(key, x),
      "grad": grad(x),
      "hvp": jax.jvp(grad, (x,), (tangent,))[1],  # second order
  }


@given(
    spec=parity.pytrees(max_leaves=3, max_rank=2),
    num_samples=st.integers(1, 32),
    sigma=st.floats(0.01, 2.0),
    noise_name=st.sampled_from(["Gumbel", "Normal"]),
    use_baseline=st.booleans(),
)
def test_estimates_match_optax(spec, num_samples, sigma, noise_name, use_baseline):
  x = spec.build()
  key = jax.random.key(spec.seed)
  args = (num_samples, sigma, noise_name, use_baseline)
  ours = jax.jit(lambda k, x: _estimates(fo.perturbations, k, x, *args))(key, x)
  theirs = jax.jit(lambda k, x: _estimates(optax.perturbations, k, x, *args))(key, x)
  parity.assert_trees_close(ours, theirs, spec.dtype, "perturbed estimates")


@given(seed=st.integers(0, 2**16), shape=parity.shapes(max_rank=2))
def test_noise_distributions_match_optax(seed, shape):
  key = jax.random.key(seed)
  for name in ("Normal", "Gumbel"):
    ours, theirs = getattr(fo.perturbations, name)(), getattr(optax.perturbations, name)()
    sample = ours.sample(key, shape)
    parity.assert_trees_close(sample, theirs.sample(key, shape), err_msg=name)
    parity.assert_trees_close(ours.log_prob(sample), theirs.log_prob(sample), err_msg=name)


def test_smooths_a_step_function():
  """E[step(x + sigma z)] for Normal z is Phi(x / sigma); its derivative the normal density."""
  step = lambda x: jnp.where(x > 0, 1.0, 0.0)
  f = fo.perturbations.make_perturbed_fun(step, 20_000, 1.0, fo.perturbations.Normal())
  x = jnp.array([0.0, 1.0])
  np.testing.assert_allclose(f(jax.random.key(0), x), [0.5, 0.841], atol=0.02)
  grad = jax.jacobian(f, argnums=1)(jax.random.key(1), x)
  np.testing.assert_allclose(jnp.diag(grad), [0.399, 0.242], atol=0.03)
