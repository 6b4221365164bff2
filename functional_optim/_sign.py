"""Sign-based updates: signSGD and Signum."""

from typing import Any, Optional

import jax
import jax.numpy as jnp

from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import init_empty_state
from ._checks import check_in_range
from .transforms._combining import chain
from .transforms._accumulation import ema
from ._scaling import scale_by_learning_rate

__all__ = ["scale_by_sign", "sign_sgd", "signum"]


def scale_by_sign() -> GradientTransformation:
  """Replaces every update by its sign (`x / |x|` for complex updates, 0 at 0).

  References:
    Bernstein et al., 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
    https://arxiv.org/abs/1802.04434

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_sign()
    >>> tx.update(jnp.array([-2.0, 0.0, 0.5]), tx.init(None))[0]
    Array([-1.,  0.,  1.], dtype=float32)
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(jnp.sign, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformationExtraArgs:
  """signSGD: steps of `-learning_rate * sign(g)`.

  Args:
    learning_rate: a scalar or a schedule of the step count.

  References:
    Bernstein et al., 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
    https://arxiv.org/abs/1802.04434;
    Balles et al., 2020, "The Geometry of Sign Gradient Descent", https://arxiv.org/abs/2002.08056

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.sign_sgd(learning_rate=0.1)
    >>> params = jnp.array([-2.0, 3.0])
    >>> tx.update(params, tx.init(params), params)[0]
    Array([ 0.1, -0.1], dtype=float32)
  """
  return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(
    learning_rate: ScalarOrSchedule,
    beta: jax.typing.ArrayLike = 0.9,
    accumulator_dtype: Optional[Any] = None,
) -> GradientTransformationExtraArgs:
  """Signum: steps of `-learning_rate * sign(m)`, `m` a moving average of the gradients.

  The average is not debiased: debiasing does not change its sign.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    beta: the decay rate of the moving average, in [0, 1).
    accumulator_dtype: dtype of the stored average; None keeps the params' dtypes.

  References:
    Bernstein et al., 2018, "signSGD: Compressed Optimisation for Non-Convex Problems",
    https://arxiv.org/abs/1802.04434;
    Zhao et al., 2024, "Deconstructing What Makes a Good Optimizer for Language Models",
    https://arxiv.org/abs/2407.07972

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.signum(learning_rate=0.1)
    >>> params = jnp.array([-2.0, 3.0])
    >>> tx.update(params, tx.init(params), params)[0]
    Array([ 0.1, -0.1], dtype=float32)
  """
  check_in_range("beta", beta, 0.0, 1.0)
  return chain(
      ema(beta, debias=False, accumulator_dtype=accumulator_dtype),
      scale_by_sign(),
      scale_by_learning_rate(learning_rate),
  )
