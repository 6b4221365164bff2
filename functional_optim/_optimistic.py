"""Optimistic gradients (`(alpha + beta) * g_t - beta * g_{t-1}`) and the optimizers built on them."""

import warnings
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import scale_by_adam
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_non_negative
from .transforms._combining import chain
from ._scaling import scale_by_learning_rate

__all__ = [
    "ScaleByOptimisticGradientState",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "scale_by_optimistic_gradient",
]


class ScaleByOptimisticGradientState(NamedTuple):
  """State of `scale_by_optimistic_gradient`."""

  is_initial_step: jax.Array  # shape=(), bool: no gradient seen yet
  previous_gradient: Updates  # like the updates: the last incoming gradient


def scale_by_optimistic_gradient(
    alpha: jax.typing.ArrayLike = 1.0, beta: jax.typing.ArrayLike = 1.0
) -> GradientTransformation:
  """Maps the gradient `g_t` to `(alpha + beta) * g_t - beta * g_{t-1}`.

  At the first step there is no previous gradient; `g_{t-1} = g_t` is used, so the
  first update is `alpha * g_t` (no spurious jump).

  Args:
    alpha: coefficient of the current gradient (>= 0).
    beta: coefficient of the negative momentum, the "optimism" (>= 0).

  References:
    Mokhtari et al., 2019, "A Unified Analysis of Extra-gradient and Optimistic Gradient Methods for
    Saddle Point Problems: Proximal Point Approach", https://arxiv.org/abs/1901.08511

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_optimistic_gradient()
    >>> u, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    >>> u
    Array([2.], dtype=float32)
    >>> tx.update(jnp.array([3.0]), state)[0]
    Array([4.], dtype=float32)
  """
  check_non_negative("alpha", alpha)
  check_non_negative("beta", beta)

  def init_fn(params):
    return ScaleByOptimisticGradientState(
        is_initial_step=jnp.array(True), previous_gradient=tree_lib.zeros_like(params)
    )

  def update_fn(updates, state, params=None):
    del params

    def optimistic(g, prev_g):
      prev_g = jnp.where(state.is_initial_step, g, prev_g)
      return (alpha + beta) * g - beta * prev_g

    new_updates = jax.tree.map(optimistic, updates, state.previous_gradient)
    return new_updates, ScaleByOptimisticGradientState(
        is_initial_step=jnp.array(False), previous_gradient=updates
    )

  return GradientTransformation(init_fn, update_fn)


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformationExtraArgs:
  """Optimistic gradient descent: `w <- w - lr * ((alpha + beta) g_t - beta g_{t-1})`.

  A cheap approximation of extra-gradient methods with last-iterate convergence
  in min-max games, where plain gradient descent cycles or diverges.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    alpha: coefficient of the current gradient.
    beta: coefficient of the negative momentum.

  References:
    Mokhtari et al., 2019, "A Unified Analysis of Extra-gradient and Optimistic Gradient Methods for
    Saddle Point Problems: Proximal Point Approach", https://arxiv.org/abs/1901.08511

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.optimistic_gradient_descent(learning_rate=0.1)
    >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0]
    Array([-0.2], dtype=float32)
  """
  return chain(
      scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      scale_by_learning_rate(learning_rate),
  )


def optimistic_adam(
    learning_rate: jax.typing.ArrayLike,
    optimism: Optional[jax.typing.ArrayLike] = None,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
) -> GradientTransformationExtraArgs:
  """Deprecated interface of optimistic Adam; use `optimistic_adam_v2`.

  Equivalent to `optimistic_adam_v2(1.0, alpha=learning_rate, beta=optimism, ...)`.

  Args:
    learning_rate: a scalar (schedules are not supported by this interface).
    optimism: the optimism `beta`; None uses `learning_rate`, as in the paper.
    b1: decay rate of the first moment.
    b2: decay rate of the second moment.
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    nesterov: use Nesterov momentum.

  References:
    Daskalakis et al., 2017, "Training GANs with Optimism", https://arxiv.org/abs/1711.00141

  Example:
    >>> import warnings
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   tx = fo.optimistic_adam(0.1, nesterov=False)
    >>> [round(u, 4) for u in tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()]
    [-0.1]
  """
  warnings.warn(
      "`optimistic_adam` is deprecated, please use `optimistic_adam_v2` instead.",
      category=DeprecationWarning,
      stacklevel=2,
  )
  if callable(learning_rate):
    raise ValueError(
        "learning_rate: this version of `optimistic_adam` does not support "
        "schedules; `optimistic_adam_v2` does."
    )
  return chain(
      scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      scale_by_optimistic_gradient(
          alpha=learning_rate, beta=learning_rate if optimism is None else optimism
      ),
      scale_by_learning_rate(1.0),  # flips the sign
  )


def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: jax.typing.ArrayLike = 1.0,
    beta: jax.typing.ArrayLike = 1.0,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-08,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    nesterov: bool = True,
) -> GradientTransformationExtraArgs:
  """Optimistic Adam: optimistic gradients of the Adam-preconditioned update.

  With `r_t` the Adam update, the step is `-lr * ((alpha + beta) r_t - beta r_{t-1})`.
  Designed against the limit cycles of GANs and other min-max problems.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    alpha: coefficient of the current Adam update.
    beta: coefficient of the negative momentum, the "optimism".
    b1: decay rate of the first moment.
    b2: decay rate of the second moment.
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root; needed to differentiate through Adam.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    nesterov: use Nesterov momentum.

  References:
    Daskalakis et al., 2017, "Training GANs with Optimism", https://arxiv.org/abs/1711.00141

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.optimistic_adam_v2(0.1, alpha=1.0, beta=1.0, nesterov=False)
    >>> [round(u, 4) for u in tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()]
    [-0.1]
  """
  return chain(
      scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      scale_by_optimistic_gradient(alpha=alpha, beta=beta),
      scale_by_learning_rate(learning_rate),
  )
