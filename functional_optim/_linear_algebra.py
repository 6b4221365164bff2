"""Linear algebra on pytrees and matrices (optax's `_src/linear_algebra.py`)."""

import functools
from collections.abc import Callable
from typing import Any, Optional, Union

import jax
import jax.numpy as jnp
from jax import lax

from . import tree as tree_lib


def global_norm(updates: Any) -> jax.Array:
  """Global L2 norm of a tree of updates (the same as `tree.norm(updates)`).

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> fo.global_norm([jnp.array([3.0]), jnp.array([4.0])])
    Array(5., dtype=float32)

  References:
    `optax.global_norm`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  return tree_lib.norm(updates)


def _normalize_tree(x):
  return tree_lib.scale(1.0 / tree_lib.norm(x), x)


def _power_iteration_cond_fun(error_tolerance, num_iters, loop_vars):
  normalized_eigvec, unnormalized_eigvec, eig, iter_num = loop_vars
  residual = tree_lib.sub(unnormalized_eigvec, tree_lib.scale(eig, normalized_eigvec))
  converged = jnp.abs(tree_lib.norm(residual) / eig) < error_tolerance
  return ~converged & (iter_num < num_iters)


def power_iteration(
    matrix: Union[jax.typing.ArrayLike, Callable[[Any], Any]],
    *,
    v0: Optional[Any] = None,
    num_iters: jax.typing.ArrayLike = 100,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: Optional[jax.Array] = None,
) -> tuple[jax.typing.ArrayLike, Any]:
  """The dominant eigenvalue of a diagonalisable matrix and its eigenvector.

  Args:
    matrix: a square matrix, or a function computing a matrix-vector product (on
      any pytree).
    v0: the starting vector (a tree like the function's input when `matrix` is a
      function, where it is required); by default uniform in [-1, 1].
    num_iters: the most iterations.
    error_tolerance: stop when the relative residual of the eigenvalue is below it.
    precision: the precision of the matrix products.
    key: the PRNG key drawing `v0` when it is not given (`jax.random.PRNGKey(0)`
      by default).

  Returns:
    `(eigenvalue, eigenvector)`, the eigenvector of unit norm.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> eigenvalue, eigenvector = fo.power_iteration(jnp.diag(jnp.array([1.0, 3.0])))
    >>> round(float(eigenvalue), 4), [round(abs(v), 4) for v in eigenvector.tolist()]
    (3.0, [0.0, 1.0])

  References:
    Wikipedia, "Power iteration", https://en.wikipedia.org/wiki/Power_iteration;
    `optax.power_iteration`, https://optax.readthedocs.io/en/latest/api/utilities.html
  """
  if callable(matrix):
    mvp = matrix
    if v0 is None:
      raise ValueError("v0 must be provided when `matrix` is a callable.")
  else:
    mvp = lambda v: jnp.matmul(matrix, v, precision=precision)
    if v0 is None:
      key = jax.random.PRNGKey(0) if key is None else key
      v0 = jax.random.uniform(
          key, shape=matrix.shape[-1:], dtype=matrix.dtype, minval=-1.0, maxval=1.0
      )

  v0 = _normalize_tree(v0)
  cond_fun = functools.partial(_power_iteration_cond_fun, error_tolerance, num_iters)

  def body_fun(loop_vars):
    _, z, _, iter_num = loop_vars
    eigvec = _normalize_tree(z)
    z = mvp(eigvec)
    return eigvec, z, tree_lib.vdot(eigvec, z), iter_num + 1

  init_vars = (v0, mvp(v0), jnp.asarray(0.0), jnp.asarray(0))
  _, unnormalized_eigvec, eigenvalue, _ = lax.while_loop(cond_fun, body_fun, init_vars)
  return eigenvalue, _normalize_tree(unnormalized_eigvec)


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: jax.typing.ArrayLike,
    num_iters: jax.typing.ArrayLike = 100,
    ridge_epsilon: jax.typing.ArrayLike = 1e-6,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
):
  """`matrix ** (-1/p)` of a symmetric PSD matrix, by coupled Newton iterations.

  Args:
    matrix: the symmetric positive semi-definite matrix.
    p: the root, 1, 2, 4 or 8.
    num_iters: the most iterations.
    ridge_epsilon: added (times the largest eigenvalue) to the diagonal, making the
      matrix positive definite.
    error_tolerance: stop when `max |M - I|` is below it.
    precision: the precision of the matrix products.

  Returns:
    `(matrix ** (-1/p), error)`.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> root, _ = fo.matrix_inverse_pth_root(jnp.diag(jnp.array([4.0, 16.0])), 2)
    >>> [round(v, 3) for v in jnp.diag(root).tolist()]
    [0.5, 0.25]

  References:
    Higham, 2008, "Functions of Matrices: Theory and Computation", p. 184, eq. 7.18,
    https://epubs.siam.org/doi/book/10.1137/1.9780898717778
  """
  matrix_size = matrix.shape[0]
  alpha = jnp.asarray(-1.0 / p, jnp.float32)
  identity = jnp.eye(matrix_size, dtype=jnp.float32)
  max_ev, _ = power_iteration(matrix=matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
  ridge_epsilon = ridge_epsilon * jnp.maximum(max_ev, 1e-16)

  def square(m):
    return jnp.matmul(m, m, precision=precision)

  def mat_power(m, p):
    # m ** p for p in (1, 2, 4, 8), unrolled.
    powers = [lambda m: m, square, lambda m: square(square(m)), lambda m: square(square(square(m)))]
    return lax.switch(jnp.asarray(jnp.round(jnp.log2(p)), jnp.int32), powers, m)

  def iter_condition(state):
    i, _, _, _, error, run_step = state
    return jnp.logical_and(i < num_iters, jnp.logical_and(error > error_tolerance, run_step))

  def iter_body(state):
    i, mat_m, mat_h, _, error, _ = state
    mat_m_i = (1 - alpha) * identity + alpha * mat_m
    new_mat_m = jnp.matmul(mat_power(mat_m_i, p), mat_m, precision=precision)
    new_mat_h = jnp.matmul(mat_h, mat_m_i, precision=precision)
    new_error = jnp.max(jnp.abs(new_mat_m - identity))
    # The error may grow for an iteration before converging: allow 20% growth.
    return i + 1, new_mat_m, new_mat_h, mat_h, new_error, new_error < error * 1.2

  if matrix_size == 1:
    return (matrix + ridge_epsilon) ** alpha, 0
  damped_matrix = matrix + ridge_epsilon * identity
  z = (1 + p) / (2 * jnp.linalg.norm(damped_matrix))
  new_mat_m_0 = damped_matrix * z
  new_error = jnp.max(jnp.abs(new_mat_m_0 - identity))
  new_mat_h_0 = identity * jnp.power(z, 1.0 / p)
  init_state = (0, new_mat_m_0, new_mat_h_0, new_mat_h_0, new_error, True)
  _, mat_m, mat_h, old_mat_h, _, convergence = lax.while_loop(iter_condition, iter_body, init_state)
  error = jnp.max(jnp.abs(mat_m - identity))
  is_converged = jnp.asarray(convergence, old_mat_h.dtype)
  resultant_mat_h = is_converged * mat_h + (1 - is_converged) * old_mat_h
  return jnp.asarray(resultant_mat_h, matrix.dtype), error


def _spectral_radius_upper_bound(matrix):
  frobenius = jnp.linalg.matrix_norm(matrix, ord="fro")
  one_norm = jnp.linalg.matrix_norm(matrix, ord=1) if matrix.size != 0 else 0
  return jnp.minimum(frobenius, one_norm)


def nnls(
    A: jax.Array,  # noqa: N803 (optax's name)
    b: jax.Array,
    iters: int,
    unroll: Union[int, bool] = 1,
    L: Union[jax.typing.ArrayLike, None] = None,  # noqa: N803 (optax's name)
) -> jax.Array:
  """Non-negative least squares: `argmin |A x - b|_2` subject to `x >= 0`.

  Runs `iters` steps of Polyak's fast projected gradient method.

  Args:
    A: the `(M, N)` matrix.
    b: the `(M,)` vector or `(M, K)` matrix.
    iters: the number of iterations.
    unroll: passed to `lax.scan`.
    L: an upper bound on the spectral radius of `A.T @ A` (computed if None).

  Returns:
    The `(N,)` (or `(N, K)`) solution.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> x = fo.nnls(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([5.0, 6.0]), 1000)
    >>> [round(v, 2) for v in x.tolist()]
    [0.0, 1.7]

  References:
    Polyak, 2015, "Projected gradient method for non-negative least square",
    http://www.ams.org/books/conm/636/
  """
  assert A.ndim == 2
  assert b.ndim in (1, 2)
  assert b.shape[0] == A.shape[0]
  Q = A.mT @ A  # noqa: N806
  q = A.mT @ b
  if L is None:
    L = _spectral_radius_upper_bound(Q)  # noqa: N806
  L = jnp.where(L == 0, 1, L)  # noqa: N806  (no division by zero below)

  def step(x_p_c, _):
    x, p, c = x_p_c
    cn = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
    s = (c - 1) / cn
    xn = (p - (Q @ p - q) / L).clip(0)
    return (xn, xn + s * (xn - x), cn), None

  x = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
  (x, _, _), _ = lax.scan(step, (x, x, 0.0), length=iters, unroll=unroll)
  return x
