"""Differential privacy: DP-SGD's per-example clipping and Gaussian noise."""

from typing import NamedTuple, Optional
import warnings

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base
from functional_optim._checks import check_non_negative

__all__ = ["DifferentiallyPrivateAggregateState", "differentially_private_aggregate", "dpsgd"]


class DifferentiallyPrivateAggregateState(NamedTuple):
  """State of `differentially_private_aggregate`: the random key for the noise."""

  rng_key: jax.Array  # shape=(), a typed PRNG key: split once per update


def _canonical_key(key_or_seed) -> jax.Array:
  if isinstance(key_or_seed, jax.Array) and jnp.issubdtype(key_or_seed.dtype, jax.dtypes.prng_key):
    return key_or_seed
  return jax.random.key(key_or_seed)


def differentially_private_aggregate(
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,  # deprecated
) -> _base.GradientTransformation:
  """Aggregates per-example gradients as DP-SGD: clip each, sum, add Gaussian noise, average.

  Each example's gradient is clipped to global L2 norm `l2_norm_clip`, the clipped
  gradients are summed, noise of standard deviation `l2_norm_clip * noise_multiplier`
  is added, and the result is divided by the batch size.

  Unlike other transformations, the input updates must have a batch axis first:
  per-example gradients, e.g. from `jax.vmap(jax.grad(loss))`. It composes with
  others when it comes first in a `chain`. Generic gradient aggregation (`MultiSteps`,
  `apply_every`) would defeat its purpose and does not work with it.

  Args:
    l2_norm_clip: the largest L2 norm of one example's gradient.
    noise_multiplier: the ratio of the noise's standard deviation to the clipping norm.
    key: a PRNG key (or an int seed) for the noise; None uses `jax.random.key(0)`
      with a warning.
    seed: deprecated; use `key`.

  References:
    Abadi et al., 2016, "Deep Learning with Differential Privacy",
    https://arxiv.org/abs/1607.00133

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.differentially_private_aggregate(1.0, 0.0, key=0)
    >>> per_example = jnp.array([[3.0, 4.0], [0.5, 0.0]])
    >>> tx.update(per_example, tx.init(jnp.zeros(2)))[0]
    Array([0.55, 0.4 ], dtype=float32)
  """
  check_non_negative("l2_norm_clip", l2_norm_clip)
  check_non_negative("noise_multiplier", noise_multiplier)
  if seed is not None:
    warnings.warn('"seed" is deprecated and will be removed, use "key".', DeprecationWarning)
    if key is not None:
      raise ValueError("Only one of seed or key can be specified.")
    key = jax.random.key(seed)
  if key is None:
    warnings.warn("Specifying a key will be required in a future version.")
    key = jax.random.key(0)
  key = _canonical_key(key)
  noise_std = l2_norm_clip * noise_multiplier

  def init_fn(params):
    del params
    return DifferentiallyPrivateAggregateState(rng_key=key)

  def update_fn(updates, state, params=None):
    del params
    grads_flat, grads_treedef = jax.tree.flatten(updates)
    bsize = grads_flat[0].shape[0]
    clipped, _ = fo.per_example_global_norm_clip(grads_flat, l2_norm_clip)
    new_key, *rngs = jax.random.split(state.rng_key, len(grads_flat) + 1)
    noised = [
        (g + noise_std * jax.random.normal(r, g.shape, g.dtype)) / bsize
        for g, r in zip(clipped, rngs)
    ]
    return (
        jax.tree.unflatten(grads_treedef, noised),
        DifferentiallyPrivateAggregateState(rng_key=new_key),
    )

  return _base.GradientTransformation(init_fn, update_fn)


def dpsgd(
    learning_rate: _base.ScalarOrSchedule,
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    seed: int,
    momentum: Optional[jax.typing.ArrayLike] = None,
    nesterov: bool = False,
) -> _base.GradientTransformation:
  """The DP-SGD optimizer: `differentially_private_aggregate`, optional momentum, learning rate.

  Differentially private SGD protects the training data against an adversary who
  knows the training mechanism and sees the parameters. The input updates must be
  per-example gradients, with the batch axis first (e.g. from `jax.vmap`); generic
  gradient aggregation (`MultiSteps`, `apply_every`) does not work with it.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    l2_norm_clip: the largest L2 norm of one example's gradient.
    noise_multiplier: the ratio of the noise's standard deviation to the clipping norm.
    seed: the seed of the noise's PRNG key.
    momentum: the decay of the momentum (`trace`); None for no momentum.
    nesterov: whether the momentum is Nesterov's.

  References:
    Abadi et al., 2016, "Deep Learning with Differential Privacy",
    https://arxiv.org/abs/1607.00133

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.dpsgd(learning_rate=0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
    >>> per_example = jnp.array([[3.0, 4.0], [0.5, 0.0]])
    >>> tx.update(per_example, tx.init(jnp.zeros(2)))[0]
    Array([-0.055, -0.04 ], dtype=float32)
  """
  # optax passes `seed=` on, which warns of its own deprecation; `key=seed` is the
  # same key without the warning.
  return fo.chain(
      differentially_private_aggregate(
          l2_norm_clip=l2_norm_clip, noise_multiplier=noise_multiplier, key=seed
      ),
      fo.trace(decay=momentum, nesterov=nesterov) if momentum is not None else fo.identity(),
      fo.scale_by_learning_rate(learning_rate),
  )
