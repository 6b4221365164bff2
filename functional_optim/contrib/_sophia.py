"""Sophia: momentum divided by a clipped, periodically refreshed diagonal Hessian estimate."""

from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_in_range
from functional_optim._checks import check_non_negative
from functional_optim._checks import check_positive

__all__ = [
    "HutchinsonState",
    "SophiaState",
    "hutchinson_estimator_diag_hessian",
    "scale_by_sophia",
    "sophia",
]


class HutchinsonState(NamedTuple):
  """State of `hutchinson_estimator_diag_hessian`."""

  key: jax.Array  # a PRNG key (shape=(2,), uint32 for a raw key): split at every update


def hutchinson_estimator_diag_hessian(random_seed: Optional[jax.Array] = None):
  """Estimates the Hessian diagonal by Hutchinson's method: `r * (H r)`, `r` Rademacher.

  The estimate is unbiased but noisy. `update` ignores the incoming updates and
  needs the params and `obj_fn`, a function of the params returning the scalar
  loss.

  Args:
    random_seed: PRNG key of the random vectors; None uses `jax.random.PRNGKey(0)`.

  Returns:
    A `GradientTransformationExtraArgs` returning the estimated diagonal.

  References:
    Hutchinson, 1989, "A Stochastic Estimator of the Trace of the Influence Matrix
    for Laplacian Smoothing Splines", https://doi.org/10.1080/03610918908812806

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.hutchinson_estimator_diag_hessian()
    >>> params = jnp.array([1.0, 2.0])
    >>> obj_fn = lambda x: jnp.sum(jnp.array([3.0, 0.5]) * x**2)  # diagonal Hessian
    >>> tx.update(None, tx.init(params), params, obj_fn=obj_fn)[0]
    Array([6., 1.], dtype=float32)
  """
  def init_fn(params):
    del params
    key = random_seed if random_seed is not None else jax.random.PRNGKey(0)
    return HutchinsonState(key=key)

  def update_fn(updates, state, params=None, obj_fn=None, **extra_args):
    del updates, extra_args
    if params is None:
      raise ValueError("params must be provided to hutchinson update function.")
    if obj_fn is None:
      raise ValueError("obj_fn must be provided to hutchinson update function.")
    key, subkey = jax.random.split(state.key)
    random_signs = fo.tree.random_like(subkey, params, jax.random.rademacher, dtype=jnp.float32)
    random_signs = fo.tree.cast(random_signs, fo.tree.dtype(params, "lowest"))
    hvp = jax.jvp(jax.grad(obj_fn), (params,), (random_signs,))[1]
    product = jax.tree.map(lambda h, r: h * r, hvp, random_signs)
    return product, HutchinsonState(key=key)

  return fo.GradientTransformationExtraArgs(init_fn, update_fn)


class SophiaState(NamedTuple):
  """State of `scale_by_sophia`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: _base.Updates  # like params (dtype mu_dtype if given): momentum
  nu: _base.Updates  # like params: EMA of the Hessian diagonal estimates
  hessian_fn_state: Any  # state of hessian_diagonal_fn


def scale_by_sophia(
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: Union[
        _base.GradientTransformation,
        _base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> _base.GradientTransformationExtraArgs:
  """Rescales updates to `clip(m_hat / max(gamma * h, eps), clip_threshold)` (Sophia).

  `m_hat` is the bias-corrected momentum and `h` the EMA (decay `b2`) of the
  Hessian diagonal estimates, refreshed every `update_interval` steps (after the
  update is computed, so the first update divides by `eps`). Keyword arguments
  of `update` beyond the params go to `hessian_diagonal_fn` (`obj_fn=` for the
  default estimator).

  Args:
    b1: decay rate of the momentum.
    b2: decay rate of the Hessian diagonal EMA (effectively
      `1 - (1 - b2) / update_interval` per step).
    eps: lower bound of the denominator.
    gamma: scale of the Hessian diagonal in the denominator.
    clip_threshold: bound of the elementwise update; None for no clipping.
    update_interval: steps between Hessian diagonal estimates.
    hessian_diagonal_fn: transformation returning a Hessian diagonal estimate
      (Hutchinson's by default: Sophia-H). Average it across devices yourself.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    verbose: whether to print the win rate (fraction of unclipped elements).
    print_win_rate_every_n_steps: period of the win-rate print.

  Returns:
    A `GradientTransformationExtraArgs` with a `SophiaState`.

  References:
    Liu et al., 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for
    Language Model Pre-training", https://arxiv.org/abs/2305.14342

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> from functional_optim.contrib._sophia import scale_by_sophia
    >>> tx = scale_by_sophia(clip_threshold=None)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(params, tx.init(params), params, obj_fn=lambda x: x @ x)
    >>> [f"{u:.2E}" for u in updates.tolist()]  # h = 0 on the first step: m_hat / eps
    ['1.00E+08', '-2.00E+08']
  """
  check_in_range("b1", b1, 0.0, 1.0)
  check_in_range("b2", b2, 0.0, 1.0, high_inclusive=True)
  check_non_negative("eps", eps)
  check_non_negative("gamma", gamma)
  if clip_threshold is not None:
    check_positive("clip_threshold", clip_threshold)
  check_positive("update_interval", update_interval)
  mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)
  hessian_diagonal_fn = fo.with_extra_args_support(hessian_diagonal_fn)

  def init_fn(params):
    return SophiaState(
        count=jnp.zeros([], jnp.int32),
        mu=fo.tree.zeros_like(params, dtype=mu_dtype),
        nu=fo.tree.zeros_like(params),
        hessian_fn_state=hessian_diagonal_fn.init(params),
    )

  def update_fn(updates, state, params=None, **hess_fn_kwargs):
    if params is None:
      raise ValueError("params must be provided to sophia's update function.")
    count_inc = fo.safe_int32_increment(state.count)
    grads = updates
    mu = fo.tree.update_moment(updates, state.mu, b1, 1)
    mu_hat = fo.tree.bias_correction(mu, b1, count_inc)
    updates = jax.tree.map(lambda m, h: m / jnp.maximum(gamma * h, eps), mu_hat, state.nu)
    if clip_threshold is not None:
      if verbose:
        not_clipped = jax.tree.map(lambda u: jnp.sum(jnp.abs(u) < clip_threshold), updates)
        win_rate = jax.tree.reduce(lambda x, y: x + y, not_clipped) / fo.tree.size(updates)
        jax.lax.cond(
            count_inc % print_win_rate_every_n_steps == 0,
            lambda: jax.debug.print("Sophia optimizer win rate: {}", win_rate),
            lambda: None,
        )
      updates = jax.tree.map(lambda u: jnp.clip(u, -clip_threshold, clip_threshold), updates)

    def update_hessian_diag(hess_fn_state, nu):
      hessian_diag, hess_fn_state = hessian_diagonal_fn.update(
          grads, hess_fn_state, params=params, **hess_fn_kwargs
      )
      return hess_fn_state, fo.tree.update_moment(hessian_diag, nu, b2, 1)

    hessian_fn_state, nu = jax.lax.cond(
        jnp.equal(state.count % update_interval, 0),
        update_hessian_diag,
        lambda h, n: (h, n),
        state.hessian_fn_state,
        state.nu,
    )
    return updates, SophiaState(
        count=count_inc,
        mu=fo.tree.cast(mu, mu_dtype),
        nu=nu,
        hessian_fn_state=hessian_fn_state,
    )

  return fo.GradientTransformationExtraArgs(init_fn, update_fn)


def sophia(
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.965,
    b2: jax.typing.ArrayLike = 0.99,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 1e-4,
    weight_decay_mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
    gamma: jax.typing.ArrayLike = 0.01,
    clip_threshold: Optional[jax.typing.ArrayLike] = 1.0,
    update_interval: jax.typing.ArrayLike = 10,
    hessian_diagonal_fn: Union[
        _base.GradientTransformation,
        _base.GradientTransformationExtraArgs,
    ] = hutchinson_estimator_diag_hessian(),
    mu_dtype: Optional[Any] = None,
    verbose: bool = False,
    print_win_rate_every_n_steps: jax.typing.ArrayLike = 0,
) -> _base.GradientTransformationExtraArgs:
  """The Sophia optimizer: `scale_by_sophia`, decoupled weight decay, then the learning rate.

  `update` passes its extra keyword arguments to `hessian_diagonal_fn`; the
  default (Hutchinson's estimator, with Rademacher rather than the paper's
  Gaussian vectors) needs `obj_fn`, a function of the params alone returning
  the scalar loss, e.g. `obj_fn = lambda p: loss_fn(p, batch)`:
  `tx.update(grads, state, params, obj_fn=obj_fn)`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the momentum.
    b2: decay rate of the Hessian diagonal EMA (effectively
      `1 - (1 - b2) / update_interval` per step).
    eps: lower bound of the denominator.
    weight_decay: decoupled weight decay rate.
    weight_decay_mask: a tree of booleans (or a function of the params returning
      one) selecting the leaves to decay; None decays all.
    gamma: scale of the Hessian diagonal in the denominator.
    clip_threshold: bound of the elementwise update; None for no clipping.
    update_interval: steps between Hessian diagonal estimates.
    hessian_diagonal_fn: transformation returning a Hessian diagonal estimate.
      Average it across devices yourself when running on several.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    verbose: whether to print the win rate (fraction of unclipped elements).
    print_win_rate_every_n_steps: period of the win-rate print (the authors
      suggest a win rate between 0.1 and 0.5; raise `gamma` if it is lower).

  Returns:
    A `GradientTransformationExtraArgs`.

  References:
    Liu et al., 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for
    Language Model Pre-training", https://arxiv.org/abs/2305.14342

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(x**2)
    >>> tx = fo.contrib.sophia(learning_rate=0.1, weight_decay=0.0)
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> state = tx.init(params)
    >>> for _ in range(3):  # updates clipped to the learning rate
    ...   updates, state = tx.update(jax.grad(f)(params), state, params, obj_fn=f)
    ...   params = fo.apply_updates(params, updates)
    >>> [round(p, 4) for p in params.tolist()]
    [0.7, 1.7, 2.7]
  """
  return fo.chain(
      scale_by_sophia(
          b1=b1,
          b2=b2,
          eps=eps,
          gamma=gamma,
          clip_threshold=clip_threshold,
          update_interval=update_interval,
          hessian_diagonal_fn=hessian_diagonal_fn,
          mu_dtype=mu_dtype,
          verbose=verbose,
          print_win_rate_every_n_steps=print_win_rate_every_n_steps,
      ),
      fo.add_decayed_weights(weight_decay, mask=weight_decay_mask),
      fo.scale_by_learning_rate(learning_rate),
  )
