"""Polyak step sizes: `(f(x) - f_min) / ||g||^2`, from the loss value passed as `value=`."""

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import init_empty_state
from ._checks import check_non_negative
from .transforms._combining import chain
from ._scaling import scale_by_learning_rate

__all__ = ["polyak_sgd", "scale_by_polyak"]

_VARIANTS = ("sps", "sps+")


def scale_by_polyak(
    f_min: jax.typing.ArrayLike = 0.0,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
  """Multiplies updates by `min((value - f_min) / (||g||^2 + eps), max_learning_rate)`.

  `update` needs the keyword argument `value`, the loss at the current parameters.
  Where `||g||^2 + eps` is below float64's machine epsilon the step is 0.

  Args:
    f_min: a lower bound on the loss (0 for models that interpolate the data).
    max_learning_rate: the largest step size.
    eps: added to the squared gradient norm in the denominator.
    variant: `"sps"`, or `"sps+"` to use only the positive part of `value - f_min`.

  References:
    Loizou et al., 2021, "Stochastic Polyak Step-size for SGD: An Adaptive Learning Rate for Fast
    Convergence", https://arxiv.org/abs/2002.10542;
    Garrigos et al., 2023, "Function Value Learning: Adaptive Learning Rates Based on the Polyak
    Stepsize and Function Splitting in ERM", https://arxiv.org/abs/2307.14528

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_polyak()
    >>> grad = jnp.array([2.0, 4.0])  # of f(x) = sum(x**2) at x = [1, 2], f(x) = 5
    >>> tx.update(grad, tx.init(grad), value=5.0)[0]
    Array([0.5, 1. ], dtype=float32)
  """
  check_non_negative("max_learning_rate", max_learning_rate)
  check_non_negative("eps", eps)
  if variant not in _VARIANTS:
    raise ValueError(f"variant must be one of {_VARIANTS}, got variant={variant!r}")

  def update_fn(updates, state, params=None, *, value, **extra_args):
    del params, extra_args
    grad_sq_norm = tree_lib.norm(updates, squared=True)
    gap = jnp.array(value - f_min).astype(grad_sq_norm.dtype)
    if variant == "sps+":
      gap = jax.nn.relu(gap)
    step = jnp.where(
        grad_sq_norm + eps <= jnp.finfo(float).eps,
        jnp.array(0.0),
        jnp.minimum(gap / (grad_sq_norm + eps), max_learning_rate),
    )
    return tree_lib.scale(step, updates), state

  return GradientTransformationExtraArgs(init_empty_state, update_fn)


def polyak_sgd(
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    scaling: ScalarOrSchedule = 1.0,
    f_min: jax.typing.ArrayLike = 0.0,
    eps: jax.typing.ArrayLike = 0.0,
    variant: str = "sps",
) -> GradientTransformationExtraArgs:
  """SGD with the Polyak step size: `x <- x - s * min((f(x) - f_min) / (||g||^2 + eps), max_lr) * g`.

  `update` needs the keyword argument `value`, the loss at the current parameters.
  The Polyak step is computed from the raw gradient and then scaled by `scaling`
  (optax computes it from the already scaled gradient, which divides, instead of
  multiplying, the unclipped step by `scaling`; the two agree when `scaling` is 1).

  Args:
    max_learning_rate: the largest Polyak step size.
    scaling: the factor `s`, a scalar or a schedule of the step count.
    f_min: a lower bound on the loss (0 for models that interpolate the data).
    eps: added to the squared gradient norm in the denominator.
    variant: `"sps"`, or `"sps+"` to use only the positive part of `f(x) - f_min`.

  References:
    Loizou et al., 2021, "Stochastic Polyak Step-size for SGD: An Adaptive Learning Rate for Fast
    Convergence", https://arxiv.org/abs/2002.10542;
    Berrada et al., 2020, "Training Neural Networks for and by Interpolation",
    https://arxiv.org/abs/1906.05661;
    Garrigos et al., 2023, "Function Value Learning: Adaptive Learning Rates Based on the Polyak
    Stepsize and Function Splitting in ERM", https://arxiv.org/abs/2307.14528

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.polyak_sgd()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   value, grad = jax.value_and_grad(f)(params)
    ...   updates, state = tx.update(grad, state, params, value=value)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f(params))
    3.5
    0.875
    0.21875
  """
  check_non_negative("scaling", scaling)
  return chain(
      scale_by_polyak(
          f_min=f_min, max_learning_rate=max_learning_rate, eps=eps, variant=variant
      ),
      scale_by_learning_rate(scaling),
  )
