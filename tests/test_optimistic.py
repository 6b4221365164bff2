"""scale_by_optimistic_gradient, optimistic_gradient_descent and optimistic Adam against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 2.0),
)
def test_scale_by_optimistic_gradient(spec, alpha, beta):
  parity.assert_same_trajectory(
      fo.scale_by_optimistic_gradient(alpha, beta),
      optax.scale_by_optimistic_gradient(alpha, beta),
      spec,
  )


def _decaying(decay):
  return lambda count: 0.1 * decay**count


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0) | st.floats(0.5, 1.0).map(_decaying),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 2.0),
)
def test_optimistic_gradient_descent(spec, learning_rate, alpha, beta):
  parity.assert_same_trajectory(
      fo.optimistic_gradient_descent(learning_rate, alpha, beta),
      optax.optimistic_gradient_descent(learning_rate, alpha, beta),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0) | st.floats(0.5, 1.0).map(_decaying),
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 2.0),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 0.999),
    eps=st.floats(1e-8, 1e-3),
    eps_root=st.floats(0.0, 1e-6),
    same_mu_dtype=st.booleans(),
    nesterov=st.booleans(),
)
def test_optimistic_adam_v2(
    spec, learning_rate, alpha, beta, b1, b2, eps, eps_root, same_mu_dtype, nesterov
):
  # mu_dtype is None or the params' dtype: with another one Adam's updates change
  # dtype, and so does the stored previous gradient (in optax too), which scan rejects.
  mu_dtype = spec.dtype if same_mu_dtype else None
  kwargs = dict(
      alpha=alpha, beta=beta, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
      mu_dtype=mu_dtype, nesterov=nesterov,
  )
  parity.assert_same_trajectory(
      fo.optimistic_adam_v2(learning_rate, **kwargs),
      optax.optimistic_adam_v2(learning_rate, **kwargs),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    optimism=st.none() | st.floats(0.0, 2.0),
    nesterov=st.booleans(),
)
def test_optimistic_adam_deprecated(spec, learning_rate, optimism, nesterov):
  with pytest.warns(DeprecationWarning, match="optimistic_adam_v2"):
    ours = fo.optimistic_adam(learning_rate, optimism, nesterov=nesterov)
  with pytest.warns(DeprecationWarning):
    theirs = optax.optimistic_adam(learning_rate, optimism, nesterov=nesterov)
  parity.assert_same_trajectory(ours, theirs, spec)


def test_optimistic_adam_rejects_schedule():
  with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="learning_rate"):
    fo.optimistic_adam(lambda count: 0.1)


@pytest.mark.parametrize("kwargs, name", [(dict(alpha=-1.0), "alpha"), (dict(beta=-0.5), "beta")])
def test_scale_by_optimistic_gradient_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.scale_by_optimistic_gradient(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=0.1, alpha=-1.0), "alpha"),
        (dict(learning_rate=0.1, beta=-1.0), "beta"),
    ],
)
def test_optimistic_gradient_descent_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.optimistic_gradient_descent(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=-0.1), "learning_rate"),
        (dict(learning_rate=0.1, alpha=-1.0), "alpha"),
        (dict(learning_rate=0.1, beta=-1.0), "beta"),
        (dict(learning_rate=0.1, b1=1.0), "b1"),
        (dict(learning_rate=0.1, b2=-0.1), "b2"),
        (dict(learning_rate=0.1, eps=-1.0), "eps"),
        (dict(learning_rate=0.1, eps_root=-1.0), "eps_root"),
    ],
)
def test_optimistic_adam_v2_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.optimistic_adam_v2(**kwargs)
