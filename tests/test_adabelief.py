"""scale_by_belief, adabelief against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_adam import decay_rates, learning_rates

# AdaBelief's defaults are tiny (1e-16); draw across many orders of magnitude.
epsilons = st.one_of(st.just(0.0), st.floats(1e-16, 1e-3))


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    nesterov=st.booleans(),
)
def test_scale_by_belief(spec, b1, b2, eps, eps_root, nesterov):
  kwargs = dict(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov)
  parity.assert_same_trajectory(fo.scale_by_belief(**kwargs), optax.scale_by_belief(**kwargs), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    nesterov=st.booleans(),
)
def test_adabelief(spec, learning_rate, b1, b2, eps, eps_root, nesterov):
  args = (learning_rate, b1, b2, eps, eps_root)
  parity.assert_same_trajectory(
      fo.adabelief(*args, nesterov=nesterov), optax.adabelief(*args, nesterov=nesterov), spec
  )


@pytest.mark.parametrize("factory", [fo.scale_by_belief, lambda **kw: fo.adabelief(0.1, **kw)])
@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("eps", -1e-8), ("eps_root", -1.0)],
)
def test_invalid_hyperparameters(factory, name, value):
  with pytest.raises(ValueError, match=name):
    factory(**{name: value})


def test_invalid_learning_rate():
  with pytest.raises(ValueError, match="learning_rate"):
    fo.adabelief(-0.1)
