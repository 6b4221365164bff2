"""scale_by_radam, radam against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_adam import decay_rates, epsilons, learning_rates

# b2 near 1 makes the rectification switch on within the 10 steps of a trajectory
# (rho_t reaches the threshold); smaller b2 exercises the momentum-only branch.
second_moment_rates = st.one_of(st.floats(0.99, 0.9999), decay_rates)
thresholds = st.floats(4.0, 9.0)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=second_moment_rates,
    eps=epsilons,
    eps_root=epsilons,
    threshold=thresholds,
    nesterov=st.booleans(),
)
def test_scale_by_radam(spec, b1, b2, eps, eps_root, threshold, nesterov):
  kwargs = dict(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov)
  parity.assert_same_trajectory(fo.scale_by_radam(**kwargs), optax.scale_by_radam(**kwargs), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=second_moment_rates,
    eps=epsilons,
    eps_root=epsilons,
    threshold=thresholds,
    nesterov=st.booleans(),
)
def test_radam(spec, learning_rate, b1, b2, eps, eps_root, threshold, nesterov):
  args = (learning_rate, b1, b2, eps, eps_root, threshold)
  parity.assert_same_trajectory(
      fo.radam(*args, nesterov=nesterov), optax.radam(*args, nesterov=nesterov), spec
  )


@pytest.mark.parametrize("factory", [fo.scale_by_radam, lambda **kw: fo.radam(0.1, **kw)])
@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("eps", -1e-8), ("eps_root", -1.0)],
)
def test_invalid_hyperparameters(factory, name, value):
  with pytest.raises(ValueError, match=name):
    factory(**{name: value})


def test_invalid_learning_rate():
  with pytest.raises(ValueError, match="learning_rate"):
    fo.radam(-0.1)
