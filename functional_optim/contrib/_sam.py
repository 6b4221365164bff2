"""SAM (Sharpness-Aware Minimization): adversarial steps, then an outer step from the cache.

SAM wraps an adversarial optimizer (typically `chain(normalize(), sgd(rho))`,
which ascends the loss) and an outer optimizer. Every `sync_period` steps, the
outer optimizer's update, computed with the gradient at the adversarial point,
is applied to the parameters cached before the adversarial steps:

    params = cache + rho * normalize(grad)          # adversarial step(s)
    params = cache + outer_update(grad); cache = params   # outer step
"""

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base

__all__ = ["NormalizeState", "SAMState", "normalize", "sam"]

NormalizeState = _base.EmptyState


def normalize() -> _base.GradientTransformation:
  """Divides the updates by their global L2 norm; each leaf keeps its dtype.

  Returns:
    A stateless `GradientTransformation` (state `NormalizeState`).

  References:
    Foret et al., 2021, "Sharpness-Aware Minimization for Efficiently Improving
    Generalization", https://arxiv.org/abs/2010.01412

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.normalize()
    >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]
    {'a': Array([0.6], dtype=float32), 'b': Array([0.8], dtype=float32)}
  """
  def init_fn(params):
    del params
    return NormalizeState()

  def update_fn(updates, state, params=None):
    del params
    g_norm = fo.tree.norm(updates)
    # Each leaf keeps its dtype (the norm of a mixed-dtype tree has the highest one).
    return jax.tree.map(lambda g: (g / g_norm).astype(g.dtype), updates), state

  return fo.GradientTransformation(init_fn, update_fn)


class SAMState(NamedTuple):
  """State of `sam`."""

  steps_since_sync: jax.Array  # shape=(), int32: adversarial steps since the last outer step
  opt_state: _base.OptState  # state of the outer optimizer
  adv_state: _base.OptState  # state of the adversarial optimizer
  cache: Optional[_base.Params]  # like params (None in opaque mode): params at the last sync


def sam(
    optimizer: _base.GradientTransformation,
    adv_optimizer: _base.GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: Optional[str] = None,
) -> _base.GradientTransformationExtraArgs:
  """SAM: `sync_period - 1` adversarial steps, then one outer step from the cached params.

  In the default (transparent) mode each call to `update` is one step: the
  adversarial optimizer's updates are negated (it ascends) and applied; every
  `sync_period`-th call instead returns the update that takes the parameters
  back to the cache plus the outer optimizer's update. With `opaque_mode=True`,
  each call runs the adversarial steps internally, calling
  `update(..., grad_fn=grad_fn)` with `grad_fn(params, i)` returning the gradient
  at adversarial step `i`, and returns only the outer update (needed when the
  model has side effects per step, e.g. batch-norm statistics).

  Args:
    optimizer: the outer optimizer.
    adv_optimizer: the adversarial optimizer.
    sync_period: steps per outer step (>= 1); 2 is the paper's SAM.
    reset_state: whether to reset the adversarial optimizer's state after each
      outer step.
    opaque_mode: whether to run the adversarial steps inside `update`.
    batch_axis_name: in opaque mode, the axis over which to `pmean` the
      adversarial gradients (when running under `pmap`); None for no averaging.

  Returns:
    A `GradientTransformationExtraArgs`; `update` needs the params.

  References:
    Foret et al., 2021, "Sharpness-Aware Minimization for Efficiently Improving
    Generalization", https://arxiv.org/abs/2010.01412

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> adv = fo.chain(fo.contrib.normalize(), fo.sgd(0.1))
    >>> tx = fo.contrib.sam(fo.sgd(0.5), adv, sync_period=2)
    >>> params = jnp.array([3.0, 4.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(params, state, params)  # adversarial: +0.1 g/|g|
    >>> params = fo.apply_updates(params, updates)
    >>> params
    Array([3.06, 4.08], dtype=float32)
    >>> updates, state = tx.update(params, state, params)  # outer: cache - 0.5 g
    >>> fo.apply_updates(params, updates)
    Array([1.47, 1.96], dtype=float32)
  """
  if sync_period < 1:
    raise ValueError(f"Synchronization period must be >= 1, got sync_period={sync_period!r}.")

  def init_fn(params):
    return SAMState(
        steps_since_sync=jnp.zeros(shape=(), dtype=jnp.int32),
        opt_state=optimizer.init(params),
        adv_state=adv_optimizer.init(params),
        cache=None if opaque_mode else params,
    )

  def pick_one(cond, if_true, if_false):
    # A select, not optax's blend `cond * a + (1 - cond) * b`: a non-finite value in
    # the branch not taken (e.g. normalizing a zero gradient) must not leak through.
    return jax.tree.map(lambda t, f: jnp.where(cond, t, f), if_true, if_false)

  def transparent_update_fn(updates, state, params=None, *, grad_fn=None, **extra_args):
    del grad_fn, extra_args
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    first_step = state.steps_since_sync == 0
    last_step = state.steps_since_sync == sync_period - 1

    adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
    adv_updates = jax.tree.map(lambda x: -x, adv_updates)

    opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
    opt_updates = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)

    cache = pick_one(first_step, params, state.cache)
    updates = pick_one(last_step, opt_updates, adv_updates)
    if reset_state:
      adv_state = pick_one(last_step, adv_optimizer.init(params), adv_state)
    else:
      adv_state = pick_one(last_step, state.adv_state, adv_state)
    opt_state = pick_one(last_step, opt_state, state.opt_state)
    return updates, SAMState(
        steps_since_sync=(state.steps_since_sync + 1) % sync_period,
        opt_state=opt_state,
        adv_state=adv_state,
        cache=cache,
    )

  def opaque_update_fn(updates, state, params=None, *, grad_fn=None, **extra_args):
    del extra_args
    if grad_fn is None:
      raise ValueError("grad_fn must be provided when opaque_mode=True.")
    if params is None:
      raise ValueError(_base.NO_PARAMS_MSG)
    adv_params = params
    adv_updates = updates
    adv_state = state.adv_state
    for i in range(sync_period - 1):
      adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
      adv_updates = jax.tree.map(lambda x: -x, adv_updates)
      adv_params = fo.apply_updates(adv_params, adv_updates)
      adv_updates = grad_fn(adv_params, i)
      if batch_axis_name is not None:
        adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
    if reset_state:
      adv_state = adv_optimizer.init(params)
    updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
    return updates, SAMState(
        steps_since_sync=jnp.zeros(shape=(), dtype=jnp.int32),
        opt_state=opt_state,
        adv_state=adv_state,
        cache=None,
    )

  update_fn = opaque_update_fn if opaque_mode else transparent_update_fn
  return fo.GradientTransformationExtraArgs(init_fn, update_fn)
