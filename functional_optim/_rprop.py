"""Rprop: per-element step sizes adapted from the signs of consecutive gradients."""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import Updates
from ._checks import check_in_range
from ._checks import check_non_negative
from .transforms._combining import chain
from ._scaling import scale

__all__ = ["ScaleByRpropState", "rprop", "scale_by_rprop"]


class ScaleByRpropState(NamedTuple):
  """State of `scale_by_rprop`."""

  step_sizes: Updates  # like params: current per-element step size
  prev_updates: Updates  # like params: last update, step_size * sign(g) (0 after a sign flip)


def scale_by_rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> GradientTransformation:
  """Maps each gradient element to `step_size * sign(g)` with an adapted step size.

  Per element, if the gradient kept its sign since the last step the step size is
  multiplied by `eta_plus`, if it flipped by `eta_minus` (then clipped to
  `[min_step_size, max_step_size]`); the *current* update uses the adapted step
  size. After a sign flip the update is 0 and the stored previous update is reset
  to 0, so the next step does not adapt (Rprop without weight-backtracking, as in
  `torch.optim.Rprop`). The first update is `learning_rate * sign(g)`.

  Optax 0.2.8 emits the previous step's update instead (its first update is 0);
  the state is the same.

  Args:
    learning_rate: the initial step size.
    eta_minus: factor in (0, 1) shrinking the step size after a sign flip.
    eta_plus: factor > 1 growing the step size while the sign is kept.
    min_step_size: the smallest step size.
    max_step_size: the largest step size.

  References:
    Riedmiller and Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
    RPROP Algorithm", https://ieeexplore.ieee.org/document/298623;
    Igel and Huesken, 2003, "Empirical evaluation of the improved Rprop learning algorithms",
    https://doi.org/10.1016/S0925-2312(01)00700-7

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_rprop(learning_rate=0.1)
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.array([3.0, -1.0]), state)
    >>> u
    Array([ 0.1, -0.1], dtype=float32)
    >>> tx.update(jnp.array([2.0, 5.0]), state)[0]
    Array([0.12, 0.  ], dtype=float32)
  """
  check_non_negative("learning_rate", learning_rate)
  check_in_range("eta_minus", eta_minus, 0.0, 1.0, low_inclusive=False)
  check_in_range("eta_plus", eta_plus, 1.0, float("inf"), low_inclusive=False)
  check_non_negative("min_step_size", min_step_size)
  check_non_negative("max_step_size", max_step_size)
  if all(isinstance(v, (int, float)) for v in (min_step_size, max_step_size)):
    if max_step_size < min_step_size:
      raise ValueError(
          f"max_step_size must be >= min_step_size, got max_step_size={max_step_size!r}"
          f" < min_step_size={min_step_size!r}"
      )

  def init_fn(params):
    return ScaleByRpropState(
        step_sizes=tree_lib.full_like(params, learning_rate),
        prev_updates=tree_lib.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    # prev_updates has the sign of the last gradient (0 after a flip). Multiplying
    # signs rather than values keeps tiny gradients from underflowing to "no sign".
    sign = jax.tree.map(lambda g, prev: jnp.sign(g) * jnp.sign(prev), updates, state.prev_updates)
    step_sizes = jax.tree.map(
        lambda s, step_size: jnp.where(
            s == 0,
            step_size,
            jnp.clip(
                step_size * jnp.where(s > 0, eta_plus, eta_minus),
                min=min_step_size,
                max=max_step_size,
            ),
        ),
        sign,
        state.step_sizes,
    )
    new_updates = jax.tree.map(
        lambda s, g, step_size: jnp.where(s < 0, jnp.zeros_like(g), step_size * jnp.sign(g)),
        sign,
        updates,
        step_sizes,
    )
    return new_updates, ScaleByRpropState(step_sizes=step_sizes, prev_updates=new_updates)

  return GradientTransformation(init_fn, update_fn)


def rprop(
    learning_rate: jax.typing.ArrayLike,
    eta_minus: jax.typing.ArrayLike = 0.5,
    eta_plus: jax.typing.ArrayLike = 1.2,
    min_step_size: jax.typing.ArrayLike = 1e-6,
    max_step_size: jax.typing.ArrayLike = 50.0,
) -> GradientTransformationExtraArgs:
  """The Rprop optimizer: `scale_by_rprop`, then a step against the gradient.

  Rprop ("resilient backpropagation") ignores gradient magnitudes: each parameter
  moves by its own step size in the direction opposite to its gradient's sign, and
  that step size grows while the sign persists and shrinks when it flips.

  Args:
    learning_rate: the initial step size.
    eta_minus: factor in (0, 1) shrinking the step size after a sign flip.
    eta_plus: factor > 1 growing the step size while the sign is kept.
    min_step_size: the smallest step size.
    max_step_size: the largest step size.

  References:
    Riedmiller and Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
    RPROP Algorithm", https://ieeexplore.ieee.org/document/298623;
    Igel and Huesken, 2003, "Empirical evaluation of the improved Rprop learning algorithms",
    https://doi.org/10.1016/S0925-2312(01)00700-7

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.rprop(learning_rate=0.25, eta_minus=0.5, eta_plus=2.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(params)
    [ 0.75 -1.75]
    [ 0.25 -1.25]
    [-0.75 -0.25]
  """
  return chain(
      scale_by_rprop(
          learning_rate=learning_rate,
          eta_minus=eta_minus,
          eta_plus=eta_plus,
          min_step_size=min_step_size,
          max_step_size=max_step_size,
      ),
      scale(-1.0),
  )
