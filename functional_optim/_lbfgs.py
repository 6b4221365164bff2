"""L-BFGS: a limited-memory quasi-Newton preconditioner and its optimizer alias."""

from typing import NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from . import tree as tree_lib
from ._base import GradientTransformation
from ._base import GradientTransformationExtraArgs
from ._base import Params
from ._base import ScalarOrSchedule
from ._base import Updates
from ._base import identity
from ._checks import check_positive_int
from .transforms._combining import chain
from ._linesearch import scale_by_zoom_linesearch
from ._numerics import safe_increment
from ._scaling import scale
from ._scaling import scale_by_learning_rate

__all__ = ["ScaleByLBFGSState", "lbfgs", "scale_by_lbfgs"]


class ScaleByLBFGSState(NamedTuple):
  """State of `scale_by_lbfgs`.

  The memories hold `memory_size` past differences, stacked along a new leading
  axis of every leaf and used as a ring buffer indexed by `count % memory_size`.
  """

  count: jax.Array  # shape=(), int32: number of updates so far
  params: Params  # like params: the parameters at the last update
  updates: Updates  # like params: the (unpreconditioned) updates at the last update
  diff_params_memory: Params  # like params with a leading (memory_size,) axis: w_{k+1} - w_k
  diff_updates_memory: Updates  # like params with a leading (memory_size,) axis: u_{k+1} - u_k
  weights_memory: jax.Array  # shape=(memory_size,), float32: rho_k = 1 / <du_k, dw_k>


def _precondition_by_lbfgs(
    updates: Updates,
    diff_params_memory: Params,
    diff_updates_memory: Updates,
    weights_memory: jax.Array,
    identity_scale: jax.typing.ArrayLike,
    memory_idx: jax.typing.ArrayLike,
) -> Updates:
  """Multiplies `updates` by the L-BFGS inverse-Hessian approximation.

  The two-loop recursion of Nocedal & Wright, Algorithm 7.4: a backward sweep over
  the memory (newest first), a scaling by `identity_scale`, a forward sweep.
  """
  memory_size = weights_memory.shape[0]
  # Oldest to newest: the ring buffer starts at the slot about to be overwritten.
  indices = (memory_idx + jnp.arange(memory_size)) % memory_size

  def memory_at(idx):
    return jax.tree.map(lambda x: x[idx], (diff_params_memory, diff_updates_memory))

  def backward(vec, idx):
    dw, du = memory_at(idx)
    alpha = weights_memory[idx] * tree_lib.real(tree_lib.vdot(dw, vec))
    new_vec = tree_lib.cast_like(tree_lib.add_scale(vec, -alpha, du), vec)
    return new_vec, alpha

  def forward(vec, idx_and_alpha):
    idx, alpha = idx_and_alpha
    dw, du = memory_at(idx)
    beta = weights_memory[idx] * tree_lib.real(tree_lib.vdot(du, vec))
    new_vec = tree_lib.cast_like(tree_lib.add_scale(vec, alpha - beta, dw), vec)
    return new_vec, beta

  vec, alphas = jax.lax.scan(backward, updates, indices, reverse=True)
  vec = tree_lib.scale(identity_scale, vec)
  vec, _ = jax.lax.scan(forward, vec, (indices, alphas))
  return vec


def scale_by_lbfgs(
    memory_size: int = 10,
    scale_init_precond: bool = True,
) -> GradientTransformation:
  r"""Preconditions updates by the L-BFGS approximation of the inverse Hessian.

  With `w_k` the parameters and `u_k` the updates (gradients) at step `k`, the
  approximation `P_k` is built from the last `memory_size` pairs of differences
  `dw_j = w_{j+1} - w_j`, `du_j = u_{j+1} - u_j` by the recursion
  `P_{k,j+1} = V_j^T P_{k,j} V_j + rho_j dw_j dw_j^T`, with
  `V_j = I - rho_j du_j dw_j^T`, `rho_j = 1 / <du_j, dw_j>`, starting from
  `P_{k,k-m} = gamma_k I`. With `scale_init_precond`,
  `gamma_k = <dw_{k-1}, du_{k-1}> / <du_{k-1}, du_{k-1}>` (and, at the very first
  step, `min(1, 1 / ||u_0||)`, so the first step stays in the unit ball);
  otherwise `gamma_k = 1`.

  The memory is updated before preconditioning, so when chained with a line
  search it only ever holds accepted steps. The output is the direction
  `P_k u_k`; negate and scale it (or chain a line search) to descend.

  Args:
    memory_size: number of past parameter/update differences kept.
    scale_init_precond: scale the initial identity preconditioner by `gamma_k`.

  References:
    Nocedal & Wright, Numerical Optimization, Algorithms 7.4 and 7.5, 1999,
    https://www.math.uci.edu/~qnie/Publications/NumericalOptimization.pdf

    Liu & Nocedal, On the limited memory BFGS method for large scale
    optimization, 1989,
    https://users.iems.northwestern.edu/~nocedal/PDFfiles/limited-memory.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.scale_by_lbfgs(memory_size=5)
    >>> params = jnp.array([3.0, 4.0])
    >>> updates, state = tx.update(params, tx.init(params), params)
    >>> updates
    Array([0.6, 0.8], dtype=float32)
  """
  check_positive_int("memory_size", memory_size)

  def init_fn(params):
    # A new tree per field: a state whose fields share buffers cannot be donated.
    stacked_zeros = lambda: jax.tree.map(
        lambda leaf: jnp.zeros((memory_size,) + leaf.shape, dtype=leaf.dtype), params
    )
    return ScaleByLBFGSState(
        count=jnp.asarray(0, dtype=jnp.int32),
        params=tree_lib.zeros_like(params),
        updates=tree_lib.zeros_like(params),
        diff_params_memory=stacked_zeros(),
        diff_updates_memory=stacked_zeros(),
        weights_memory=jnp.zeros(memory_size),
    )

  def update_fn(updates, state, params):
    memory_idx = state.count % memory_size
    prev_memory_idx = (state.count - 1) % memory_size

    # 1. Store the newest differences; they are undefined (kept at 0) at step 0.
    diff_params = tree_lib.sub(params, state.params)
    diff_updates = tree_lib.sub(updates, state.updates)
    curvature = tree_lib.real(tree_lib.vdot(diff_updates, diff_params))
    weight = jnp.where(curvature == 0.0, 0.0, 1.0 / curvature)
    diff_params, diff_updates, weight = jax.tree.map(
        lambda x: jnp.where(state.count > 0, x, jnp.zeros_like(x)),
        (diff_params, diff_updates, weight),
    )
    diff_params_memory, diff_updates_memory, weights_memory = jax.tree.map(
        lambda memory, x: memory.at[prev_memory_idx].set(x),
        (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
        (diff_params, diff_updates, weight),
    )

    # 2. Scale of the initial (identity) preconditioner.
    if scale_init_precond:
      numerator = tree_lib.real(tree_lib.vdot(diff_updates, diff_params))
      denominator = tree_lib.norm(diff_updates, squared=True)
      identity_scale = jnp.where(denominator > 0.0, numerator / denominator, 1.0)
      capped_inv_norm = jnp.minimum(1.0, 1.0 / tree_lib.norm(jax.lax.stop_gradient(updates)))
      identity_scale = jnp.where(state.count > 0, identity_scale, capped_inv_norm)
    else:
      identity_scale = 1.0

    # 3. The preconditioned direction P_k u_k.
    precond_updates = _precondition_by_lbfgs(
        updates,
        diff_params_memory,
        diff_updates_memory,
        weights_memory,
        identity_scale,
        memory_idx,
    )
    return precond_updates, ScaleByLBFGSState(
        count=safe_increment(state.count),
        params=params,
        updates=updates,
        diff_params_memory=diff_params_memory,
        diff_updates_memory=diff_updates_memory,
        weights_memory=weights_memory,
    )

  return GradientTransformation(init_fn, update_fn)


def lbfgs(
    learning_rate: Optional[ScalarOrSchedule] = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Optional[
        Union[GradientTransformationExtraArgs, GradientTransformation]
    ] = scale_by_zoom_linesearch(max_linesearch_steps=20, initial_guess_strategy="one"),
) -> GradientTransformationExtraArgs:
  r"""The L-BFGS optimizer: `scale_by_lbfgs`, a descent sign, then a line search.

  `update` takes the extra keyword arguments of the line search: `value` and
  `grad` (the objective's value and gradient at `params`) and `value_fn` (the
  objective), plus any arguments of `value_fn`. Use `value_and_grad_from_state`
  to reuse the value and gradient the line search already computed. For complex
  parameters, pass the conjugate of `jax.grad` as both the updates and `grad`.

  Args:
    learning_rate: a scalar or schedule multiplying the direction; None (the
      default) leaves the step size entirely to the line search.
    memory_size: number of past differences kept to approximate the inverse
      Hessian.
    scale_init_precond: scale the initial identity preconditioner, see
      `scale_by_lbfgs`.
    linesearch: a line search such as `scale_by_zoom_linesearch`, or None for
      none.

  References:
    Nocedal & Wright, Numerical Optimization, Algorithms 7.4 and 7.5, 1999,
    https://www.math.uci.edu/~qnie/Publications/NumericalOptimization.pdf

    Liu & Nocedal, On the limited memory BFGS method for large scale
    optimization, 1989,
    https://users.iems.northwestern.edu/~nocedal/PDFfiles/limited-memory.pdf

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> def f(x): return jnp.sum(x ** 2)
    >>> solver = fo.lbfgs()
    >>> params = jnp.array([1., 2., 3.])
    >>> state = solver.init(params)
    >>> value_and_grad = fo.value_and_grad_from_state(f)
    >>> for _ in range(2):
    ...   value, grad = value_and_grad(params, state=state)
    ...   updates, state = solver.update(
    ...       grad, state, params, value=value, grad=grad, value_fn=f)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f"{f(params):.2f}")
    7.52
    0.00
  """
  base_scaling = scale(-1.0) if learning_rate is None else scale_by_learning_rate(learning_rate)
  return chain(
      scale_by_lbfgs(memory_size=memory_size, scale_init_precond=scale_init_precond),
      base_scaling,
      identity() if linesearch is None else linesearch,
  )
