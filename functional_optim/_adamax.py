"""Adamax: Adam with an exponentially weighted infinity norm instead of the second moment."""

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import MaskOrFn
from ._adam import ScaleByAdamState
from ._adam import check_decay_rates
from .transforms._adding import add_decayed_weights
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["adamax", "adamaxw", "scale_by_adamax"]


def scale_by_adamax(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformation:
  """Rescales updates by Adamax: `m_hat / v` with `v = max(|g| + eps, b2 * v)`.

  The state is a `ScaleByAdamState` whose `nu` holds the infinity norm `v`, which
  needs no bias correction.

  Args:
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the weighted maximum of past gradient moduli, in [0, 1).
    eps: added to `|g|` to avoid dividing by zero.

  References:
    Kingma and Ba, 2014, section 7, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_adamax()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.0, -1.0]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)

  def init_fn(params):
    return ScaleByAdamState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params),
        nu=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    count_inc = safe_increment(state.count)
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    nu = tree_lib.update_infinity_moment(updates, state.nu, b2, eps)
    mu_hat = tree_lib.bias_correction(mu, b1, count_inc)
    updates = tree_lib.div(mu_hat, nu)
    return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
) -> GradientTransformationExtraArgs:
  """The Adamax optimizer: `scale_by_adamax` then `scale_by_learning_rate`.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the weighted maximum of past gradient moduli, in [0, 1).
    eps: added to `|g|` to avoid dividing by zero.

  References:
    Kingma and Ba, 2014, section 7, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adamax(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.1, 0.1]
  """
  return chain(
      scale_by_adamax(b1=b1, b2=b2, eps=eps),
      scale_by_learning_rate(learning_rate),
  )


def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
) -> GradientTransformationExtraArgs:
  """Adamax with decoupled weight decay (multiplied by the learning rate, as in PyTorch).

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the weighted maximum of past gradient moduli, in [0, 1).
    eps: added to `|g|` to avoid dividing by zero.
    weight_decay: strength of the weight decay, a scalar or a schedule.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; the Adamax scaling applies to all leaves.

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adamaxw(learning_rate=0.1, weight_decay=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params), params)
    >>> [round(float(u), 3) for u in updates]
    [-0.15, 0.2]
  """
  return chain(
      scale_by_adamax(b1=b1, b2=b2, eps=eps),
      add_decayed_weights(weight_decay, mask),
      scale_by_learning_rate(learning_rate),
  )
