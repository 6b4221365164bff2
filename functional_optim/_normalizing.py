"""Normalizing updates: gradient centralization, unit-norm updates, gradient scaling."""

import numbers

import jax

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import PyTree
from ._base import init_empty_state
from ._checks import check_non_negative

__all__ = ["centralize", "normalize_by_update_norm", "scale_gradient"]


def _subtract_mean(g):
  if g.ndim > 1:
    return g - g.mean(tuple(range(1, g.ndim)), keepdims=True)
  return g


def centralize() -> GradientTransformation:
  """Subtracts from each update of rank > 1 its mean over all but the leading axis.

  Updates of rank 0 and 1 are left as they are.

  References:
    Yong et al., 2020, "Gradient Centralization: A New Optimization Technique for Deep Neural
    Networks", https://arxiv.org/abs/2004.01461

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.centralize()
    >>> tx.update(jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]]), tx.init(None))[0]
    Array([[-1.,  0.,  1.],
           [-2., -1.,  3.]], dtype=float32)
  """

  def update_fn(updates, state, params=None):
    del params
    return jax.tree.map(_subtract_mean, updates), state

  return GradientTransformation(init_empty_state, update_fn)


def normalize_by_update_norm(
    scale_factor: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 1e-6
) -> GradientTransformation:
  """Divides the updates by their global L2 norm: `scale_factor * u / (||u|| + eps)`.

  Args:
    scale_factor: the norm of the resulting updates (up to `eps`); may be
      negative, e.g. -1 for normalized gradient descent.
    eps: added to the norm, avoiding a division by zero.

  References:
    Hazan et al., 2015 (normalized gradient descent), "Beyond Convexity: Stochastic Quasi-Convex
    Optimization", https://arxiv.org/abs/1507.02030

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.normalize_by_update_norm(scale_factor=-1.0, eps=0.0)
    >>> tx.update(jnp.array([3.0, 4.0]), tx.init(None))[0]
    Array([-0.6, -0.8], dtype=float32)
  """
  check_non_negative("eps", eps)

  def update_fn(updates, state, params=None):
    del params
    g_norm = (tree_lib.norm(updates) + eps) / scale_factor
    return jax.tree.map(lambda g: g / g_norm, updates), state

  return GradientTransformation(init_empty_state, update_fn)


@jax.custom_vjp
def _scale_gradient(inputs, scale):
  del scale  # used only by the backward pass
  return inputs


def _scale_gradient_fwd(inputs, scale):
  return inputs, scale


def _scale_gradient_bwd(scale, cotangents):
  return jax.tree.map(lambda g: g * scale, cotangents), None


_scale_gradient.defvjp(_scale_gradient_fwd, _scale_gradient_bwd)


def scale_gradient(inputs: PyTree, scale: jax.typing.ArrayLike) -> PyTree:
  """Returns `inputs` unchanged, but multiplies gradients flowing back through it by `scale`.

  A function on values (not a gradient transformation): use it inside a loss to
  scale, stop (`scale=0`) or reverse (`scale<0`) the gradient of a part of a model.

  Args:
    inputs: a tree of arrays.
    scale: the factor applied to the gradient in the backward pass; it may be an
      array, even a traced one.

  References:
    Ganin and Lempitsky, 2015 (gradient reversal), "Unsupervised Domain Adaptation by
    Backpropagation", https://arxiv.org/abs/1409.7495

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> jax.grad(lambda x: fo.scale_gradient(x, 0.5) ** 2)(3.0)
    Array(3., dtype=float32, weak_type=True)
  """
  # Shortcuts for plain numbers; an array scale, possibly traced, takes the general path.
  if isinstance(scale, numbers.Number) and scale == 1.0:
    return inputs
  if isinstance(scale, numbers.Number) and scale == 0.0:
    return jax.lax.stop_gradient(inputs)
  return _scale_gradient(inputs, scale)
