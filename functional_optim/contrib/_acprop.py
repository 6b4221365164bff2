"""ACProp: AdaBelief's centered second moment, applied asynchronously (one step late)."""

from collections.abc import Callable
from typing import Any, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative

__all__ = ["acprop", "scale_by_acprop"]


def scale_by_acprop(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
) -> _base.GradientTransformation:
  r"""Rescales updates to `g_t / (sqrt(s_hat_{t-1}) + eps)` (ACProp).

  `s` is the EMA of the squared prediction errors `(g - m)^2` (as in AdaBelief),
  but the update divides the *current* gradient by the bias-corrected `s` of the
  *previous* step; the first update divides by 1.

  Args:
    b1: decay rate of the first moment.
    b2: decay rate of the second central moment.
    eps: added to the denominator.
    eps_root: added to the second central moment at every step (must be non-zero
      to backpropagate through the transformation).

  Returns:
    A `GradientTransformation` with a `ScaleByBeliefState`.

  References:
    Zhuang et al., 2021, "Momentum Centering and Asynchronous Update for Adaptive
    Gradient Methods", https://arxiv.org/abs/2110.05454

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_acprop()
    >>> tx.update(jnp.array([0.5, -2.0]), tx.init(jnp.zeros(2)))[0]  # first step: g / 1
    Array([ 0.5, -2. ], dtype=float32)
  """
  check_in_range("b1", b1, 0.0, 1.0, high_inclusive=True)
  check_in_range("b2", b2, 0.0, 1.0)
  check_non_negative("eps", eps)
  check_non_negative("eps_root", eps_root)

  def init_fn(params):
    return fo.ScaleByBeliefState(
        count=jnp.zeros([], jnp.int32),
        mu=fo.tree.zeros_like(params),
        nu=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    mu = fo.tree.update_moment(updates, state.mu, b1, 1)
    prediction_error = jax.tree.map(lambda g, m: g - m, updates, state.mu)
    nu = fo.tree.update_moment_per_elem_norm(prediction_error, state.nu, b2, 2)
    nu = jax.tree.map(lambda v: v + eps_root, nu)
    count_inc = fo.safe_increment(state.count)
    # The denominator uses the previous step's nu; on the first step it is 1.
    initial = state.count == 0
    t = jnp.where(initial, count_inc, state.count)
    nu_hat = fo.tree.bias_correction(state.nu, b2, t)
    nu_hat = jax.tree.map(lambda x: jnp.where(initial, 1, x), nu_hat)
    updates = jax.tree.map(lambda g, v: g / (jnp.sqrt(v) + eps), updates, nu_hat)
    return updates, fo.ScaleByBeliefState(count=count_inc, mu=mu, nu=nu)

  return fo.GradientTransformation(init_fn, update_fn)


def acprop(
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    eps: jax.typing.ArrayLike = 1e-16,
    eps_root: jax.typing.ArrayLike = 1e-16,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
) -> _base.GradientTransformation:
  r"""The ACProp optimizer: `scale_by_acprop`, weight decay, then the learning rate.

  With `m`, `s` the first and second central moments:

    m_t = b1 m_{t-1} + (1 - b1) g_t,
    s_t = b2 s_{t-1} + (1 - b2) (g_t - m_{t-1})^2 + eps_root,
    u_t = -lr_t g_t / (sqrt(s_{t-1} / (1 - b2^{t-1})) + eps).

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the first moment.
    b2: decay rate of the second central moment.
    eps: added to the denominator.
    eps_root: added to the second central moment at every step.
    weight_decay: weight decay rate, multiplied by the learning rate.
    mask: a tree of booleans (or a function of the params returning one)
      selecting the leaves to decay; None decays all.

  Returns:
    A `GradientTransformation`.

  References:
    Zhuang et al., 2021, "Momentum Centering and Asynchronous Update for Adaptive
    Gradient Methods", https://arxiv.org/abs/2110.05454

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.acprop(learning_rate=0.1)
    >>> params = jnp.array([1.0, -2.0])
    >>> tx.update(2 * params, tx.init(params), params)[0]
    Array([-0.2,  0.4], dtype=float32)
  """
  return fo.chain(
      scale_by_acprop(b1=b1, b2=b2, eps=eps, eps_root=eps_root),
      fo.add_decayed_weights(weight_decay, mask),
      fo.scale_by_learning_rate(learning_rate),
  )
