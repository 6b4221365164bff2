"""NovoGrad: momentum on gradients normalized by a per-leaf second moment of their norm."""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._utils import canonical_dtype
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import NO_PARAMS_MSG
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByNovogradState", "novograd", "scale_by_novograd"]


class ScaleByNovogradState(NamedTuple):
  """State of `scale_by_novograd`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params (dtype `mu_dtype` if given): momentum of normalized gradients
  nu: Updates  # per leaf shape=(), dtype of the leaf: EMA of the leaf's squared gradient norm


def scale_by_novograd(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
) -> GradientTransformation:
  """Computes NovoGrad updates (to be scaled by a negative learning rate).

  Per leaf, `nu` is a moving average (decay `b2`) of the squared norm of the
  leaf's gradient, started at the first squared norm. The update is the momentum
  `mu = b1 * mu + g / (sqrt(nu + eps_root) + eps) + weight_decay * params`.

  Args:
    b1: decay rate of the momentum, in [0, 1).
    b2: decay rate of the average of squared gradient norms, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0 (useful when differentiating
      through the update).
    weight_decay: rate of the weight decay added to the normalized gradients, >= 0.
    mu_dtype: dtype of the momentum; None keeps the params' dtypes.

  References:
    Ginsburg et al., 2019, "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
    Training of Deep Networks", https://arxiv.org/abs/1905.11286;
    Li et al., 2019, "Jasper: An End-to-End Convolutional Neural Acoustic Model",
    https://arxiv.org/abs/1904.03288

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_novograd(eps=0.0)
    >>> params = jnp.zeros(2)
    >>> tx.update(jnp.array([3.0, -4.0]), tx.init(params), params)[0]
    Array([ 0.6, -0.8], dtype=float32)
  """
  check_in_range("b1", b1, 0.0, 1.0)
  check_in_range("b2", b2, 0.0, 1.0)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)
  check_non_negative("weight_decay", weight_decay)
  mu_dtype = canonical_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByNovogradState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params, dtype=mu_dtype),
        nu=jax.tree.map(lambda p: jnp.asarray(0.0, dtype=p.dtype), params),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    count_inc = safe_increment(state.count)

    def update_nu(g, nu):
      squared_norm = jnp.linalg.norm(g) ** 2
      average = (1 - b2) * squared_norm + b2 * nu
      return jnp.where(count_inc == 1, squared_norm.astype(nu.dtype), average).astype(nu.dtype)

    nu = jax.tree.map(update_nu, updates, state.nu)
    # mu starts at zero, so the first step's mu is the first normalized gradient.
    mu = jax.tree.map(
        lambda m, g, v, p: b1 * m + (g / (jnp.sqrt(v + eps_root) + eps) + weight_decay * p),
        state.mu,
        updates,
        nu,
        params,
    )
    mu = tree_lib.cast(mu, mu_dtype)
    return mu, ScaleByNovogradState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def novograd(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.25,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformationExtraArgs:
  """The NovoGrad optimizer: `scale_by_novograd`, then the learning rate.

  NovoGrad normalizes each leaf's gradient by a running average of its norm; it is
  robust to the learning rate and initialization, works without warm-up, and
  needs about half of Adam's memory.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the momentum, in [0, 1).
    b2: decay rate of the average of squared gradient norms, in [0, 1).
    eps: added to the denominator outside the square root, >= 0.
    eps_root: added inside the square root, >= 0.
    weight_decay: rate of the weight decay, >= 0 (a scalar: as in optax, a
      schedule is not supported here despite the type).

  References:
    Ginsburg et al., 2019, "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
    Training of Deep Networks", https://arxiv.org/abs/1905.11286;
    Li et al., 2019, "Jasper: An End-to-End Convolutional Neural Acoustic Model",
    https://arxiv.org/abs/1904.03288

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.novograd(learning_rate=0.5, eps=0.0)
    >>> params = jnp.zeros(2)
    >>> tx.update(jnp.array([3.0, -4.0]), tx.init(params), params)[0]
    Array([-0.3,  0.4], dtype=float32)
  """
  return chain(
      scale_by_novograd(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay),
      scale_by_learning_rate(learning_rate),
  )
