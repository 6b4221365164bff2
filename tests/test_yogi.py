"""scale_by_yogi, yogi against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_adam import decay_rates, learning_rates

epsilons = st.floats(0.0, 1e-2)  # Yogi's default eps is 1e-3


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    initial_accumulator_value=st.floats(1e-8, 1e-1),
)
def test_scale_by_yogi(spec, b1, b2, eps, eps_root, initial_accumulator_value):
  args = (b1, b2, eps, eps_root, initial_accumulator_value)
  parity.assert_same_trajectory(fo.scale_by_yogi(*args), optax.scale_by_yogi(*args), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
)
def test_yogi(spec, learning_rate, b1, b2, eps):
  args = (learning_rate, b1, b2, eps)
  parity.assert_same_trajectory(fo.yogi(*args), optax.yogi(*args), spec)


@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("eps", -1e-8), ("eps_root", -1.0),
     ("initial_accumulator_value", 0.0), ("initial_accumulator_value", -1e-6)],
)
def test_invalid_hyperparameters(name, value):
  with pytest.raises(ValueError, match=name):
    fo.scale_by_yogi(**{name: value})


@pytest.mark.parametrize("name, value", [("b1", 1.0), ("b2", -0.5), ("eps", -1e-8)])
def test_invalid_alias_hyperparameters(name, value):
  with pytest.raises(ValueError, match=name):
    fo.yogi(0.1, **{name: value})
  with pytest.raises(ValueError, match="learning_rate"):
    fo.yogi(-0.1)
