"""Second-order utilities (Hessian-vector product, Hessian and Fisher diagonals).

Optax 0.2.7 deprecated them (to be removed in 0.2.9) and they warn on every call, as optax's do.
Ported from `optax.second_order` (Apache-2.0), same names, arguments and numbers.
"""

import abc
import functools
from typing import Any, Protocol
import warnings

import jax
from jax import flatten_util
import jax.numpy as jnp


def _ravel(p: Any) -> jax.Array:
  return flatten_util.ravel_pytree(p)[0]


def _deprecated(fun):
  """Warns (DeprecationWarning) at each call, with optax's message."""
  message = (
      f"The function {fun.__name__} is deprecated. This function will be/was removed in optax "
      "0.2.9."
  )

  @functools.wraps(fun)
  def new_fun(*args, **kwargs):
    warnings.warn(message, category=DeprecationWarning, stacklevel=2)
    return fun(*args, **kwargs)

  return new_fun


class LossFn(Protocol):
  """A loss function to be optimized: `loss(params, inputs, targets) -> scalar`."""

  @abc.abstractmethod
  def __call__(self, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    ...


def _hvp(loss, v, params, inputs, targets):
  _, unravel_fn = flatten_util.ravel_pytree(params)
  loss_fn = lambda p: loss(p, inputs, targets)
  return jax.jvp(jax.grad(loss_fn), [params], [unravel_fn(v)])[1]


@_deprecated
def hvp(
    loss: LossFn,
    v: jax.Array,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """Performs an efficient vector-Hessian (of `loss`) product (forward over reverse mode).

  .. deprecated: 0.2.7. This function will be removed in optax 0.2.9.

  Args:
    loss: the loss function.
    v: a vector of size `ravel(params)`.
    params: model parameters.
    inputs: inputs at which `loss` is evaluated.
    targets: targets at which `loss` is evaluated.

  Returns:
    The product of `v` and the Hessian of `loss` evaluated at `(params, inputs, targets)`, with
    the structure of `params`.

  Example:
    >>> import warnings
    >>> import jax.numpy as jnp
    >>> from functional_optim import second_order
    >>> loss = lambda p, x, y: jnp.sum((x * p["w"] - y) ** 2)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   hv = second_order.hvp(loss, jnp.ones(2), {"w": jnp.zeros(2)}, jnp.array([1.0, 2.0]), 0.0)
    >>> hv["w"].tolist()
    [2.0, 8.0]

  References:
    Pearlmutter, `Fast Exact Multiplication by the Hessian
    <https://doi.org/10.1162/neco.1994.6.1.147>`_, 1994; `optax.second_order.hvp`.
  """
  return _hvp(loss, v, params, inputs, targets)


@_deprecated
def hessian_diag(
    loss: LossFn,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """Computes the diagonal Hessian of `loss` at (`inputs`, `targets`), one HVP per parameter.

  .. deprecated: 0.2.7. This function will be removed in optax 0.2.9.

  Args:
    loss: the loss function.
    params: model parameters.
    inputs: inputs at which `loss` is evaluated.
    targets: targets at which `loss` is evaluated.

  Returns:
    A flat array: the diagonal of the Hessian of `loss` evaluated at `(params, inputs, targets)`.

  Example:
    >>> import warnings
    >>> import jax.numpy as jnp
    >>> from functional_optim import second_order
    >>> loss = lambda p, x, y: jnp.sum((x * p["w"] - y) ** 2)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   diag = second_order.hessian_diag(loss, {"w": jnp.zeros(2)}, jnp.array([1.0, 2.0]), 0.0)
    >>> diag.tolist()
    [2.0, 8.0]

  References:
    `optax.second_order.hessian_diag`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  vs = jnp.eye(_ravel(params).size)
  comp = lambda v: jnp.vdot(v, _ravel(_hvp(loss, v, params, inputs, targets)))
  return jax.vmap(comp)(vs)


@_deprecated
def fisher_diag(
    negative_log_likelihood: LossFn,
    params: Any,
    inputs: jax.Array,
    targets: jax.Array,
) -> jax.Array:
  """Computes the diagonal of the (observed) Fisher information matrix: the squared gradient.

  .. deprecated: 0.2.7. This function will be removed in optax 0.2.9.

  Args:
    negative_log_likelihood: the negative log likelihood function with expected signature
      `loss = fn(params, inputs, targets)`.
    params: model parameters.
    inputs: inputs at which `negative_log_likelihood` is evaluated.
    targets: targets at which `negative_log_likelihood` is evaluated.

  Returns:
    A flat array: the squared gradient of `negative_log_likelihood` at
    `(params, inputs, targets)`.

  Example:
    >>> import warnings
    >>> import jax.numpy as jnp
    >>> from functional_optim import second_order
    >>> nll = lambda p, x, y: jnp.sum((x * p["w"] - y) ** 2)
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   diag = second_order.fisher_diag(nll, {"w": jnp.ones(2)}, jnp.array([1.0, 2.0]), 0.0)
    >>> diag.tolist()
    [4.0, 64.0]

  References:
    Martens, `New insights and perspectives on the natural gradient method
    <https://arxiv.org/abs/1412.1193>`_, 2020; `optax.second_order.fisher_diag`.
  """
  return jnp.square(_ravel(jax.grad(negative_log_likelihood)(params, inputs, targets)))
