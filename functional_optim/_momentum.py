"""SGD (with momentum: `trace`) and noisy SGD."""

from typing import Any, Optional, Union

import jax

from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import identity
from ._checks import check_in_range
from ._scaling import scale_by_learning_rate
from .transforms._accumulation import trace
from .transforms._adding import add_noise
from .transforms._combining import chain

__all__ = ["noisy_sgd", "sgd"]



def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
  """Stochastic gradient descent, optionally with (Nesterov) momentum.

  Without momentum the update is `-learning_rate * g`; with it,
  `-learning_rate * trace` where `trace = g + momentum * trace` (see `trace`).

  Args:
    learning_rate: a scalar or a schedule of the step count.
    momentum: the momentum decay in [0, 1]; None for plain SGD (no state).
    nesterov: use Nesterov momentum.
    accumulator_dtype: dtype of the momentum; None keeps the params' dtypes.

  References:
    Sutskever et al., 2013, "On the importance of initialization and momentum in deep learning",
    http://proceedings.mlr.press/v28/sutskever13.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.sgd(learning_rate=0.1, momentum=0.9)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, _ = tx.update(2 * params, tx.init(params), params)
    >>> fo.apply_updates(params, updates)
    Array([0.8, 1.6], dtype=float32)
  """
  if momentum is not None:
    check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=True)
  return chain(
      identity() if momentum is None else trace(
          decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype
      ),
      scale_by_learning_rate(learning_rate),
  )


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: jax.typing.ArrayLike = 0.01,
    gamma: jax.typing.ArrayLike = 0.55,
    key: Union[jax.Array, int, None] = None,
    *,
    seed: Optional[int] = None,
) -> GradientTransformationExtraArgs:
  """SGD on gradients plus annealed Gaussian noise of variance `eta / (t + 1)**gamma`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    eta: the initial variance of the noise.
    gamma: the decay exponent of the variance.
    key: a PRNG key or an integer seed (default 0).
    seed: the older spelling of `key`; give at most one of the two.

  References:
    Neelakantan et al., 2015, "Adding Gradient Noise Improves Learning for Very Deep Networks",
    https://arxiv.org/abs/1511.06807

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.noisy_sgd(learning_rate=0.1, eta=0.0, key=0)
    >>> params = jnp.array([1.0, 2.0])
    >>> updates, _ = tx.update(params, tx.init(params), params)
    >>> updates
    Array([-0.1, -0.2], dtype=float32)
  """
  return chain(
      add_noise(eta, gamma, key, seed=seed),
      scale_by_learning_rate(learning_rate),
  )
