"""Differentiable approximations of functions by stochastic perturbations of their inputs.

`make_perturbed_fun(f)` returns `f_sigma(key, x)`, a Monte-Carlo estimate of
`E_z f(x + sigma z)` whose derivatives of any order (through JAX's autodiff) are unbiased
estimates of the smoothed function's, computed from values of `f` only. Ported from
`optax.perturbations` (Apache-2.0), same names, arguments and numbers.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

import functional_optim as fo

ArrayTree = Any
PRNGKey = jax.Array
Shape = tuple[int, ...]


class Normal:
  """Standard normal noise: `sample` draws, `log_prob` is the unnormalized log density.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from functional_optim.perturbations import Normal
    >>> Normal().sample(jax.random.key(0), (3,)).shape
    (3,)
    >>> Normal().log_prob(jnp.array([0.0, 2.0])).tolist()
    [-0.0, -2.0]

  References:
    `optax.perturbations.Normal`, https://optax.readthedocs.io/en/latest/api/perturbations.html
  """

  def sample(
      self,
      key: jax.typing.ArrayLike,
      sample_shape: Shape = (),
      dtype: jax.typing.DTypeLike = float,
  ) -> jax.Array:
    """Draws standard normal noise of shape `sample_shape`."""
    return jax.random.normal(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    """Log density, up to an additive constant: `-x**2 / 2`."""
    return -0.5 * inputs**2


class Gumbel:
  """Standard Gumbel noise: `sample` draws, `log_prob` is the log density `-x - exp(-x)`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from functional_optim.perturbations import Gumbel
    >>> Gumbel().sample(jax.random.key(0), (2, 3)).shape
    (2, 3)
    >>> Gumbel().log_prob(jnp.array([0.0])).tolist()
    [-1.0]

  References:
    `optax.perturbations.Gumbel`, https://optax.readthedocs.io/en/latest/api/perturbations.html
  """

  def sample(
      self,
      key: jax.typing.ArrayLike,
      sample_shape: Shape = (),
      dtype: jax.typing.DTypeLike = float,
  ) -> jax.Array:
    """Draws standard Gumbel noise of shape `sample_shape`."""
    return jax.random.gumbel(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    """Log density: `-x - exp(-x)`."""
    return -inputs - jnp.exp(-inputs)


def make_perturbed_fun(
    fun: Callable[[ArrayTree], ArrayTree],
    num_samples: int = 1000,
    sigma: jax.typing.ArrayLike = 0.1,
    noise=Gumbel(),
    use_baseline=True,
) -> Callable[[PRNGKey, ArrayTree], ArrayTree]:
  r"""Returns a differentiable approximation of a function, using stochastic perturbations.

  With :math:`f_\sigma(x) = \mathbb{E}_{z \sim \mu} f(x + \sigma z)`, the returned function's
  values and derivatives of any order (through JAX's autodiff) are unbiased Monte-Carlo estimates
  of those of :math:`f_\sigma`. They use only values of :math:`f` at perturbed inputs (the score
  function estimator, written with the "magic box" operator of Foerster et al.), so :math:`f`
  need not be differentiable.

  Args:
    fun: The function to transform into a differentiable function, from pytree to pytree, whose
      leaves are JAX arrays.
    num_samples: an int, the number of perturbed outputs to average over.
    sigma: a float, the scale of the random perturbation.
    noise: a distribution object that implements ``sample`` and ``log_prob`` methods, like
      :class:`Gumbel` (the default) or :class:`Normal`.
    use_baseline: Use the value of the function at the unperturbed input as a baseline for
      variance reduction.

  Returns:
    A new function with the same signature as the original function, but with a leading random
    PRNG key argument.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from functional_optim.perturbations import make_perturbed_fun
    >>> key = jax.random.key(0)
    >>> x = jnp.array([0.0, 0.0, 0.0])
    >>> f = lambda x: jnp.sum(jnp.maximum(x, 0.0))
    >>> fn = make_perturbed_fun(f, 1_000, 0.1)
    >>> with jnp.printoptions(precision=2):
    ...   print(jax.grad(fn, argnums=1)(key, x))
    [0.69 0.72 0.58]

  References:
    Berthet et al., `Learning with Differentiable Perturbed Optimizers
    <https://arxiv.org/abs/2002.08676>`_, 2020

    Foerster et al., `DiCE: The Infinitely Differentiable Monte Carlo Estimator
    <https://arxiv.org/abs/1802.05098>`_, 2018

    Salimans et al., `Evolution Strategies as a Scalable Alternative to Reinforcement Learning
    <https://arxiv.org/abs/1703.03864>`_, 2017
  """

  def mc_estimator(key: PRNGKey, x: ArrayTree) -> ArrayTree:

    def stoch_estimator(key: PRNGKey, x: ArrayTree, baseline: ArrayTree) -> ArrayTree:
      sample = fo.tree.random_like(key, x, sampler=noise.sample)
      shifted_sample = jax.tree.map(lambda x, z: x + sigma * z, x, sample)
      shifted_sample = jax.lax.stop_gradient(shifted_sample)
      # The noise, recovered from the (constant) perturbed point: it depends on x, so that
      # differentiating the log-probability gives the score function.
      sample = jax.tree.map(lambda x, y: (y - x) / sigma, x, shifted_sample)

      log_prob_sample = fo.tree.sum(jax.tree.map(noise.log_prob, sample))
      box = _magicbox(log_prob_sample)
      out = fo.tree.scale(box, fun(shifted_sample))
      if use_baseline:
        out = fo.tree.add_scale(out, 1 - box, baseline)
      return out

    if use_baseline:
      baseline = fun(jax.lax.stop_gradient(x))
    else:
      baseline = None

    out = jax.vmap(stoch_estimator, in_axes=(0, None, None), out_axes=0)(
        jax.random.split(key, num_samples), x, baseline
    )
    return jax.tree.map(lambda x: jnp.mean(x, axis=0), out)

  return mc_estimator


def _magicbox(x):
  """MagicBox operator: evaluates to 1, differentiates like `exp(x)`."""
  return jnp.exp(x - jax.lax.stop_gradient(x))
