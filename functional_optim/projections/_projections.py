"""Euclidean projections onto convex sets, for projected gradient methods.

Each function maps a tree to the closest tree (in the Euclidean norm over all leaves together)
inside a set: an orthant, a box, a simplex, an l1/l2/l-inf ball or sphere, a hyperplane or a
halfspace. Ported from `optax.projections` (Apache-2.0), same names, arguments and numbers.
"""

from typing import Any

import jax
from jax import flatten_util
import jax.numpy as jnp

import functional_optim as fo


def projection_non_negative(tree: Any) -> Any:
  r"""Projection onto the non-negative orthant: `argmin_p ||x - p||^2` subject to `p >= 0`.

  Args:
    tree: tree to project.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_non_negative({"w": jnp.array([-1.0, 2.0])})["w"].tolist()
    [0.0, 2.0]

  References:
    `optax.projections.projection_non_negative`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  return jax.tree.map(jax.nn.relu, tree)


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
  r"""Projection onto box constraints: `argmin_p ||x - p||^2` subject to `lower <= p <= upper`.

  A scalar (single-leaf) bound applies to every leaf of ``tree``. (Optax 0.2.8 documents this
  but raises when ``tree`` has several leaves; here it works.)

  Args:
    tree: tree to project.
    lower: lower bound, a scalar or tree with the same structure as ``tree``.
    upper: upper bound, a scalar or tree with the same structure as ``tree``.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_box(jnp.array([-3.0, 0.5, 3.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    >>> projections.projection_box({"a": jnp.array([3.0]), "b": jnp.array([-3.0])}, 0.0, 1.0)
    {'a': Array([1.], dtype=float32), 'b': Array([0.], dtype=float32)}

  References:
    `optax.projections.projection_box`, https://optax.readthedocs.io/en/latest/api/projections.html
  """
  return jax.tree.map(jnp.clip, tree, _like(lower, tree), _like(upper, tree))


def _like(bound: Any, tree: Any) -> Any:
  """A single-leaf bound repeated for every leaf of `tree`; a tree bound unchanged."""
  if jax.tree_util.treedef_is_leaf(jax.tree.structure(bound)):
    return jax.tree.map(lambda _: bound, tree)
  return bound


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
  r"""Projection onto the hypercube `0 <= p <= scale` (the unit hypercube by default).

  A convenience wrapper around `projection_box`.

  Args:
    tree: tree to project.
    scale: scale of the hypercube, a scalar or a tree (default: 1).

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_hypercube(jnp.array([-3.0, 0.5, 3.0]), scale=2.0).tolist()
    [0.0, 0.5, 2.0]

  References:
    `optax.projections.projection_hypercube`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  return projection_box(tree, lower=0, upper=scale)


@jax.custom_jvp
def _projection_unit_simplex(values: jax.typing.ArrayLike) -> jax.Array:
  """Projection of a vector onto the unit simplex (sort-based, Held et al. 1974)."""
  s = 1
  n_features = values.shape[0]
  u = jnp.sort(values)[::-1]
  cumsum_u = jnp.cumsum(u)
  ind = jnp.arange(n_features) + 1
  cond = s / ind + (u - cumsum_u / ind) > 0
  idx = jnp.count_nonzero(cond)
  return jax.nn.relu(s / idx + (values - cumsum_u[idx - 1] / idx))


@_projection_unit_simplex.defjvp
def _projection_unit_simplex_jvp(primals, tangents):
  # The projection is piecewise linear: on the support it subtracts the mean of the tangent.
  (values,) = primals
  (values_dot,) = tangents
  primal_out = _projection_unit_simplex(values)
  supp = primal_out > 0
  card = jnp.count_nonzero(supp)
  tangent_out = supp * values_dot - (jnp.dot(supp, values_dot) / card) * supp
  return primal_out, tangent_out


def projection_simplex(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto a simplex: `argmin_p ||x - p||^2` subject to `p >= 0, sum(p) = scale`.

  By default, the projection is onto the probability simplex (unit simplex). All leaves are
  projected together, as one vector.

  Args:
    tree: tree to project.
    scale: value the projected tree should sum to (default: 1).

  Returns:
    projected tree, a tree with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import tree, projections
    >>> data = {"w": jnp.array([2.5, 3.2]), "b": 0.5}
    >>> new_data = projections.projection_simplex(data)
    >>> print(f"{tree.sum(data):.2f} -> {tree.sum(new_data):.4f}")
    6.20 -> 1.0000

  References:
    Blondel et al., `Large-scale Multiclass Support Vector Machine Training via Euclidean
    Projection onto the Simplex <https://ieeexplore.ieee.org/document/6977004>`_, 2014;
    `optax.projections.projection_simplex`.
  """
  values, unravel_fn = flatten_util.ravel_pytree(tree)
  new_values = scale * _projection_unit_simplex(values / scale)
  return unravel_fn(new_values)


def projection_l1_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l1 sphere: `argmin_y ||x - y||^2` subject to `||y||_1 = scale`.

  Args:
    tree: tree to project.
    scale: radius of the sphere.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import tree, projections
    >>> y = projections.projection_l1_sphere({"w": jnp.array([0.1, -0.2])}, scale=2.0)
    >>> print(f"{tree.norm(y, ord=1):.4f}")
    2.0000

  References:
    `optax.projections.projection_l1_sphere`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  tree_abs = jax.tree.map(jnp.abs, tree)
  tree_sign = jax.tree.map(jnp.sign, tree)
  tree_abs_proj = projection_simplex(tree_abs, scale)
  return fo.tree.mul(tree_sign, tree_abs_proj)


def projection_l1_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l1 ball: `argmin_y ||x - y||^2` subject to `||y||_1 <= scale`.

  Args:
    tree: tree to project.
    scale: radius of the ball.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import tree, projections
    >>> data = {"w": jnp.array([2.5, 3.2]), "b": 0.5}
    >>> new_data = projections.projection_l1_ball(data)
    >>> print(f"{tree.norm(data, ord=1):.2f} -> {tree.norm(new_data, ord=1):.4f}")
    6.20 -> 1.0000

  References:
    Duchi et al., `Efficient Projections onto the l1-Ball for Learning in High Dimensions
    <https://dl.acm.org/doi/10.1145/1390156.1390191>`_, 2008;
    `optax.projections.projection_l1_ball`.
  """
  l1_norm = fo.tree.norm(tree, ord=1)
  return jax.lax.cond(
      l1_norm <= scale,
      lambda tree: tree,
      lambda tree: projection_l1_sphere(tree, scale),
      operand=tree,
  )


def projection_l2_sphere(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l2 sphere: `argmin_y ||x - y||^2` subject to `||y||_2 = scale`.

  Args:
    tree: tree to project.
    scale: radius of the sphere.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_l2_sphere(jnp.array([3.0, 4.0]), scale=10.0).tolist()
    [6.0, 8.0]

  References:
    `optax.projections.projection_l2_sphere`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  factor = scale / fo.tree.norm(tree)
  return fo.tree.scale(factor, tree)


def projection_l2_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l2 ball: `argmin_y ||x - y||^2` subject to `||y||_2 <= scale`.

  Args:
    tree: tree to project.
    scale: radius of the ball.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_l2_ball(jnp.array([3.0, 4.0]), scale=1.0).tolist()
    [0.6000000238418579, 0.800000011920929]
    >>> projections.projection_l2_ball(jnp.array([0.3, 0.4]), scale=1.0).tolist()
    [0.30000001192092896, 0.4000000059604645]

  References:
    `optax.projections.projection_l2_ball`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  squared_norm = fo.tree.norm(tree, squared=True)
  factor = scale / jnp.sqrt(jnp.maximum(squared_norm, scale**2))
  return fo.tree.scale(factor, tree)


def projection_linf_ball(tree: Any, scale: jax.typing.ArrayLike = 1) -> Any:
  r"""Projection onto the l-infinity ball: `argmin_y ||x - y||^2` s.t. `max |y| <= scale`.

  Args:
    tree: tree to project.
    scale: radius of the ball.

  Returns:
    projected tree, with the same structure as ``tree``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_linf_ball(jnp.array([-3.0, 0.5, 3.0]), scale=2.0).tolist()
    [-2.0, 0.5, 2.0]

  References:
    `optax.projections.projection_linf_ball`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  lower = fo.tree.full_like(tree, -scale)
  upper = fo.tree.full_like(tree, scale)
  return projection_box(tree, lower=lower, upper=upper)


def projection_vector(x: Any, a: Any) -> Any:
  r"""Projection of a tree ``x`` onto the line spanned by a tree ``a``: `<x, a> / <a, a> * a`.

  Args:
    x: tree to project.
    a: tree onto which to project. Must have the same structure as ``x``.

  Returns:
    tree with the same structure as ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_vector(jnp.array([1.0, 2.0]), jnp.array([0.0, 3.0])).tolist()
    [0.0, 2.0]

  References:
    `optax.projections.projection_vector`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  scalar = fo.tree.vdot(x, a) / fo.tree.vdot(a, a)
  return fo.tree.scale(scalar, a)


def projection_hyperplane(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  r"""Projection onto the hyperplane `<a, y> = b`: `argmin_y ||x - y||^2` s.t. `<a, y> = b`.

  Args:
    x: tree to project.
    a: tree defining hyperplane onto which to project. Must have the same structure as ``x``.
    b: scalar defining hyperplane onto which to project.

  Returns:
    tree with the same structure as ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> projections.projection_hyperplane(jnp.array([1.0, 2.0]), jnp.array([0.0, 1.0]), 5.0).tolist()
    [1.0, 5.0]

  References:
    `optax.projections.projection_hyperplane`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  scalar = (b - fo.tree.vdot(x, a)) / fo.tree.vdot(a, a)
  return fo.tree.add_scale(x, scalar, a)


def projection_halfspace(x: Any, a: Any, b: jax.typing.ArrayLike) -> Any:
  r"""Projection onto the halfspace `<a, y> <= b`: `argmin_y ||x - y||^2` s.t. `<a, y> <= b`.

  Args:
    x: tree to project.
    a: tree defining halfspace onto which to project. Must have the same structure as ``x``.
    b: scalar defining halfspace onto which to project.

  Returns:
    tree with the same structure as ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim import projections
    >>> a = jnp.array([0.0, 1.0])
    >>> projections.projection_halfspace(jnp.array([1.0, 7.0]), a, 5.0).tolist()
    [1.0, 5.0]
    >>> projections.projection_halfspace(jnp.array([1.0, 2.0]), a, 5.0).tolist()
    [1.0, 2.0]

  References:
    `optax.projections.projection_halfspace`,
    https://optax.readthedocs.io/en/latest/api/projections.html
  """
  scalar = (b - fo.tree.vdot(x, a)) / fo.tree.vdot(a, a)
  scalar = jnp.clip(scalar, max=0)
  return fo.tree.add_scale(x, scalar, a)
