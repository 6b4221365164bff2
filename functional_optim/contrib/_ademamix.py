"""AdEMAMix: Adam with a mixture of a fast and a slow momentum, and its simplified form."""

import numbers
from collections.abc import Callable
from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base

__all__ = [
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ademamix",
    "scale_by_ademamix",
    "scale_by_simplified_ademamix",
    "simplified_ademamix",
]


def _check(name: str, value, low: float, high: float = float("inf"), *, high_inclusive=False):
  """Raises `ValueError` if the plain number `value` is outside `[low, high)` (or NaN)."""
  if not isinstance(value, numbers.Real) or isinstance(value, bool):
    return  # arrays, tracers (inject_hyperparams) and schedules are not known yet
  inside = low <= value <= high if high_inclusive else low <= value < high
  if not inside:
    raise ValueError(f"{name} must be in [{low}, {high}{']' if high_inclusive else ')'}, "
                     f"got {name}={value!r}")


class ScaleByAdemamixState(NamedTuple):
  """State of `scale_by_ademamix`."""

  count: jax.Array  # shape=(), int32: steps of the fast EMA and second moment
  count_m2: jax.Array  # shape=(), int32: steps of the slow EMA (argument of the b3/alpha schedules)
  m1: _base.Updates  # like params (dtype mu_dtype if given): fast EMA of the gradients
  m2: _base.Updates  # like params (dtype mu_dtype if given): slow EMA of the gradients
  nu: _base.Updates  # like params (dtype mu_dtype if given): EMA of the squared gradients


def scale_by_ademamix(
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: _base.ScalarOrSchedule = 0.9999,
    alpha: _base.ScalarOrSchedule = 6.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[jax.typing.DTypeLike] = None,
) -> _base.GradientTransformation:
  r"""Rescales updates to `(m1_hat + alpha * m2) / (sqrt(nu_hat + eps_root) + eps)`.

  `m1` is a fast EMA (rate `b1`) and `m2` a slow EMA (rate `b3`) of the gradients,
  `nu` an EMA (rate `b2`) of their squared magnitude. `m1` and `nu` are bias
  corrected; `m2` is not, so that the slow momentum fills up slowly. `b3` and
  `alpha` may be schedules of `count_m2`.

  Args:
    b1: decay rate of the fast EMA, in [0, 1).
    b2: decay rate of the second moment, in [0, 1).
    b3: decay rate of the slow EMA (a scalar or a schedule), in [0, 1].
    alpha: weight of the slow EMA (a scalar or a schedule).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment inside the square root.
    mu_dtype: dtype of the three accumulators; None keeps the dtype of the params.
      (optax lets the accumulators drift to the promoted dtype of gradients,
      accumulators and `b3`; here they keep their dtype.)

  References:
    Pagliardini et al., 2024, "The AdEMAMix Optimizer: Better, Faster, Older",
    https://arxiv.org/abs/2409.03137

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_ademamix(alpha=0.0)  # Adam with its default b1, b2
    >>> jnp.round(tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0], 4)
    Array([ 1., -1.], dtype=float32)
  """
  _check("b1", b1, 0.0, 1.0)
  _check("b2", b2, 0.0, 1.0)
  _check("b3", b3, 0.0, 1.0, high_inclusive=True)
  _check("eps", eps, 0.0)
  _check("eps_root", eps_root, 0.0)
  mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    return ScaleByAdemamixState(
        count=jnp.zeros([], jnp.int32),
        count_m2=jnp.zeros([], jnp.int32),
        m1=fo.tree.zeros_like(params, dtype=mu_dtype),
        m2=fo.tree.zeros_like(params, dtype=mu_dtype),
        nu=fo.tree.zeros_like(params, dtype=mu_dtype),
    )

  def update_fn(updates, state, params=None):
    del params
    c_b3 = b3(state.count_m2) if callable(b3) else b3
    c_alpha = alpha(state.count_m2) if callable(alpha) else alpha
    m1 = fo.tree.update_moment(updates, state.m1, b1, order=1)
    m2 = fo.tree.update_moment(updates, state.m2, c_b3, order=1)
    nu = fo.tree.update_moment_per_elem_norm(updates, state.nu, b2, order=2)
    count_inc = fo.safe_int32_increment(state.count)
    count_m2_inc = fo.safe_int32_increment(state.count_m2)
    m1_hat = fo.tree.bias_correction(m1, b1, count_inc)
    nu_hat = fo.tree.bias_correction(nu, b2, count_inc)
    updates = jax.tree.map(
        lambda m1_, m2_, v_: (m1_ + c_alpha * m2_) / (jnp.sqrt(v_ + eps_root) + eps),
        m1_hat,
        m2,
        nu_hat,
    )
    # A schedule's float32 b3 would promote a bfloat16 accumulator: keep the dtypes.
    m1, m2, nu = (fo.tree.cast_like(new, old) for new, old in
                  ((m1, state.m1), (m2, state.m2), (nu, state.nu)))
    return updates, ScaleByAdemamixState(
        count=count_inc, count_m2=count_m2_inc, m1=m1, m2=m2, nu=nu
    )

  return _base.GradientTransformation(init_fn, update_fn)


def ademamix(
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.9,
    b2: jax.typing.ArrayLike = 0.999,
    b3: _base.ScalarOrSchedule = 0.9999,
    alpha: _base.ScalarOrSchedule = 5.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    mu_dtype: Optional[Any] = None,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
) -> _base.GradientTransformationExtraArgs:
  r"""AdEMAMix: `scale_by_ademamix`, decoupled weight decay, then the learning rate.

  AdamW whose momentum is a mixture of a fast EMA (`b1`) and a slow EMA (`b3`)
  weighted by `alpha`, so that very old gradients keep contributing:

  .. math::
    \theta_t = \theta_{t-1} - \eta \left(\frac{\hat m_1 + \alpha m_2}
    {\sqrt{\hat\nu + \bar\varepsilon} + \varepsilon} + \lambda \theta_{t-1}\right).

  Smaller `b3` (e.g. 0.999) suits short runs (paper, appendix C.1.5). The weight
  decay is multiplied by the learning rate.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the fast EMA.
    b2: decay rate of the second moment.
    b3: decay rate of the slow EMA (a scalar or a schedule).
    alpha: weight of the slow EMA (a scalar or a schedule).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment inside the square root.
    mu_dtype: dtype of the accumulators; None keeps the dtype of the params.
    weight_decay: decoupled weight decay rate.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Pagliardini et al., 2024, "The AdEMAMix Optimizer: Better, Faster, Older",
    https://arxiv.org/abs/2409.03137

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(jnp.square(x))
    >>> solver = fo.contrib.ademamix(learning_rate=0.01)
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   updates, opt_state = solver.update(jax.grad(f)(params), opt_state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{f(params):.2E}")
    1.34E+01
  """
  return fo.chain(
      scale_by_ademamix(
          b1=b1, b2=b2, b3=b3, alpha=alpha, eps=eps, eps_root=eps_root, mu_dtype=mu_dtype
      ),
      fo.add_decayed_weights(weight_decay, mask),
      fo.scale_by_learning_rate(learning_rate),
  )


class ScaleBySimplifiedAdEMAMixState(NamedTuple):
  """State of `scale_by_simplified_ademamix`."""

  t: jax.Array  # shape=(), int32: number of updates so far
  m: _base.Updates  # like params: accumulated (undamped) momentum, m <- b1 * m + g
  n: _base.Updates  # like params: EMA of the squared gradient magnitudes


def scale_by_simplified_ademamix(
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: _base.ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
) -> _base.GradientTransformation:
  r"""Rescales updates to `(m + alpha * g) / (sqrt(n_hat + eps_root) + eps)`.

  `m <- b1 * m + g` is a single momentum (no `1 - b1` damping), `n` an EMA of
  `|g|^2` with rate `b2`, bias corrected. `alpha` may be a schedule of `t`.
  (optax squares a complex gradient as `g * g`; here it is `g * conj(g)`, so
  complex parameters get the same update as their real and imaginary parts.)

  Args:
    b1: decay rate of the momentum, in [0, 1].
    b2: decay rate of the second moment, in [0, 1).
    alpha: weight of the current gradient (a scalar or a schedule).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment inside the square root.

  References:
    Morwani et al., 2025, "Connections between Schedule-Free Optimizers, AdEMAMix,
    and Accelerated SGD Variants", https://arxiv.org/abs/2502.02431

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> tx = fo.contrib.scale_by_simplified_ademamix()
    >>> tx.update(jnp.array([2.0, -0.5]), tx.init(jnp.zeros(2)))[0]
    Array([ 1., -1.], dtype=float32)
  """
  _check("b1", b1, 0.0, 1.0, high_inclusive=True)
  _check("b2", b2, 0.0, 1.0)
  _check("eps", eps, 0.0)
  _check("eps_root", eps_root, 0.0)

  def init_fn(params):
    return ScaleBySimplifiedAdEMAMixState(
        t=jnp.array(0, jnp.int32),
        m=fo.tree.zeros_like(params),
        n=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    c_alpha = alpha(state.t) if callable(alpha) else alpha
    g = updates
    m = fo.tree.add_scale(g, b1, state.m)
    g2 = jax.tree.map(lambda x: x * jnp.conj(x) if jnp.iscomplexobj(x) else x * x, g)
    # lerp(b2, g2, n) = g2 + b2 * (n - g2), written as optax writes it.
    n = fo.tree.add_scale(g2, b2, fo.tree.sub(state.n, g2))
    t = fo.safe_increment(state.t)
    n_hat = fo.tree.bias_correction(n, b2, t)
    u_num = fo.tree.add_scale(m, c_alpha, g)
    u_den = jax.tree.map(lambda n_: jnp.sqrt(n_ + eps_root) + eps, n_hat)
    return fo.tree.div(u_num, u_den), ScaleBySimplifiedAdEMAMixState(t=t, m=m, n=n)

  return _base.GradientTransformation(init_fn, update_fn)


def simplified_ademamix(
    learning_rate: _base.ScalarOrSchedule,
    b1: jax.typing.ArrayLike = 0.99,
    b2: jax.typing.ArrayLike = 0.95,
    alpha: _base.ScalarOrSchedule = 0.0,
    eps: jax.typing.ArrayLike = 1e-8,
    eps_root: jax.typing.ArrayLike = 0.0,
    weight_decay: jax.typing.ArrayLike = 0.0,
    mask: Optional[Union[Any, Callable[[_base.Params], Any]]] = None,
) -> _base.GradientTransformationExtraArgs:
  r"""Simplified AdEMAMix: `scale_by_simplified_ademamix`, weight decay, learning rate.

  One momentum buffer instead of two and no schedule for `alpha`; `alpha = 0`
  recovers Adam up to a rescaling of the learning rate and `b1`. The weight decay
  is multiplied by the learning rate.

  Args:
    learning_rate: a scalar or a schedule of the step count.
    b1: decay rate of the momentum.
    b2: decay rate of the second moment.
    alpha: weight of the current gradient (a scalar or a schedule).
    eps: added to the denominator outside the square root.
    eps_root: added to the second moment inside the square root.
    weight_decay: decoupled weight decay rate.
    mask: a tree of booleans (or a function of the params returning one) selecting
      the leaves to decay; None decays all.

  References:
    Morwani et al., 2025, "Connections between Schedule-Free Optimizers, AdEMAMix,
    and Accelerated SGD Variants", https://arxiv.org/abs/2502.02431

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> f = lambda x: jnp.sum(jnp.square(x))
    >>> solver = fo.contrib.simplified_ademamix(learning_rate=0.01)
    >>> params = jnp.array([1.0, 2.0, 3.0])
    >>> opt_state = solver.init(params)
    >>> for _ in range(5):
    ...   updates, opt_state = solver.update(jax.grad(f)(params), opt_state, params)
    ...   params = fo.apply_updates(params, updates)
    >>> print(f"{f(params):.2E}")
    1.23E+01
  """
  return fo.chain(
      scale_by_simplified_ademamix(b1=b1, b2=b2, alpha=alpha, eps=eps, eps_root=eps_root),
      fo.add_decayed_weights(weight_decay, mask),
      fo.scale_by_learning_rate(learning_rate),
  )
