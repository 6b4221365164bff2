"""DoG and DoWG: parameter-free step sizes from the distance travelled over the gradients.

Global (whole-tree) versions, as in `optax.contrib`; the layer-wise DoG of optax's
top level is `functional_optim.scale_by_distance_over_gradients`.
"""

from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_non_negative

__all__ = ["DoGState", "DoWGState", "dog", "dowg", "scale_by_dog", "scale_by_dowg"]

_INIT_STEP_TYPES = ("distance", "learning_rate", "heuristic")


class DoGState(NamedTuple):
  """State of `scale_by_dog`."""

  is_init_step: jax.Array  # shape=(), bool: True until the first update
  init_params: _base.ArrayTree  # like params: the initial parameters x_0
  max_dist: jax.Array  # shape=(), lowest dtype of params: largest ||x_t - x_0|| (r_eps at first)
  sum_sq_norm_grads: jax.Array  # shape=(), lowest dtype of params: sum of ||g_t||^2


def scale_by_dog(
    init_step: tuple[Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike],
    eps: jax.typing.ArrayLike = 1e-8,
) -> _base.GradientTransformation:
  r"""Scales updates by Distance over Gradients: `max_t ||x_t - x_0|| / sqrt(sum ||g_t||^2 + eps)`.

  See `dog` for the optimizer and the meaning of `init_step`. `update` needs the
  current parameters; with the `"heuristic"` initial step, `init` needs the actual
  initial parameters. The authors recommend averaging the iterates.

  Args:
    init_step: a pair `(tag, value)` with tag `"distance"`, `"learning_rate"` or
      `"heuristic"`.
    eps: added to the sum of squared gradient norms, for numerical stability.

  References:
    Ivgi et al., 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
    Schedule", https://arxiv.org/abs/2302.12022

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.contrib._dog import scale_by_dog
    >>> tx = scale_by_dog(("learning_rate", 0.5))
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(params, tx.init(params), params)[0]
    Array([1.5, 2. ], dtype=float32)
  """
  init_step_type, init_step_value = init_step
  if init_step_type not in _INIT_STEP_TYPES:
    raise ValueError(
        f"Invalid init_step specification for scale_by_dog: {init_step_type=}; "
        f"the tag must be one of {_INIT_STEP_TYPES}"
    )
  check_non_negative("init_step value", init_step_value)
  check_non_negative("eps", eps)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    if init_step_type == "distance":
      r_epsilon = init_step_value
    elif init_step_type == "heuristic":
      r_epsilon = init_step_value * (1 + fo.tree.norm(params))
    else:
      r_epsilon = 0.0
    return DoGState(
        is_init_step=jnp.asarray(True),
        init_params=jax.tree.map(jnp.copy, params),  # own buffers: donatable with params
        max_dist=jnp.asarray(r_epsilon, dtype=params_dtype),
        sum_sq_norm_grads=jnp.asarray(0.0, dtype=params_dtype),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    dist = fo.tree.norm(fo.tree.sub(state.init_params, params))
    max_dist = jnp.maximum(state.max_dist, dist)
    sum_sq_norm_grads = state.sum_sq_norm_grads + fo.tree.norm(updates, squared=True)
    learning_rate = max_dist / jnp.sqrt(sum_sq_norm_grads + eps)
    if init_step_type == "learning_rate":
      learning_rate = jnp.where(state.is_init_step, init_step_value, learning_rate)
    return fo.tree.scale(learning_rate, updates), DoGState(
        is_init_step=jnp.asarray(False),
        init_params=state.init_params,
        max_dist=max_dist,
        sum_sq_norm_grads=sum_sq_norm_grads,
    )

  return _base.GradientTransformation(init_fn, update_fn)


def _decay_or_identity(weight_decay, mask):
  if weight_decay is None:
    return fo.identity()
  return fo.add_decayed_weights(weight_decay, mask)


def dog(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    init_step: tuple[
        Literal["distance", "learning_rate", "heuristic"], jax.typing.ArrayLike
    ] = ("heuristic", 1e-6),
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
):
  r"""The Distance over Gradients (DoG) optimizer.

  With :math:`\bar r_t = \max_{k \le t} \|x_k - x_0\|` and
  :math:`G_t = \sum_{k \le t} \|g_k\|^2`, the step is
  :math:`x_{t+1} = x_t - \eta_t g_t` with :math:`\eta_t = \bar r_t / \sqrt{G_t + \epsilon}`
  (times `learning_rate`). The initial distance :math:`r_0` comes from `init_step`:
  `("distance", r)` sets it to `r`; `("learning_rate", eta)` makes the first step
  size `eta`; `("heuristic", alpha)` sets it to `alpha * (1 + ||x_0||)` (the paper
  suggests `alpha = 1e-6`, or 1e-4 with batch normalization). It must be small
  enough for the first step not to diverge. `update` needs the current parameters;
  with the heuristic, `init` needs the actual initial parameters. The authors
  recommend averaging the iterates.

  Args:
    learning_rate: a factor (or schedule) on the step size.
    init_step: the pair `(tag, value)` described above.
    eps: added to the sum of squared gradient norms, for numerical stability.
    weight_decay: L2 weight decay added to the gradients; None for none.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Ivgi et al., 2023, "DoG is SGD's Best Friend: A Parameter-Free Dynamic Step Size
    Schedule", https://arxiv.org/abs/2302.12022

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.dog()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(5):
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{f(params):.5f}")
    13.99979
  """
  return fo.chain(
      _decay_or_identity(weight_decay, mask),
      scale_by_dog(init_step, eps),
      fo.scale_by_learning_rate(learning_rate),
  )


class DoWGState(NamedTuple):
  """State of `scale_by_dowg`."""

  init_params: _base.ArrayTree  # like params: the initial parameters x_0
  weighted_sq_norm_grads: jax.Array  # shape=(), lowest dtype of params: sum r_t^2 ||g_t||^2
  estim_sq_dist: jax.Array  # shape=(), lowest dtype of params: largest ||x_t - x_0||^2


def scale_by_dowg(
    init_estim_sq_dist: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-4,
) -> _base.GradientTransformation:
  """Scales updates by Distance over Weighted Gradients, `r_t^2 / (sqrt(v_t) + eps)`.

  `r_t^2` is the largest squared distance from the initial parameters so far and
  `v_t = sum_k r_k^2 ||g_k||^2`. See `dowg` for the optimizer. `update` needs the
  current parameters.

  Args:
    init_estim_sq_dist: initial guess of the squared distance to the solution;
      None uses `eps`.
    eps: added to the denominator of the step size, and the initial squared
      distance when `init_estim_sq_dist` is None.

  References:
    Khaled et al., 2023, "DoWG Unleashed: An Efficient Universal Parameter-Free
    Gradient Descent Method", https://arxiv.org/abs/2305.16284

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.contrib._dog import scale_by_dowg
    >>> tx = scale_by_dowg(init_estim_sq_dist=1.0, eps=0.0)
    >>> params = jnp.array([3.0, 4.0])
    >>> tx.update(params, tx.init(params), params)[0]
    Array([0.6, 0.8], dtype=float32)
  """
  if init_estim_sq_dist is not None:
    check_non_negative("init_estim_sq_dist", init_estim_sq_dist)
  check_non_negative("eps", eps)

  def init_fn(params):
    # Scalars in the lowest dtype of the params, so that updates keep the params' dtype.
    params_dtype = fo.tree.dtype(params, "lowest")
    init_sq_dist = eps if init_estim_sq_dist is None else init_estim_sq_dist
    return DoWGState(
        init_params=jax.tree.map(jnp.copy, params),  # own buffers: donatable with params
        estim_sq_dist=jnp.asarray(init_sq_dist, dtype=params_dtype),
        weighted_sq_norm_grads=jnp.asarray(0.0, dtype=params_dtype),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    curr_sq_dist = fo.tree.norm(fo.tree.sub(state.init_params, params), squared=True)
    estim_sq_dist = jnp.maximum(state.estim_sq_dist, curr_sq_dist)
    step_sq_norm_grads = fo.tree.norm(updates, squared=True)
    weighted_sq_norm_grads = estim_sq_dist * step_sq_norm_grads + state.weighted_sq_norm_grads
    learning_rate = estim_sq_dist / (jnp.sqrt(weighted_sq_norm_grads) + eps)
    return fo.tree.scale(learning_rate, updates), state._replace(
        estim_sq_dist=estim_sq_dist, weighted_sq_norm_grads=weighted_sq_norm_grads
    )

  return _base.GradientTransformation(init_fn, update_fn)


def dowg(
    learning_rate: _base.ScalarOrSchedule = 1.0,
    init_estim_sq_dist: Optional[jax.typing.ArrayLike] = None,
    eps: jax.typing.ArrayLike = 1e-4,
    weight_decay: Optional[jax.typing.ArrayLike] = None,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
):
  r"""The Distance over Weighted Gradients (DoWG) optimizer.

  A parameter-free step size :math:`\eta_t = \bar r_t^2 / (\sqrt{v_t} + \epsilon)`,
  with :math:`\bar r_t^2` the largest squared distance from the initial parameters
  so far and :math:`v_t = \sum_{k \le t} \bar r_k^2 \|g_k\|^2`, times `learning_rate`.
  `update` needs the current parameters.

  Args:
    learning_rate: a factor (or schedule) on the step size.
    init_estim_sq_dist: initial guess of the squared distance to the solution;
      None uses `eps`.
    eps: added to the denominator of the step size, and the initial squared
      distance when `init_estim_sq_dist` is None.
    weight_decay: L2 weight decay added to the gradients; None for none.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Khaled et al., 2023, "DoWG Unleashed: An Efficient Universal Parameter-Free
    Gradient Descent Method", https://arxiv.org/abs/2305.16284

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.dowg()
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(5):
    ...   updates, state = tx.update(jax.grad(f)(params), state, params)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(params):.4f}")
    13.9254
    13.8728
    13.7754
    13.5962
    13.2688
  """
  return fo.chain(
      _decay_or_identity(weight_decay, mask),
      scale_by_dowg(init_estim_sq_dist, eps),
      fo.scale_by_learning_rate(learning_rate),
  )
