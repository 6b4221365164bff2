"""scale_by_sign, sign_sgd, signum against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

learning_rates = st.floats(1e-4, 1.0) | st.floats(0.5, 1.0).map(
    lambda decay: lambda count: 0.1 * decay**count
)


@given(spec=parity.pytrees(parity.ALL_DTYPES))
def test_scale_by_sign(spec):
  parity.assert_same_trajectory(fo.scale_by_sign(), optax.scale_by_sign(), spec)


@given(spec=parity.pytrees(parity.ALL_DTYPES), learning_rate=learning_rates)
def test_sign_sgd(spec, learning_rate):
  parity.assert_same_trajectory(fo.sign_sgd(learning_rate), optax.sign_sgd(learning_rate), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    beta=st.floats(0.0, 0.999),
    accumulator_dtype=st.sampled_from([None, "float32", "bfloat16"]),
)
def test_signum(spec, learning_rate, beta, accumulator_dtype):
  if spec.dtype == parity.COMPLEX64 and accumulator_dtype is not None:
    accumulator_dtype = "complex64"  # a real accumulator would drop the imaginary part
  parity.assert_same_trajectory(
      fo.signum(learning_rate, beta, accumulator_dtype),
      optax.signum(learning_rate, beta, accumulator_dtype),
      spec,
  )


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fo.sign_sgd(learning_rate=-0.1), "learning_rate"),
        (lambda: fo.signum(learning_rate=-0.1), "learning_rate"),
        (lambda: fo.signum(0.1, beta=1.0), "beta"),
        (lambda: fo.signum(0.1, beta=-0.1), "beta"),
    ],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()
