"""ADOPT: Adam with the second moment taken before the current gradient, and clipping."""

from collections.abc import Callable
from typing import Any, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative

__all__ = ["adopt", "scale_by_adopt"]


def scale_by_adopt(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = lambda x: x**0.25,
) -> _base.GradientTransformation:
  r"""Rescales updates by the ADOPT rule.

  The gradient is normalized by the second moment of the *previous* gradients,
  `g_t / max(sqrt(v_{t-1}), eps)` (optionally clipped to `clip_value_fn(t)`),
  and then averaged into the momentum, which is the update. The first step only
  initializes `v_0 = g_0^2` and returns zero updates (with clipping at `t = 0`,
  the clip value is 0).

  Args:
    b1: decay rate of the momentum (of normalized gradients).
    b2: decay rate of the second moment of the gradients.
    eps: lower bound on the root of the second moment.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    nesterov: whether to use Nesterov momentum.
    use_clipping: whether to clip the normalized gradients to
      `[-clip_value_fn(t), clip_value_fn(t)]`, `t` the step count.
    clip_value_fn: clip value as a function of the step count; `t**0.25` by
      default.

  Returns:
    A `GradientTransformation` with a `ScaleByAdamState`.

  References:
    Taniguchi et al., 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with
    the Optimal Rate", https://arxiv.org/abs/2411.02853

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_adopt(b1=0.0, use_clipping=False)
    >>> state = tx.init(jnp.zeros(2))
    >>> _, state = tx.update(jnp.array([2.0, -1.0]), state)  # sets v = g^2
    >>> tx.update(jnp.array([1.0, 1.0]), state)[0]
    Array([0.5, 1. ], dtype=float32)
  """
  check_in_range("b1", b1, 0.0, 1.0, high_inclusive=True)
  check_in_range("b2", b2, 0.0, 1.0, high_inclusive=True)
  check_non_negative("eps", eps)
  mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return fo.ScaleByAdamState(
        count=jnp.zeros([], jnp.int32),
        mu=fo.tree.zeros_like(params, dtype=mu_dtype),
        nu=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    # The first step only initializes nu (b2 = 0) and keeps mu at zero (b1 = 1).
    b2_ = jnp.where(state.count > 0, b2, 0)
    b1_ = jnp.where(state.count > 0, b1, 1)
    nu = fo.tree.update_moment_per_elem_norm(updates, state.nu, b2_, 2)
    normalize = lambda g, v: g / jnp.maximum(jnp.sqrt(v), eps)
    if use_clipping:
      clip_value = clip_value_fn(state.count)
      mu_updates = jax.tree.map(
          lambda g, v: jnp.clip(normalize(g, v), -clip_value, clip_value), updates, state.nu
      )
    else:
      mu_updates = jax.tree.map(normalize, updates, state.nu)
    mu = fo.tree.update_moment(mu_updates, state.mu, b1_, 1)
    if nesterov:
      updates = fo.tree.update_moment(mu_updates, mu, b1_, 1)
    else:
      updates = mu
    mu = fo.tree.cast(mu, mu_dtype)
    return updates, fo.ScaleByAdamState(count=fo.safe_increment(state.count), mu=mu, nu=nu)

  return fo.GradientTransformation(init_fn, update_fn)


def adopt(
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.9999,
    eps: jax.typing.ArrayLike = 1e-6,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jnp.ndarray], jnp.ndarray] = lambda x: x**0.25,
) -> _base.GradientTransformationExtraArgs:
  r"""The ADOPT optimizer: `scale_by_adopt` then the learning rate.

  A modification of Adam that converges for any `b2`: the current gradient is
  normalized by the second moment of the previous ones before entering the
  momentum. The first step only initializes the second moment (zero update).

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the momentum.
    b2: decay rate of the second moment.
    eps: lower bound on the root of the second moment.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    nesterov: whether to use Nesterov momentum.
    use_clipping: whether to clip the normalized gradients (recommended when
      training from scratch).
    clip_value_fn: clip value as a function of the step count; `t**0.25` by
      default.

  Returns:
    A `GradientTransformationExtraArgs`.

  References:
    Taniguchi et al., 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with
    the Optimal Rate", https://arxiv.org/abs/2411.02853

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.adopt(learning_rate=0.1)
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):  # the first step only initializes the second moment
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(params):.4f}")
    14.0000
    13.8803
    13.6551
  """
  return fo.chain(
      scale_by_adopt(
          b1=b1,
          b2=b2,
          eps=eps,
          mu_dtype=mu_dtype,
          nesterov=nesterov,
          use_clipping=use_clipping,
          clip_value_fn=clip_value_fn,
      ),
      fo.scale_by_learning_rate(learning_rate),
  )
