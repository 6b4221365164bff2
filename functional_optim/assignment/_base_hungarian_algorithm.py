"""The Hungarian algorithm for the linear assignment problem (Crouse's pseudocode).

Rows are matched one at a time. For each, a Dijkstra-like search over reduced
costs `C[i, j] - u[i] - v[j]` finds the shortest augmenting path to a free column;
the dual potentials `u`, `v` are then updated and the matching flipped along the
path. This follows pages 1685-1686 of Crouse (2016), as scipy's
`linear_sum_assignment` does.
"""

from typing import NamedTuple

import jax
from jax import lax
import jax.numpy as jnp


class _Search(NamedTuple):
  """Carry of the shortest augmenting path search from one row."""

  row: jax.Array  # shape=(), int: the row being scanned
  min_value: jax.Array  # shape=(), float: length of the shortest path so far
  num_remaining: jax.Array  # shape=(), int: columns not yet reached
  remaining: jax.Array  # shape=(m,), int: those columns first, in any order
  sr: jax.Array  # shape=(n,), bool: rows scanned
  sc: jax.Array  # shape=(m,), bool: columns reached
  shortest_path_costs: jax.Array  # shape=(m,), float: tentative distances
  path: jax.Array  # shape=(m,), int: the row preceding each column on its path
  sink: jax.Array  # shape=(), int: the free column reached, -1 while searching


def _scan_row(costs, u, v, row4col, search: _Search) -> _Search:
  """Relaxes the distances to the remaining columns from `search.row`; moves on to
  the closest column (or stops there if it is free)."""
  i = search.row
  sr = search.sr.at[i].set(True)

  def relax(it, carry):
    spc, path, lowest, index = carry
    j = search.remaining[it]
    r = search.min_value + costs[i, j] - u[i] - v[j]
    path = path.at[j].set(jnp.where(r < spc[j], i, path[j]))
    spc = spc.at[j].min(r)
    # The closest column; on ties, prefer a free one.
    closer = (spc[j] < lowest) | ((spc[j] == lowest) & (row4col[j] == -1))
    index = jnp.where(closer, it, index)
    return spc, path, jnp.minimum(lowest, spc[j]), index

  init = (search.shortest_path_costs, search.path, jnp.inf, -1)
  spc, path, lowest, index = lax.fori_loop(0, search.num_remaining, relax, init)

  j = search.remaining[index]
  free = row4col[j] == -1
  num_remaining = search.num_remaining - 1
  return _Search(
      row=jnp.where(free, i, row4col[j]),
      min_value=lowest,
      num_remaining=num_remaining,
      remaining=search.remaining.at[index].set(search.remaining[num_remaining]),
      sr=sr,
      sc=search.sc.at[j].set(True),
      shortest_path_costs=spc,
      path=path,
      sink=jnp.where(free, j, search.sink),
  )


def _augment_row(current_row, carry):
  """Matches `current_row`: one shortest augmenting path, then the dual update."""
  costs, u, v, path, row4col, col4row = carry
  n, m = costs.shape
  search = _Search(
      row=current_row,
      min_value=jnp.zeros((), costs.dtype),
      num_remaining=jnp.asarray(m),
      remaining=jnp.arange(m)[::-1],
      sr=jnp.zeros(n, bool),
      sc=jnp.zeros(m, bool),
      shortest_path_costs=jnp.full(m, jnp.inf, costs.dtype),
      path=path,
      sink=jnp.asarray(-1),
  )
  search = lax.while_loop(
      lambda s: s.sink == -1, lambda s: _scan_row(costs, u, v, row4col, s), search
  )
  min_value, spc = search.min_value, search.shortest_path_costs
  path = search.path

  u = u.at[current_row].add(min_value)
  others = search.sr & (jnp.arange(n) != current_row)
  u = jnp.where(others, u + min_value - spc[col4row], u)
  v = jnp.where(search.sc, v + spc - min_value, v)

  def flip(state):  # walk the path back from the sink, flipping the matching
    sink, row4col, col4row, _ = state
    i = path[sink]
    row4col = row4col.at[sink].set(i)
    col4row, sink = col4row.at[i].set(sink), col4row[i]
    return sink, row4col, col4row, i == current_row

  _, row4col, col4row, _ = lax.while_loop(
      lambda state: ~state[-1], flip, (search.sink, row4col, col4row, False)
  )
  return costs, u, v, path, row4col, col4row


def base_hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  r"""Solves the linear assignment problem, following Crouse's pseudocode.

  Given an :math:`n \times m` cost matrix :math:`C`, finds :math:`\min(n, m)` pairs
  `(row, column)`, no row and no column used twice, minimizing the sum of their
  costs: the integer linear program

  .. math::

    \min_X \sum_{ij} C_{ij} X_{ij} \quad \text{s.t.} \quad X_{ij} \in \{0, 1\},\;
    \sum_i X_{ij} \le 1,\; \sum_j X_{ij} \le 1,\; \sum_{ij} X_{ij} = \min(n, m).

  The Hungarian algorithm solves it in cubic time; this version follows the
  pseudocode on pages 1685-1686 of Crouse (2016). `hungarian_algorithm` gives an
  optimal assignment too, usually faster. Works under `jax.jit` and `jax.vmap`.

  Args:
    cost_matrix: an `(n, m)` matrix of costs.

  Returns:
    `(i, j)`: integer arrays of length `min(n, m)` of row and column indices, `i`
    increasing; the cost of the assignment is `cost_matrix[i, j].sum()`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]])
    >>> i, j = fo.assignment.base_hungarian_algorithm(cost)
    >>> print("cost:", cost[i, j].sum())
    cost: 15
    >>> print("i:", i)
    i: [0 1 3]
    >>> print("j:", j)
    j: [0 2 1]

  References:
    Crouse, 2016, "On implementing 2D rectangular assignment algorithms",
    https://ieeexplore.ieee.org/document/7738348
  """
  if cost_matrix.shape[0] == 0 or cost_matrix.shape[1] == 0:
    return jnp.zeros(0, int), jnp.zeros(0, int)

  transpose = cost_matrix.shape[1] < cost_matrix.shape[0]
  if transpose:  # rows are matched one by one: make them the shorter side
    cost_matrix = cost_matrix.T
  cost_matrix = cost_matrix.astype(float)
  n, m = cost_matrix.shape

  init = (
      cost_matrix,
      jnp.zeros(n, cost_matrix.dtype),  # u: row potentials
      jnp.zeros(m, cost_matrix.dtype),  # v: column potentials
      jnp.full(m, -1),  # path: the row preceding each column
      jnp.full(m, -1),  # row4col: the row matched to each column, -1 if none
      jnp.full(n, -1),  # col4row: the column matched to each row, -1 if none
  )
  *_, col4row = lax.fori_loop(0, n, _augment_row, init)

  if transpose:
    order = col4row.argsort()
    return col4row[order], order
  return jnp.arange(n), col4row
