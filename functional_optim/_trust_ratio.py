"""Layer-wise scaling by parameter norms: trust ratios, and LARS, LAMB, Fromage."""

from collections.abc import Callable
from typing import Any, Optional, Union

import jax
import jax.numpy as jnp

from . import _adam
from .transforms._adding import add_decayed_weights
from .transforms._adding import add_decayed_weights_unchecked
from ._base import EmptyState
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import NO_PARAMS_MSG
from ._base import ScalarOrSchedule
from ._base import init_empty_state
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from .transforms._masking import masked
from .transforms._accumulation import trace
from ._numerics import safe_norm
from ._numerics import safe_root_mean_squares
from ._scaling import scale_by_learning_rate

__all__ = [
    "ScaleByTrustRatioState",
    "fromage",
    "lamb",
    "lars",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_trust_ratio",
]

MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]

ScaleByTrustRatioState = EmptyState


def _scale_by_param_block(block_scale, min_scale) -> GradientTransformation:
  check_non_negative("min_scale", min_scale)

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    updates = jax.tree.map(lambda u, p: u * block_scale(p, min_scale), updates, params)
    return updates, state

  return GradientTransformation(init_empty_state, update_fn)


def scale_by_param_block_norm(min_scale: jax.typing.ArrayLike = 1e-3) -> GradientTransformation:
  """Multiplies each leaf's updates by the L2 norm of that leaf's parameters.

  A block is a leaf of the parameter tree (e.g. a layer's weight matrix).

  Args:
    min_scale: the smallest factor; smaller norms are raised to it.

  References:
    You et al., 2017 (layer-wise scaling), "Large Batch Training of Convolutional Networks",
    https://arxiv.org/abs/1708.03888

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_param_block_norm()
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(jnp.ones(2), tx.init(params), params)[0]
    Array([5., 5.], dtype=float32)
  """
  return _scale_by_param_block(safe_norm, min_scale)


def scale_by_param_block_rms(min_scale: jax.typing.ArrayLike = 1e-3) -> GradientTransformation:
  """Multiplies each leaf's updates by the root mean square of that leaf's parameters.

  A block is a leaf of the parameter tree (e.g. a layer's weight matrix).

  Args:
    min_scale: the smallest factor; smaller RMS values are raised to it.

  References:
    Shazeer and Stern, 2018 (relative step sizes), "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost", https://arxiv.org/abs/1804.04235

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_param_block_rms()
    >>> params = jnp.array([1.0, 7.0])
    >>> tx.update(jnp.ones(2), tx.init(params), params)[0]
    Array([5., 5.], dtype=float32)
  """
  return _scale_by_param_block(safe_root_mean_squares, min_scale)


def scale_by_trust_ratio(
    min_norm: jax.typing.ArrayLike = 0.0,
    trust_coefficient: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 0.0,
) -> GradientTransformation:
  """Scales each leaf's updates by the trust ratio `||params|| / ||updates||`.

  Precisely, by `trust_coefficient * ||p|| / (||u|| + eps)`, both norms raised to
  at least `min_norm`; where either norm is 0, the updates are left unscaled.

  Args:
    min_norm: the smallest value of either norm (0: no lower bound).
    trust_coefficient: a factor on the trust ratio.
    eps: added to the update norm in the denominator.

  References:
    You et al., 2017, "Large Batch Training of Convolutional Networks",
    https://arxiv.org/abs/1708.03888

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_trust_ratio()
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(jnp.array([0.0, 2.0]), tx.init(params), params)[0]
    Array([0., 5.], dtype=float32)
  """
  check_non_negative("min_norm", min_norm)
  check_non_negative("trust_coefficient", trust_coefficient)
  check_non_negative("eps", eps)

  def scale_update(update, param):
    param_norm = safe_norm(param, min_norm)
    update_norm = safe_norm(update, min_norm)
    trust_ratio = trust_coefficient * param_norm / (update_norm + eps)
    # A zero norm (possible only when min_norm is 0) would freeze or blow up the leaf.
    zero_norm = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
    return update * jnp.where(zero_norm, jnp.array(1.0, dtype=param.dtype), trust_ratio)

  def update_fn(updates, state, params):
    if params is None:
      raise ValueError(NO_PARAMS_MSG)
    return jax.tree.map(scale_update, updates, params), state

  return GradientTransformation(init_empty_state, update_fn)


def lars(
    learning_rate: ScalarOrSchedule,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = True,
    trust_coefficient: jax.typing.ArrayLike = 0.001,
    eps: jax.typing.ArrayLike = 0.0,
    trust_ratio_mask: MaskOrFn = True,
    momentum: jax.typing.ArrayLike = 0.9,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
  """LARS: SGD with momentum on weight-decayed gradients scaled by a layer-wise trust ratio.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    weight_decay: the weight decay rate, a scalar or a schedule.
    weight_decay_mask: a tree of booleans (or a function of the params returning
      one) selecting the leaves to decay; True decays all.
    trust_coefficient: a factor on the trust ratio.
    eps: added to the update norm in the trust ratio's denominator.
    trust_ratio_mask: like `weight_decay_mask`, selecting the leaves to scale by
      the trust ratio.
    momentum: the momentum decay, in [0, 1].
    nesterov: use Nesterov momentum.

  References:
    You et al., 2017, "Large Batch Training of Convolutional Networks",
    https://arxiv.org/abs/1708.03888

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.lars(learning_rate=1.0, trust_coefficient=0.1)
    >>> params = jnp.array([3.0, 4.0])
    >>> updates, _ = tx.update(jnp.array([0.0, 2.0]), tx.init(params), params)
    >>> updates
    Array([ 0. , -0.5], dtype=float32)
  """
  check_in_range("momentum", momentum, 0.0, 1.0, high_inclusive=True)
  return chain(
      add_decayed_weights(weight_decay, mask=weight_decay_mask),
      masked(
          scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps),
          mask=trust_ratio_mask,
      ),
      scale_by_learning_rate(learning_rate),
      trace(decay=momentum, nesterov=nesterov),
  )


def lamb(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-6,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformationExtraArgs:
  """LAMB: Adam directions with weight decay, scaled by a layer-wise trust ratio.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: the decay rate of the first moment.
    b2: the decay rate of the second moment.
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment inside the square root.
    weight_decay: the weight decay rate, a scalar or a schedule.
    mask: a tree of booleans (or a function of the params returning one)
      selecting the leaves to decay; None decays all.

  References:
    You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    https://arxiv.org/abs/1904.00962

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.lamb(learning_rate=0.1)
    >>> params = jnp.array([3.0, 4.0])
    >>> updates, _ = tx.update(jnp.array([1.0, 1.0]), tx.init(params), params)
    >>> updates.round(4)
    Array([-0.3536, -0.3536], dtype=float32)
  """
  return chain(
      _adam.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
      add_decayed_weights(weight_decay=weight_decay, mask=mask),
      scale_by_trust_ratio(),
      scale_by_learning_rate(learning_rate),
  )


def _fromage_rates(learning_rate: ScalarOrSchedule):
  """Fromage's (scaled learning rate, weight decay), scalars or schedules like `learning_rate`."""
  if not callable(learning_rate):
    mult = 1 / (1 + learning_rate**2) ** 0.5
    return learning_rate * mult, mult - 1
  mult = lambda count: 1 / (1 + learning_rate(count) ** 2) ** 0.5
  return (lambda count: mult(count) * learning_rate(count)), (lambda count: mult(count) - 1)


def fromage(
    learning_rate: ScalarOrSchedule, min_norm: jax.typing.ArrayLike = 1e-6
) -> GradientTransformationExtraArgs:
  """Fromage: trust-ratio steps followed by a shrinkage of the params by `1/sqrt(1 + lr**2)`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    min_norm: the smallest value of the parameter and update norms in the trust
      ratio, avoiding divisions by zero.

  References:
    Bernstein et al., 2020, "On the distance between two neural networks and the stability of
    learning", https://arxiv.org/abs/2002.03432

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.fromage(learning_rate=0.75)
    >>> params = jnp.array([3.0, 4.0])
    >>> updates, _ = tx.update(jnp.array([0.0, 2.0]), tx.init(params), params)
    >>> updates
    Array([-0.6, -3.8], dtype=float32)
  """
  check_non_negative("learning_rate", learning_rate)
  check_non_negative("min_norm", min_norm)
  scaled_learning_rate, shrinkage = _fromage_rates(learning_rate)
  return chain(
      scale_by_trust_ratio(min_norm),
      scale_by_learning_rate(scaled_learning_rate),
      add_decayed_weights_unchecked(shrinkage),
  )
