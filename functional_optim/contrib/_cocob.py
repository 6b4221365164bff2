"""COCOB: COntinuous COin Betting, a learning-rate-free stochastic subgradient method.

The backpropagating variant, Algorithm 2 of Orabona & Tommasi, 2017.
"""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive

__all__ = ["COCOBState", "cocob", "scale_by_cocob"]


class COCOBState(NamedTuple):
  """State of `scale_by_cocob`: the coin-betting statistics, per coordinate."""

  init_particles: _base.Updates  # like params: the initial parameters
  cumulative_gradients: _base.Updates  # like params: minus the sum of the gradients
  scale: _base.Updates  # like params: largest |gradient| so far (eps at first)
  subgradients: _base.Updates  # like params: sum of |gradient|
  reward: _base.Updates  # like params: the bettor's wealth, >= 0


def scale_by_cocob(
    alpha: jax.typing.ArrayLike = 100.0, eps: jax.typing.ArrayLike = 1e-8
) -> _base.GradientTransformation:
  """Rescales updates by the COntinuous COin Betting algorithm.

  The update moves the parameters to `p0 + C / (L * max(G + L, alpha * L)) * (L + R)`,
  with `C` minus the sum of the gradients, `L` the largest `|gradient|` seen, `G` the
  sum of `|gradient|` and `R` the wealth. `update` needs the current parameters. See
  `cocob` for the optimizer.

  Args:
    alpha: the fraction-to-bet parameter of COCOB.
    eps: initial value of the gradient scale `L`, against division by zero.

  References:
    Orabona & Tommasi, 2017, "Training Deep Networks without Learning Rates Through
    Coin Betting", https://arxiv.org/abs/1705.07795

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_cocob()
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, _ = tx.update(jnp.array([0.5, -1.0]), tx.init(params), params)
    >>> [round(x, 4) for x in updates.tolist()]
    [-0.01, 0.01]
  """
  check_positive("alpha", alpha)
  check_non_negative("eps", eps)

  def init_fn(params):
    # Every field in buffers of its own, so that the state can be donated (with the params).
    return COCOBState(
        init_particles=jax.tree.map(jnp.copy, params),
        cumulative_gradients=fo.tree.zeros_like(params),
        scale=fo.tree.scale(eps, fo.tree.ones_like(params)),
        subgradients=fo.tree.zeros_like(params),
        reward=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    init_particles, cumulative_grads, scale, subgradients, reward = state
    scale = jax.tree.map(lambda l, g: jnp.maximum(l, jnp.abs(g)), scale, updates)
    subgradients = jax.tree.map(lambda s, g: s + jnp.abs(g), subgradients, updates)
    reward = jax.tree.map(
        lambda r, g, p, p0: jnp.maximum(r - g * (p - p0), 0),
        reward, updates, params, init_particles,
    )
    cumulative_grads = jax.tree.map(lambda c, g: c - g, cumulative_grads, updates)
    new_updates = jax.tree.map(
        lambda p, p0, c, l, s, r: -p + (p0 + c / (l * jnp.maximum(s + l, alpha * l)) * (l + r)),
        params, init_particles, cumulative_grads, scale, subgradients, reward,
    )
    return new_updates, COCOBState(init_particles, cumulative_grads, scale, subgradients, reward)

  return _base.GradientTransformation(init_fn, update_fn)


def cocob(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    alpha: jax.typing.ArrayLike = 100.0,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
) -> _base.GradientTransformation:
  """The COCOB optimizer: L2 weight decay, a learning-rate factor, then `scale_by_cocob`.

  A learning-rate-free method for stochastic subgradient descent: the step comes
  from a coin-betting strategy on the subgradients. `update` needs the current
  parameters.

  Args:
    learning_rate: a factor on the gradients (not sign-flipped), e.g. to inject a
      schedule; 1.0 by default.
    alpha: the fraction-to-bet parameter of COCOB.
    eps: initial value of the gradient scale, against division by zero.
    weight_decay: L2 penalty added to the gradients.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Orabona & Tommasi, 2017, "Training Deep Networks without Learning Rates Through
    Coin Betting", https://arxiv.org/abs/1705.07795

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.cocob()
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(2 * params, state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> [round(x, 4) for x in params.tolist()]
    [0.9694, -1.9693]
  """
  check_non_negative("weight_decay", weight_decay)
  return fo.chain(
      fo.add_decayed_weights(weight_decay, mask),
      fo.scale_by_learning_rate(learning_rate, flip_sign=False),
      scale_by_cocob(alpha, eps),
  )
