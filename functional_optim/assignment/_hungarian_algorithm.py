"""The Hungarian algorithm for the linear assignment problem (Scenic's version)."""

import jax
from jax import lax
import jax.numpy as jnp


def _masked_argmin(array: jax.Array, mask: jax.Array) -> jax.Array:
  return jnp.argmin(jnp.where(mask, array, jnp.inf))


def _empty_assignment() -> tuple[jax.Array, jax.Array]:
  return jnp.zeros(0, int), jnp.zeros(0, int)


def hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  r"""Solves the linear assignment problem: a minimum-cost matching of rows to columns.

  Given an :math:`n \times m` cost matrix :math:`C`, finds :math:`\min(n, m)` pairs
  `(row, column)`, no row and no column used twice, minimizing the sum of their
  costs: the integer linear program

  .. math::

    \min_X \sum_{ij} C_{ij} X_{ij} \quad \text{s.t.} \quad X_{ij} \in \{0, 1\},\;
    \sum_i X_{ij} \le 1,\; \sum_j X_{ij} \le 1,\; \sum_{ij} X_{ij} = \min(n, m).

  Equivalently, a maximum-cardinality matching of minimum weight in a complete
  bipartite graph. This is the Hungarian algorithm (cubic time) with potentials,
  one shortest augmenting path per row, as implemented in Scenic; it traces to a
  simpler jaxpr and runs faster than `base_hungarian_algorithm`. It works under
  `jax.jit` and `jax.vmap`.

  Args:
    cost_matrix: an `(n, m)` matrix of costs.

  Returns:
    `(i, j)`: integer arrays of length `min(n, m)` of row and column indices; the
    cost of the assignment is `cost_matrix[i, j].sum()`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
    >>> i, j = fo.assignment.hungarian_algorithm(cost)
    >>> print("cost:", cost[i, j].sum())
    cost: 15
    >>> cost = jnp.array([
    ...     [90, 80, 75, 70],
    ...     [35, 85, 55, 65],
    ...     [125, 95, 90, 95],
    ...     [45, 110, 95, 115],
    ...     [50, 100, 90, 100],
    ... ])
    >>> i, j = fo.assignment.hungarian_algorithm(cost)
    >>> print("cost:", cost[i, j].sum())
    cost: 265

  References:
    Kuhn, 1955, "The Hungarian method for the assignment problem",
    https://doi.org/10.1002/nav.3800020109;
    Dehghani et al., 2022, "Scenic: A JAX Library for Computer Vision Research and
    Beyond", https://arxiv.org/abs/2110.11403
  """
  if cost_matrix.shape[0] == 0 or cost_matrix.shape[1] == 0:
    return _empty_assignment()

  transpose = cost_matrix.shape[0] > cost_matrix.shape[1]
  if transpose:  # the loop below runs over the shorter side
    cost_matrix = cost_matrix.T
  rows, cols = cost_matrix.shape
  # Rows and columns are 1-based below; index 0 is a virtual column/row.

  def row_fn(state, row):
    u, v, parent = state
    parent = parent.at[0].set(row + 1)

    def dfs_cond_fn(state):
      *_, col = state
      return parent[col] != 0  # stop at a free column

    def dfs_body_fn(state):
      u, v, used, minv, path, col = state
      used = used.at[col].set(True)
      unused = ~used[1:]
      row = parent[col]
      # Reduced costs from `row`: relax the distances to the unused columns.
      cur = jnp.where(unused, cost_matrix[row - 1, :] - u[row] - v[1:], jnp.inf)
      path = jnp.where(cur < minv, col, path)
      minv = jnp.where(cur < minv, cur, minv)
      # Move to the closest unused column and shift the potentials by its distance.
      col = _masked_argmin(minv, unused) + 1
      delta = minv.min(where=unused, initial=jnp.inf)
      indices = jnp.where(used, parent, rows + 1)  # rows + 1: a scratch entry of u
      u = u.at[indices].add(delta)
      v = jnp.where(used, v - delta, v)
      minv = jnp.where(unused, minv - delta, minv)
      return u, v, used, minv, path, col

    path = jnp.zeros(cols, int)
    used = jnp.zeros(cols + 1, bool)
    minv = jnp.full(cols, jnp.inf)  # distance to each column
    u, v, _, _, path, col = lax.while_loop(
        dfs_cond_fn, dfs_body_fn, (u, v, used, minv, path, 0)
    )

    def back_body_fn(state):  # flip the augmenting path back to the virtual column
      parent, old_col = state
      new_col = path[old_col - 1]
      return parent.at[old_col].set(parent[new_col]), new_col

    parent, _ = lax.while_loop(lambda state: state[1] != 0, back_body_fn, (parent, col))
    return (u, v, parent), None

  u = jnp.zeros(rows + 2)  # row potentials (and a scratch entry)
  v = jnp.zeros(cols + 1)  # column potentials; -v[0] is the matching cost
  parent = jnp.zeros(cols + 1, int)  # the row matched to each column, 0 if none
  (u, v, parent), _ = lax.scan(row_fn, (u, v, parent), jnp.arange(rows))

  if rows == cols:  # every column is matched: skip the costly top_k
    parent, indices = parent[1:], jnp.arange(rows)
  else:  # the matched columns are those with a parent row (> 0)
    parent, indices = lax.top_k(parent[1:], rows)
  parent -= 1  # back to 0-based rows

  if transpose:
    return indices, parent
  return parent, indices
