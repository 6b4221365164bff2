"""Lion: sign of an interpolation between momentum and gradient."""

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Optional, Union

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
from ._checks import check_positive
from .transforms._combining import chain
from ._numerics import safe_increment
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByLionState", "lion", "scale_by_lion"]

_SIGN_FUNCTIONS = {
    "hard": lambda x, beta: jnp.sign(x),
    "smooth": lambda x, beta: jnp.tanh(beta * x),
    # Linear near 0, saturating to the sign beyond |x| = 1.
    "refined": lambda x, beta: jnp.where(jnp.abs(x) < 1.0, x, jnp.sign(x)),
}


class ScaleByLionState(NamedTuple):
  """State of `scale_by_lion`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: Updates  # like params (dtype mu_dtype if given): momentum, EMA of gradients


def scale_by_lion(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    mode: Literal["hard", "smooth", "refined"] = "hard",
    smooth_beta: float = 1.0,
) -> GradientTransformation:
  """Rescales updates to `sign(b1 * mu + (1 - b1) * g)`, then sets `mu <- EMA_b2(g)`.

  Args:
    b1: weight of the momentum in the interpolation whose sign is taken, in [0, 1].
    b2: decay rate of the momentum, in [0, 1).
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    mode: `"hard"` takes the sign; `"smooth"` takes `tanh(smooth_beta * x)`;
      `"refined"` keeps `x` where `|x| < 1` and takes the sign elsewhere.
    smooth_beta: sharpness of the `tanh` in `"smooth"` mode.

  References:
    Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms",
    https://arxiv.org/abs/2302.06675

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_lion()
    >>> tx.update(jnp.array([0.3, -2.0, 0.0]), tx.init(jnp.zeros(3)))[0]
    Array([ 1., -1.,  0.], dtype=float32)
  """
  check_in_range("b1", b1, 0.0, 1.0, high_inclusive=True)
  check_in_range("b2", b2, 0.0, 1.0)
  check_positive("smooth_beta", smooth_beta)
  mu_dtype = canonical_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByLionState(
        count=jnp.zeros([], jnp.int32), mu=tree_lib.zeros_like(params, dtype=mu_dtype)
    )

  def update_fn(updates, state, params=None):
    del params
    # An unknown mode raises here rather than in the factory, as in optax (whose own
    # test builds and inits the transformation, then expects `update` to raise).
    if mode not in _SIGN_FUNCTIONS:
      raise ValueError(f"mode must be one of {sorted(_SIGN_FUNCTIONS)}, got mode={mode!r}")
    sign_fn = _SIGN_FUNCTIONS[mode]
    new_updates = jax.tree.map(
        lambda g, m: sign_fn((1.0 - b1) * g + b1 * m, smooth_beta), updates, state.mu
    )
    mu = tree_lib.cast(tree_lib.update_moment(updates, state.mu, b2, 1), mu_dtype)
    return new_updates, ScaleByLionState(count=safe_increment(state.count), mu=mu)

  return GradientTransformation(init_fn, update_fn)


def lion(
    learning_rate: ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.99,
    mu_dtype: Optional[Any] = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Optional[Union[Any, Callable[[Params], Any]]] = None,
) -> GradientTransformationExtraArgs:
  """The Lion optimizer: `scale_by_lion`, decoupled weight decay, then the learning rate.

  Lion keeps only a momentum and its updates all have magnitude 1 per element, so
  it typically wants a learning rate 3-10x smaller, and a weight decay 3-10x
  larger, than AdamW. The weight decay is multiplied by the learning rate.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: weight of the momentum in the interpolation whose sign is taken.
    b2: decay rate of the momentum.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    weight_decay: decoupled weight decay rate (a scalar or a schedule).
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms",
    https://arxiv.org/abs/2302.06675

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.lion(learning_rate=0.1, weight_decay=0.0)
    >>> params = jnp.array([1.0, -2.0])
    >>> tx.update(2 * params, tx.init(params), params)[0]
    Array([-0.1,  0.1], dtype=float32)
  """
  return chain(
      scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
      add_decayed_weights(weight_decay, mask),
      scale_by_learning_rate(learning_rate),
  )
