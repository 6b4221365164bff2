"""Yogi: Adam with an additive second-moment update that cannot grow the step too fast."""

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import ScaleByAdamState
from ._adam import check_decay_rates
from ._adam import precondition
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._checks import check_non_negative
from ._checks import check_positive
from .transforms._combining import chain
from ._numerics import abs_sq
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["scale_by_yogi", "yogi"]


def scale_by_yogi(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
    eps_root: jax.typing.ArrayLike = 0.0,
    initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
) -> GradientTransformation:
  """Rescales updates by Yogi: `v <- v - (1 - b2) sign(v - |g|^2) |g|^2`.

  Both moments start at `initial_accumulator_value` and are bias-corrected; the
  update is `m_hat / (sqrt(v_hat + eps_root) + eps)`. Complex gradients are
  supported through `|g|^2`. The state is a `ScaleByAdamState`.

  Args:
    b1: decay rate of the first moment, in [0, 1).
    b2: rate of the additive second-moment update, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    initial_accumulator_value: starting value of both moments; must be positive.

  References:
    Zaheer et al., 2018, "Adaptive Methods for Nonconvex Optimization",
    https://proceedings.neurips.cc/paper/2018/file/90365351ccc7437a1309dc64e4db32a3-Paper.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_yogi(eps=0.0, initial_accumulator_value=1e-9)
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.0, -1.0]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)
  check_positive("initial_accumulator_value", initial_accumulator_value)

  def init_fn(params):
    return ScaleByAdamState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.full_like(params, initial_accumulator_value),
        nu=tree_lib.full_like(params, initial_accumulator_value),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    nu = jax.tree.map(
        lambda g, v: v - (1 - b2) * jnp.sign(v - abs_sq(g)) * abs_sq(g), updates, state.nu
    )
    count_inc = safe_increment(state.count)
    mu_hat = tree_lib.bias_correction(mu, b1, count_inc)
    nu_hat = tree_lib.bias_correction(nu, b2, count_inc)
    updates = precondition(mu_hat, nu_hat, eps, eps_root)
    return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def yogi(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-3,
) -> GradientTransformationExtraArgs:
  """The Yogi optimizer: `scale_by_yogi` then `scale_by_learning_rate`.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: rate of the additive second-moment update, in [0, 1).
    eps: added to the denominator outside the square root.

  References:
    Zaheer et al., 2018, "Adaptive Methods for Nonconvex Optimization",
    https://proceedings.neurips.cc/paper/2018/file/90365351ccc7437a1309dc64e4db32a3-Paper.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.yogi(learning_rate=0.1, eps=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.1, 0.1]
  """
  return chain(
      scale_by_yogi(b1=b1, b2=b2, eps=eps),
      scale_by_learning_rate(learning_rate),
  )
