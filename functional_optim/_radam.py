"""Rectified Adam: Adam whose adaptive step is switched on once its variance is tractable."""

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import ScaleByAdamState
from ._adam import bias_corrected_momentum
from ._adam import check_decay_rates
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["radam", "scale_by_radam"]


def scale_by_radam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
  """Rescales updates by Rectified Adam.

  With `rho_inf = 2 / (1 - b2) - 1` and `rho_t = rho_inf - 2 t b2**t / (1 - b2**t)`
  (the length of the approximated simple moving average), the update is
  `r_t * m_hat / (sqrt(v_hat + eps_root) + eps)` when `rho_t >= threshold`, with
  the rectification `r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))`,
  and plain momentum `m_hat` before that.

  Args:
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    threshold: the value of `rho_t` from which the adaptive step is used.
    nesterov: use Nesterov momentum.

  References:
    Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
    https://arxiv.org/abs/1908.03265

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_radam()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [2.0, -0.5]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)
  ro_inf = 2.0 / (1.0 - b2) - 1.0

  def rectified(ro, mu_hat, nu_hat):
    r = jnp.sqrt((ro - 4.0) * (ro - 2.0) * ro_inf / ((ro_inf - 4.0) * (ro_inf - 2.0) * ro))
    return jax.tree.map(
        lambda m, v: r.astype(m.dtype) * m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat
    )

  def init_fn(params):
    return ScaleByAdamState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params),
        nu=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    nu = tree_lib.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count_inc = safe_increment(state.count)
    b2t = b2**count_inc
    ro = ro_inf - 2 * count_inc * b2t / (1 - b2t)
    mu_hat = bias_corrected_momentum(mu, updates, b1, count_inc, nesterov)
    nu_hat = tree_lib.bias_correction(nu, b2, count_inc)
    updates = tree_lib.where(ro >= threshold, rectified(ro, mu_hat, nu_hat), mu_hat)
    return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def radam(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    threshold: jax.typing.ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
  """The Rectified Adam optimizer: `scale_by_radam` then `scale_by_learning_rate`.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    threshold: the value of the SMA length from which the adaptive step is used.
    nesterov: use Nesterov momentum.

  References:
    Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond",
    https://arxiv.org/abs/1908.03265

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.radam(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.2, 0.4]
  """
  return chain(
      scale_by_radam(
          b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov
      ),
      scale_by_learning_rate(learning_rate),
  )
