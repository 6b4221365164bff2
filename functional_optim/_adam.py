"""Adam and its close variants: AdamW, NAdam(W) and AMSGrad."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._utils import canonical_dtype
from .transforms._adding import add_decayed_weights
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = [
    "ScaleByAdamState",
    "ScaleByAmsgradState",
    "adam",
    "adamw",
    "amsgrad",
    "nadam",
    "nadamw",
    "scale_by_adam",
    "scale_by_amsgrad",
]

MaskOrFn = Optional[Union[Any, Callable[[Params], Any]]]


def _is_none(x) -> bool:
  return x is None


def check_decay_rates(**rates) -> None:
  """Checks that each named decay rate (`b1=..., b2=...`) lies in [0, 1)."""
  for name, value in rates.items():
    check_in_range(name, value, 0.0, 1.0)



def bias_corrected_momentum(
    mu: Updates, updates: Updates, b1: jax.typing.ArrayLike, count: jax.Array, nesterov: bool
) -> Updates:
  """The bias-corrected first moment `mu / (1 - b1**count)`, or its Nesterov form.

  The Nesterov form (Dozat, 2016) looks one step ahead:
  `b1 * mu / (1 - b1**(count+1)) + (1 - b1) * g / (1 - b1**count)`.
  Shared by Adam, RAdam and AdaBelief.
  """
  if not nesterov:
    return tree_lib.bias_correction(mu, b1, count)
  return jax.tree.map(
      lambda m, g: b1 * m + (1 - b1) * g,
      tree_lib.bias_correction(mu, b1, safe_increment(count)),
      tree_lib.bias_correction(updates, b1, count),
  )


def precondition(
    mu_hat: Updates, nu_hat: Updates, eps: jax.typing.ArrayLike, eps_root: jax.typing.ArrayLike
) -> Updates:
  """`mu_hat / (sqrt(nu_hat + eps_root) + eps)` leafwise; None leaves stay None."""
  return jax.tree.map(
      lambda m, v: None if m is None else m / (jnp.sqrt(v + eps_root) + eps),
      mu_hat,
      nu_hat,
      is_leaf=_is_none,
  )


class ScaleByAdamState(NamedTuple):
  """State of `scale_by_adam`, also used by `scale_by_adamax`, `scale_by_radam`, `scale_by_yogi`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params (dtype mu_dtype if given): first moment
  nu: Updates  # like params: second moment (infinity norm for Adamax)


def scale_by_adam(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
  """Rescales updates by Adam: `m_hat / (sqrt(v_hat + eps_root) + eps)`.

  `m` and `v` are exponential moving averages of the gradients and of their squared
  moduli, `m_hat` and `v_hat` the same divided by `1 - b**t` to undo the zero
  initialisation. Complex gradients are supported (`v` tracks `|g|**2`).

  Args:
    b1: decay rate of the first moment, in [0, 1); 0 means no momentum.
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root; needed to differentiate through Adam.
    mu_dtype: dtype of the first moment (e.g. `jnp.bfloat16` to save memory); None
      keeps the dtype of the params.
    nesterov: use Nesterov momentum (NAdam, Dozat 2016).

  References:
    Kingma and Ba, 2014, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_adam()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.0, -1.0]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)
  mu_dtype = canonical_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByAdamState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params, dtype=mu_dtype),
        nu=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    nu = tree_lib.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count_inc = safe_increment(state.count)
    mu_hat = bias_corrected_momentum(mu, updates, b1, count_inc, nesterov)
    # Dozat's Algorithm 2 also multiplies nu_hat by b2; like other NAdams, we don't.
    nu_hat = tree_lib.bias_correction(nu, b2, count_inc)
    updates = precondition(mu_hat, nu_hat, eps, eps_root)
    mu = tree_lib.cast(mu, mu_dtype)
    nu = tree_lib.cast_like(nu, state.nu)
    return updates, ScaleByAdamState(count=count_inc, mu=mu, nu=nu)

  return GradientTransformation(init_fn, update_fn)


class ScaleByAmsgradState(NamedTuple):
  """State of `scale_by_amsgrad`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params (dtype mu_dtype if given): first moment
  nu: Updates  # like params: second moment
  nu_max: Updates  # like params: running maximum of the (bias-corrected) second moment


def scale_by_amsgrad(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformation:
  """Rescales updates by AMSGrad: Adam with the running maximum of the second moment.

  Args:
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    bias_correction_mu: bias-correct the first moment (False as in the paper).
    bias_correction_nu: bias-correct the second moment before the maximum (False
      as in the paper).

  References:
    Reddi et al., 2018, "On the Convergence of Adam and Beyond",
    https://openreview.net/forum?id=ryQu7f-RZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_amsgrad()
    >>> updates, _ = tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> [round(float(u), 3) for u in updates]
    [1.0, -1.0]
  """
  check_decay_rates(b1=b1, b2=b2)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)
  mu_dtype = canonical_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByAmsgradState(
        count=jnp.zeros([], jnp.int32),
        mu=tree_lib.zeros_like(params, dtype=mu_dtype),
        nu=tree_lib.zeros_like(params),
        nu_max=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = tree_lib.update_moment(updates, state.mu, b1, 1)
    nu = tree_lib.update_moment_per_elem_norm(updates, state.nu, b2, 2)
    count_inc = safe_increment(state.count)
    mu_hat = tree_lib.bias_correction(mu, b1, count_inc) if bias_correction_mu else mu
    nu_eff = tree_lib.bias_correction(nu, b2, count_inc) if bias_correction_nu else nu
    nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu_eff)
    updates = precondition(mu_hat, nu_max, eps, eps_root)
    mu = tree_lib.cast(mu, mu_dtype)
    return updates, ScaleByAmsgradState(count=count_inc, mu=mu, nu=nu, nu_max=nu_max)

  return GradientTransformation(init_fn, update_fn)


def adam(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
  """The Adam optimizer: `scale_by_adam` then `scale_by_learning_rate`.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root; needed to differentiate through Adam.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    nesterov: use Nesterov momentum (the same as `nadam`).

  References:
    Kingma and Ba, 2014, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980;
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adam(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.1, 0.1]
  """
  return chain(
      scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      scale_by_learning_rate(learning_rate),
  )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
) -> GradientTransformationExtraArgs:
  """The NAdam optimizer: `adam` with Nesterov momentum.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    nesterov: kept for signature compatibility with optax (where `nadam` is
      `adam` with `nesterov=True` bound); False gives plain `adam`.

  References:
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.nadam(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.147, 0.147]
  """
  return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
) -> GradientTransformationExtraArgs:
  """Adam with decoupled weight decay: `scale_by_adam`, `add_decayed_weights`, learning rate.

  The weight decay is multiplied by the learning rate, as in PyTorch (the paper
  multiplies it by the schedule multiplier only).

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    weight_decay: strength of the weight decay, a scalar or a schedule.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; the Adam scaling applies to all leaves.
    nesterov: use Nesterov momentum (the same as `nadamw`).

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101;
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.adamw(learning_rate=0.1, weight_decay=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params), params)
    >>> [round(float(u), 3) for u in updates]
    [-0.15, 0.2]
  """
  return chain(
      scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
      add_decayed_weights(weight_decay, mask),
      scale_by_learning_rate(learning_rate),
  )


def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = True,
) -> GradientTransformationExtraArgs:
  """The NAdamW optimizer: `adamw` with Nesterov momentum.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    weight_decay: strength of the weight decay, a scalar or a schedule.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay.
    nesterov: kept for signature compatibility with optax (where `nadamw` is
      `adamw` with `nesterov=True` bound); False gives plain `adamw`.

  References:
    Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization",
    https://arxiv.org/abs/1711.05101;
    Dozat, 2016, "Incorporating Nesterov Momentum into Adam",
    https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.nadamw(learning_rate=0.1, weight_decay=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params), params)
    >>> [round(float(u), 3) for u in updates]
    [-0.147, 0.147]
  """
  return adamw(
      learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov
  )


def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
) -> GradientTransformationExtraArgs:
  """The AMSGrad optimizer: `scale_by_amsgrad` then `scale_by_learning_rate`.

  Args:
    learning_rate: a scalar, or a schedule of the step count.
    b1: decay rate of the first moment, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    eps: added to the denominator outside the square root.
    eps_root: added inside the square root.
    mu_dtype: dtype of the first moment; None keeps the dtype of the params.
    bias_correction_mu: bias-correct the first moment (False as in the paper).
    bias_correction_nu: bias-correct the second moment (False as in the paper).

  References:
    Reddi et al., 2018, "On the Convergence of Adam and Beyond",
    https://openreview.net/forum?id=ryQu7f-RZ

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.amsgrad(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(2 * params, tx.init(params))
    >>> [round(float(u), 3) for u in updates]
    [-0.1, 0.1]
  """
  return chain(
      scale_by_amsgrad(
          b1=b1,
          b2=b2,
          eps=eps,
          eps_root=eps_root,
          mu_dtype=mu_dtype,
          bias_correction_mu=bias_correction_mu,
          bias_correction_nu=bias_correction_nu,
      ),
      scale_by_learning_rate(learning_rate),
  )
