"""Scaling by root mean squares of past gradients: RMSProp and Adagrad."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import Updates
from ._base import identity
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from .transforms._accumulation import trace
from ._numerics import abs_sq
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = [
    "ScaleByRStdDevState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "adagrad",
    "rmsprop",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_stddev",
]


class ScaleByRssState(NamedTuple):
  """State of `scale_by_rss`."""

  sum_of_squares: Updates  # like params: initial value + sum of |g|^2 so far


class ScaleByRmsState(NamedTuple):
  """State of `scale_by_rms` without bias correction."""

  nu: Updates  # like params: EMA of |g|^2


class ScaleByRmsWithCountState(NamedTuple):
  """State of `scale_by_rms(bias_correction=True)` (not exported, as in optax)."""

  count: jax.Array  # shape=(), int32: number of updates so far
  nu: Updates  # like params: EMA of |g|^2


class ScaleByRStdDevState(NamedTuple):
  """State of `scale_by_stddev` without bias correction."""

  mu: Updates  # like params: EMA of g
  nu: Updates  # like params: EMA of |g|^2


class ScaleByRStdDevWithCountState(NamedTuple):
  """State of `scale_by_stddev(bias_correction=True)` (not exported, as in optax)."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params: EMA of g
  nu: Updates  # like params: EMA of |g|^2


def _check_rms_args(decay, eps, initial_scale) -> None:
  check_in_range("decay", decay, 0.0, 1.0)
  check_non_negative("eps", eps)
  check_non_negative("initial_scale", initial_scale)


def _inverse_root(variance, eps, eps_in_sqrt: bool):
  """`1 / sqrt(variance + eps)`, or `1 / (sqrt(variance) + eps)` if not `eps_in_sqrt`."""
  if eps_in_sqrt:
    return jax.lax.rsqrt(variance + eps)
  return 1 / (jnp.sqrt(variance) + eps)


def scale_by_rss(
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> GradientTransformation:
  """Divides updates by the root of the sum of all squared gradients so far (Adagrad).

  Where the accumulated sum is 0, the update is 0.

  Args:
    initial_accumulator_value: starting value of the sums, >= 0.
    eps: added to the sums inside the square root, >= 0.

  References:
    Duchi et al., 2011, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", https://jmlr.org/papers/v12/duchi11a.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
    >>> tx.update(jnp.array([3.0, -4.0]), tx.init(jnp.zeros(2)))[0]
    Array([ 1., -1.], dtype=float32)
  """
  check_non_negative("initial_accumulator_value", initial_accumulator_value)
  check_non_negative("eps", eps)

  def init_fn(params):
    return ScaleByRssState(sum_of_squares=tree_lib.full_like(params, initial_accumulator_value))

  def update_fn(updates, state, params=None):
    del params
    sum_of_squares = jax.tree.map(lambda g, t: abs_sq(g) + t, updates, state.sum_of_squares)
    updates = jax.tree.map(
        lambda t, g: jnp.where(t > 0, jax.lax.rsqrt(t + eps), 0.0) * g,
        sum_of_squares,
        updates,
    )
    return updates, ScaleByRssState(sum_of_squares=sum_of_squares)

  return GradientTransformation(init_fn, update_fn)


def scale_by_rms(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
  """Divides updates by the root of an exponential moving average of squared gradients.

  `scale_by_rms(decay=b2, eps_in_sqrt=False, bias_correction=True)` behaves as
  `scale_by_adam(b1=0, b2=b2)` without storing a first moment.

  Args:
    decay: decay rate of the moving average of squared gradients, in [0, 1).
    eps: added to the denominator for numerical stability, >= 0.
    initial_scale: initial value of the moving average, >= 0.
    eps_in_sqrt: add `eps` inside the square root (else outside it).
    bias_correction: divide the average by `1 - decay**t`; the state then also
      holds the step count.

  References:
    Hinton, 2012, "Neural Networks for Machine Learning, Lecture 6e: rmsprop",
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_rms(decay=0.75, eps=0.0)
    >>> tx.update(jnp.array([2.0, -2.0]), tx.init(jnp.zeros(2)))[0]
    Array([ 2., -2.], dtype=float32)
  """
  _check_rms_args(decay, eps, initial_scale)

  def init_fn(params):
    nu = tree_lib.full_like(params, initial_scale)
    if bias_correction:
      return ScaleByRmsWithCountState(count=jnp.zeros([], jnp.int32), nu=nu)
    return ScaleByRmsState(nu=nu)

  def update_fn(updates, state, params=None):
    del params
    nu = tree_lib.update_moment_per_elem_norm(updates, state.nu, decay, 2)
    nu_hat = nu
    if bias_correction:
      count_inc = safe_increment(state.count)
      nu_hat = tree_lib.bias_correction(nu, decay, count_inc)
    updates = jax.tree.map(
        lambda n, g: _inverse_root(n, eps, eps_in_sqrt) * g, nu_hat, updates
    )
    if bias_correction:
      return updates, ScaleByRmsWithCountState(count=count_inc, nu=nu)
    return updates, ScaleByRmsState(nu=nu)

  return GradientTransformation(init_fn, update_fn)


def scale_by_stddev(
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
) -> GradientTransformation:
  """Divides updates by a running estimate of the gradients' standard deviation.

  The variance is `E[|g|^2] - |E[g]|^2`, both expectations being exponential
  moving averages (centered RMSProp).

  Args:
    decay: decay rate of both moving averages, in [0, 1).
    eps: added to the denominator for numerical stability, >= 0.
    initial_scale: initial value of the average of squared gradients, >= 0.
    eps_in_sqrt: add `eps` inside the square root (else outside it).
    bias_correction: divide both averages by `1 - decay**t`; the state then also
      holds the step count.

  References:
    Graves, 2013, "Generating Sequences With Recurrent Neural Networks",
    https://arxiv.org/abs/1308.0850

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_stddev(decay=0.5, eps=0.0)
    >>> tx.update(jnp.array([2.0, -2.0]), tx.init(jnp.zeros(2)))[0]
    Array([ 2., -2.], dtype=float32)
  """
  _check_rms_args(decay, eps, initial_scale)

  def init_fn(params):
    mu = tree_lib.zeros_like(params)
    nu = tree_lib.full_like(params, initial_scale)
    if bias_correction:
      return ScaleByRStdDevWithCountState(count=jnp.zeros([], jnp.int32), mu=mu, nu=nu)
    return ScaleByRStdDevState(mu=mu, nu=nu)

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, decay, 1)
    nu = tree_lib.update_moment_per_elem_norm(updates, state.nu, decay, 2)
    mu_hat, nu_hat = mu, nu
    if bias_correction:
      count_inc = safe_increment(state.count)
      mu_hat = tree_lib.bias_correction(mu, decay, count_inc)
      nu_hat = tree_lib.bias_correction(nu, decay, count_inc)
    updates = jax.tree.map(
        lambda m, n, g: _inverse_root(n - abs_sq(m), eps, eps_in_sqrt) * g,
        mu_hat,
        nu_hat,
        updates,
    )
    if bias_correction:
      return updates, ScaleByRStdDevWithCountState(count=count_inc, mu=mu, nu=nu)
    return updates, ScaleByRStdDevState(mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: jax.typing.ArrayLike = 0.9,
    eps: jax.typing.ArrayLike = 1e-8,
    initial_scale: jax.typing.ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformationExtraArgs:
  """RMSProp: SGD on gradients divided by the root of their recent mean square.

  `eps_in_sqrt=True` (the default) divides by `sqrt(nu + eps)`; PyTorch's
  RMSprop divides by `sqrt(nu) + eps`, which is `eps_in_sqrt=False`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    decay: decay rate of the moving average of squared gradients, in [0, 1).
    eps: added to the denominator for numerical stability, >= 0.
    initial_scale: initial value of the moving average (PyTorch uses 0, TF1 1).
    eps_in_sqrt: add `eps` inside the square root (else outside it).
    centered: divide by the estimated standard deviation (`scale_by_stddev`)
      instead of the root mean square (`scale_by_rms`).
    momentum: decay rate of a heavy-ball momentum (`trace`) applied after the
      learning rate, in [0, 1]; None for no momentum.
    nesterov: use Nesterov momentum.
    bias_correction: bias-correct the moving averages.

  References:
    Hinton, 2012, "Neural Networks for Machine Learning, Lecture 6e: rmsprop",
    https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf;
    Graves, 2013, "Generating Sequences With Recurrent Neural Networks",
    https://arxiv.org/abs/1308.0850;
    Ziyin et al., 2020, "LaProp: Separating Momentum and Adaptivity in Adam",
    https://arxiv.org/abs/2002.04839

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.rmsprop(learning_rate=0.1, decay=0.75, eps=0.0)
    >>> tx.update(jnp.array([2.0, -2.0]), tx.init(jnp.zeros(2)))[0]
    Array([-0.2,  0.2], dtype=float32)
  """
  if momentum is not None:
    check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=True)
  preconditioner = scale_by_stddev if centered else scale_by_rms
  return chain(
      preconditioner(
          decay=decay,
          eps=eps,
          initial_scale=initial_scale,
          eps_in_sqrt=eps_in_sqrt,
          bias_correction=bias_correction,
      ),
      scale_by_learning_rate(learning_rate),
      trace(decay=momentum, nesterov=nesterov) if momentum is not None else identity(),
  )


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: jax.typing.ArrayLike = 0.1,
    eps: jax.typing.ArrayLike = 1e-7,
) -> GradientTransformationExtraArgs:
  """Adagrad: SGD on gradients divided by the root of the sum of all past squared gradients.

  The effective learning rate only shrinks, which can stall long trainings.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    initial_accumulator_value: starting value of the sums, >= 0.
    eps: added to the sums inside the square root, >= 0.

  References:
    Duchi et al., 2011, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", https://jmlr.org/papers/v12/duchi11a.html

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adagrad(learning_rate=0.1, initial_accumulator_value=0.0, eps=0.0)
    >>> tx.update(jnp.array([3.0, -4.0]), tx.init(jnp.zeros(2)))[0]
    Array([-0.1,  0.1], dtype=float32)
  """
  return chain(
      scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
      scale_by_learning_rate(learning_rate),
  )
