"""Muon: momentum orthogonalized by Newton-Schulz, with AdamW for the non-matrix params.

The orthogonalization itself (dimension numbers, reshapes, Newton-Schulz steps)
lives in `_muon_newton_schulz`; its names are re-exported here, as optax has them
in one module.
"""

import functools
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base

# The private names optax's `_muon` module has (its tests reach some) are here too.
# ruff: noqa: F401
from ._muon_newton_schulz import _aol_first_newton_schulz_iteration
from ._muon_newton_schulz import _aol_ns_iterator
from ._muon_newton_schulz import _base_newton_schulz_iteration
from ._muon_newton_schulz import _base_ns_iterator
from ._muon_newton_schulz import _compute_muon_reshape
from ._muon_newton_schulz import _DEFAULT_NS_COEFFS
from ._muon_newton_schulz import _DION_NS_COEFFS
from ._muon_newton_schulz import _get_shape_products
from ._muon_newton_schulz import _is_weight_dim_nums
from ._muon_newton_schulz import _newton_schulz_iterator
from ._muon_newton_schulz import _normalize_axes
from ._muon_newton_schulz import _NS_COEFFS_PRESET_DICT
from ._muon_newton_schulz import _PRECONDITIONINGS
from ._muon_newton_schulz import _schatten_first_newton_schulz_iteration
from ._muon_newton_schulz import _schatten_ns_iterator
from ._muon_newton_schulz import MuonDimensionNumbers
from ._muon_newton_schulz import orthogonalize_via_newton_schulz
from ._muon_newton_schulz import ReshapeFn
from ._muon_newton_schulz import WeightDimNumOrFn

__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "muon",
    "orthogonalize_via_newton_schulz",
    "scale_by_muon",
    "scale_by_shape",
]

NsCoeffs = Union[
    tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike],
    tuple[tuple[jax.typing.ArrayLike, jax.typing.ArrayLike, jax.typing.ArrayLike], ...],
]


def _resolve(weight_dimension_numbers, updates):
  """The tree of dimension numbers for `updates`.

  A callable is given the updates (only their shapes matter, and params may be
  absent). None means every leaf is a plain matrix: optax passes None on as the
  tree, which only works when the updates are a single array.
  """
  if weight_dimension_numbers is None:
    return jax.tree.map(lambda _: MuonDimensionNumbers(), updates)
  if callable(weight_dimension_numbers):
    return weight_dimension_numbers(updates)
  return weight_dimension_numbers


def _scale_update_for_width_transfer(update: jax.Array, dim_nums: MuonDimensionNumbers):
  """Width scaling `sqrt(max(1, fan_out / fan_in))` of <https://github.com/KellerJordan/Muon>."""
  fan_in, fan_out = _get_shape_products(update, dim_nums)
  return jnp.sqrt(jnp.maximum(1, fan_out / fan_in)) * update


def _scale_update_for_consistent_rms(
    update: jax.Array, dim_nums: MuonDimensionNumbers, consistent_rms: jax.typing.ArrayLike
):
  """Consistent-RMS scaling `sqrt(max(fan_in, fan_out)) * consistent_rms` (arXiv:2502.16982)."""
  fan_in, fan_out = _get_shape_products(update, dim_nums)
  return jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms * update


def scale_by_shape(
    weight_dimension_numbers: Optional[WeightDimNumOrFn] = None,
    consistent_rms: Optional[jax.typing.ArrayLike] = None,
) -> _base.GradientTransformation:
  """Scales each matrix update by a factor of its shape (Muon's width scaling).

  Args:
    weight_dimension_numbers: a tree of `MuonDimensionNumbers` with the structure
      of the params, or a function of the params returning one.
    consistent_rms: None scales by `sqrt(max(1, fan_out / fan_in))`; a number by
      `sqrt(max(fan_in, fan_out)) * consistent_rms`.

  References:
    Liu et al., 2025, "Muon is Scalable for LLM Training",
    https://arxiv.org/abs/2502.16982

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.contrib import _muon
    >>> tx = _muon.scale_by_shape(_muon.MuonDimensionNumbers())
    >>> tx.update(jnp.ones((1, 4)), tx.init(None))[0]
    Array([[2., 2., 2., 2.]], dtype=float32)
  """
  if consistent_rms is not None:
    scaling_fn = functools.partial(_scale_update_for_consistent_rms, consistent_rms=consistent_rms)
  else:
    scaling_fn = _scale_update_for_width_transfer

  def update_fn(updates, state, params=None):
    del params
    dim_nums = _resolve(weight_dimension_numbers, updates)
    return jax.tree.map(scaling_fn, updates, dim_nums, is_leaf=_is_weight_dim_nums), state

  return _base.GradientTransformation(_base.init_empty_state, update_fn)


class MuonState(NamedTuple):
  """State of `scale_by_muon`."""

  count: jax.Array  # shape=(), int32: number of updates so far
  mu: _base.Updates  # like params (dtype mu_dtype if given): momentum, EMA of gradients
  ns_coeffs: jax.Array  # shape=(3,) or (ns_steps, 3), float32: Newton-Schulz coefficients


def scale_by_muon(
    ns_coeffs: NsCoeffs = _DEFAULT_NS_COEFFS,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    weight_dimension_numbers: Optional[WeightDimNumOrFn] = None,
) -> _base.GradientTransformation:
  r"""Rescales updates to the Newton-Schulz orthogonalization of their momentum.

  The momentum `mu` is an EMA (rate `beta`) of the gradients, bias corrected (with
  a Nesterov look-ahead if `nesterov`), then mapped to about `U V^H` where
  `U S V^H` is its SVD: steepest descent under the spectral norm, i.e. Shampoo
  without accumulation.

  Args:
    ns_coeffs: Newton-Schulz coefficients, `(3,)` or one triple per step.
    ns_steps: number of Newton-Schulz steps (with per-step coefficients, the
      last `ns_steps` rows are used).
    beta: decay rate of the momentum, in [0, 1).
    eps: added to the norm that rescales the momentum.
    mu_dtype: dtype of the momentum; None keeps the dtype of the params.
    nesterov: whether to use Nesterov momentum.
    adaptive: scale the result by the dual norm `<mu_hat, O>` of the momentum
      (arXiv:2409.20325).
    preconditioning: `"frobenius"`, `"spectral"`, `"aol"` or `"schatten"`, see
      `orthogonalize_via_newton_schulz`.
    weight_dimension_numbers: a tree of `MuonDimensionNumbers` (or a function of
      the params returning one) naming each leaf's matrix axes; None means every
      leaf is a 2-d matrix.

  References:
    Jordan, 2024, "modded-nanogpt: Speedrunning the NanoGPT baseline",
    https://github.com/KellerJordan/modded-nanogpt

    Bernstein and Newhouse, 2024, "Old Optimizer, New Norm: An Anthology",
    https://arxiv.org/abs/2409.20325

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_muon(ns_coeffs=(2.0, -1.5, 0.5), ns_steps=20)
    >>> g = jnp.array([[3.0, 0.0], [0.0, 1.0]])
    >>> jnp.round(tx.update(g, tx.init(g))[0], 3)
    Array([[1., 0.],
           [0., 1.]], dtype=float32)
  """
  if isinstance(beta, (int, float)) and not 0.0 <= beta < 1.0:
    raise ValueError(f"beta must be in [0, 1), got beta={beta!r}")
  if preconditioning not in _PRECONDITIONINGS:
    raise ValueError(
        f"preconditioning must be one of {_PRECONDITIONINGS}, got {preconditioning=}"
    )
  mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    coeffs = jnp.asarray(ns_coeffs)
    if coeffs.ndim > 2 or coeffs.shape[-1] != 3:
      raise ValueError(f"ns_coeffs must have shape (3,) or (n, 3), got {coeffs.shape}")
    if coeffs.ndim == 2:
      if not coeffs.shape[0] <= ns_steps:
        raise ValueError(f"Not enough coeffs to perform {ns_steps} steps")
      coeffs = coeffs[-ns_steps:]
    return MuonState(
        count=jnp.zeros([], jnp.int32),
        mu=fo.tree.zeros_like(params, dtype=mu_dtype),
        ns_coeffs=coeffs,
    )

  def update_fn(updates, state, params=None):
    del params
    dim_nums = _resolve(weight_dimension_numbers, updates)
    mu = fo.tree.update_moment(updates, state.mu, beta, 1)
    count_inc = fo.safe_increment(state.count)
    if nesterov:
      mu_hat = jax.tree.map(
          lambda m, g: beta * m + (1 - beta) * g,
          fo.tree.bias_correction(mu, beta, fo.safe_increment(count_inc)),
          fo.tree.bias_correction(updates, beta, count_inc),
      )
    else:
      mu_hat = fo.tree.bias_correction(mu, beta, count_inc)
    updates = jax.tree.map(
        lambda x, dim_num: orthogonalize_via_newton_schulz(
            x, state.ns_coeffs, ns_steps, preconditioning, eps, dim_num
        ),
        mu_hat,
        dim_nums,
        is_leaf=_is_weight_dim_nums,
    )
    if adaptive:
      updates = jax.tree.map(lambda x, y: jnp.sum(x.conj() * y) * y, mu_hat, updates)
    mu = fo.tree.cast(mu, mu_dtype)
    return updates, MuonState(count=count_inc, mu=mu, ns_coeffs=state.ns_coeffs)

  return _base.GradientTransformation(init_fn, update_fn)


def _labels_and_dim_nums(muon_weight_dimension_numbers):
  """`(param_labels, dim_nums_fn)` of `muon`'s partition into 'muon' and 'adam' leaves.

  `dim_nums_fn` gives the dimension numbers with the structure of the 'muon'
  group's masked tree: a `MaskedNode` wherever a leaf belongs to 'adam'.
  """
  if muon_weight_dimension_numbers is None:  # every 2-d leaf, as a plain matrix
    param_labels = lambda params: jax.tree.map(
        lambda x: "muon" if x.ndim == 2 else "adam", params
    )
    muon_weight_dimension_numbers = MuonDimensionNumbers()
  else:

    def param_labels(params):
      # Dimension numbers come first: they may be a prefix of the params.
      return jax.tree.map(
          lambda dim_num, x: jax.tree.map(lambda _: "adam" if dim_num is None else "muon", x),
          _resolve(muon_weight_dimension_numbers, params),
          params,
          is_leaf=lambda x: x is None or _is_weight_dim_nums(x),
      )

  def dim_nums_fn(params):
    dim_nums = _resolve(muon_weight_dimension_numbers, params)
    mask = jax.tree.map(lambda label: label == "muon", param_labels(params))
    return jax.tree.map(
        lambda dim_num, submask: jax.tree.map(
            lambda m: dim_num if m else fo.MaskedNode(), submask
        ),
        dim_nums,
        mask,
        is_leaf=lambda x: x is None or _is_weight_dim_nums(x) or isinstance(x, fo.MaskedNode),
    )

  return param_labels, dim_nums_fn


def muon(
    learning_rate: _base.ScalarOrSchedule,
    ns_coeffs: Union[NsCoeffs, str] = _DEFAULT_NS_COEFFS,
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    adam_b1: jax.typing.ArrayLike = 0.9,
    adam_b2: jax.typing.ArrayLike = 0.999,
    adam_eps_root: jax.typing.ArrayLike = 0.0,
    adam_weight_decay: jax.typing.ArrayLike = 0.0,
    adam_learning_rate: Optional[_base.ScalarOrSchedule] = None,
    muon_weight_dimension_numbers: Optional[WeightDimNumOrFn] = None,
    consistent_rms: Optional[jax.typing.ArrayLike] = None,
) -> _base.GradientTransformationExtraArgs:
  r"""Muon: Momentum Orthogonalized by Newton-Schulz, with AdamW for the other params.

  Matrix params get `scale_by_muon`, shape scaling (`scale_by_shape`), decoupled
  weight decay and the learning rate; all other params (by default every leaf that
  is not 2-d, or the leaves whose dimension number is None) get `adamw` with the
  `adam_*` hyperparameters, Muon's `eps`, `mu_dtype` and `nesterov`.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    ns_coeffs: Newton-Schulz coefficients, `(3,)`, one triple per step, or a
      preset name (`"standard"`, `"dion"`).
    ns_steps: number of Newton-Schulz steps.
    beta: decay rate of the momentum.
    eps: added to the norm before Newton-Schulz, and Adam's `eps`.
    weight_decay: decoupled weight decay of the Muon params, multiplied by the
      learning rate.
    weight_decay_mask: a tree of booleans (or a function returning one) selecting
      the Muon leaves to decay.
    mu_dtype: dtype of the momenta; None keeps the dtype of the params.
    nesterov: whether to use Nesterov momentum (both groups).
    adaptive: scale Muon's updates by the dual norm of the momentum.
    preconditioning: `"frobenius"`, `"spectral"`, `"aol"` or `"schatten"`.
    adam_b1: Adam's first-moment decay rate.
    adam_b2: Adam's second-moment decay rate.
    adam_eps_root: Adam's `eps_root`.
    adam_weight_decay: Adam's weight decay.
    adam_learning_rate: Adam's learning rate; None uses `learning_rate`.
    muon_weight_dimension_numbers: a tree (or prefix tree) of
      `MuonDimensionNumbers`, None marking Adam leaves, or a function of the
      params returning one; None applies Muon to the 2-d leaves.
    consistent_rms: None scales updates by `sqrt(max(1, fan_out / fan_in))`; a
      number (0.2 matches AdamW's RMS) by `sqrt(max(fan_in, fan_out)) * consistent_rms`.

  References:
    Jordan, 2024, "modded-nanogpt: Speedrunning the NanoGPT baseline",
    https://github.com/KellerJordan/modded-nanogpt

    Liu et al., 2025, "Muon is Scalable for LLM Training",
    https://arxiv.org/abs/2502.16982

    Boissin et al., 2025, "Turbo-Muon: Accelerating Orthogonality-Based
    Optimization with Pre-Conditioning", https://arxiv.org/abs/2512.04632

    Ahn et al., 2025, "Dion: Distributed Orthonormalized Updates",
    https://arxiv.org/abs/2504.05295

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda p: jnp.sum(jnp.square(p["w"])) + jnp.sum(jnp.square(p["b"]))
    >>> solver = fo.contrib.muon(learning_rate=0.1)
    >>> params = {"w": jnp.eye(3), "b": jnp.ones(3)}
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   updates, opt_state = solver.update(jax.grad(f)(params), opt_state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{f(params):.2f}")
    1.91
  """
  if adam_learning_rate is None:
    adam_learning_rate = learning_rate
  if isinstance(ns_coeffs, str):
    if ns_coeffs not in _NS_COEFFS_PRESET_DICT:
      raise ValueError(f"Unknown ns_coeff preset string: {ns_coeffs}")
    ns_coeffs = _NS_COEFFS_PRESET_DICT[ns_coeffs]
  param_labels, dim_nums_fn = _labels_and_dim_nums(muon_weight_dimension_numbers)
  return fo.partition(
      transforms={
          "muon": fo.chain(
              scale_by_muon(
                  ns_coeffs=ns_coeffs,
                  ns_steps=ns_steps,
                  beta=beta,
                  eps=eps,
                  mu_dtype=mu_dtype,
                  nesterov=nesterov,
                  adaptive=adaptive,
                  preconditioning=preconditioning,
                  weight_dimension_numbers=dim_nums_fn,
              ),
              scale_by_shape(weight_dimension_numbers=dim_nums_fn, consistent_rms=consistent_rms),
              fo.add_decayed_weights(weight_decay, weight_decay_mask),
              fo.scale_by_learning_rate(learning_rate),
          ),
          "adam": fo.adamw(
              learning_rate=adam_learning_rate,
              b1=adam_b1,
              b2=adam_b2,
              eps=eps,
              eps_root=adam_eps_root,
              weight_decay=adam_weight_decay,
              mu_dtype=mu_dtype,
              nesterov=nesterov,
          ),
      },
      param_labels=param_labels,
  )
