"""AdaBelief: Adam whose second moment tracks the gradient's deviation from its EMA."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._adam import bias_corrected_momentum
from ._adam import check_decay_rates
from ._adam import precondition
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByBeliefState", "adabelief", "scale_by_belief"]


class ScaleByBeliefState(NamedTuple):
  """State of `scale_by_belief`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params: first moment
  nu: Updates  # like params: second moment of the prediction error g - mu (plus eps_root)


def scale_by_belief(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
  """Rescales updates by AdaBelief: `m_hat / (sqrt(s_hat) + eps)`.

  `s` is the EMA of `|g - m|**2` (the "belief" in the gradient), to which
  `eps_root` is added at every step; both moments are bias-corrected.

  Args:
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment of the prediction error, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment at each step; must be positive to
      differentiate through the transformation.
    nesterov: use Nesterov momentum.

  References:
    Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
    Gradients", https://arxiv.org/abs/2010.07468

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_belief()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.111, -1.111]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)

  def init_fn(params):
    return ScaleByBeliefState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params),
        nu=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    prediction_error = tree_lib.sub(updates, mu)
    nu = tree_lib.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
    nu = jax.tree.map(lambda v: v + eps_root, nu)
    count_inc = safe_increment(state.count)
    mu_hat = bias_corrected_momentum(mu, updates, b1, count_inc, nesterov)
    nu_hat = tree_lib.bias_correction(nu, b2, count_inc)
    updates = precondition(mu_hat, nu_hat, eps, 0.0)
    return updates, ScaleByBeliefState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
  """The AdaBelief optimizer: `scale_by_belief` then `scale_by_learning_rate`.

  The paper's defaults are `eps=1e-8, eps_root=0`; these (optax's) defaults differ.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment of the prediction error, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment at each step.
    nesterov: use Nesterov momentum.

  References:
    Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
    Gradients", https://arxiv.org/abs/2010.07468

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adabelief(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.111, 0.111]
  """
  return chain(
      scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
      scale_by_learning_rate(learning_rate),
  )
