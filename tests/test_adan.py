"""scale_by_adan, adan against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_adam import decay_rates, decoupled_mask, epsilons, learning_rates, weight_decays

# optax's own tests skip complex params for adan (no convergence claim), but its
# numerics are defined for them and ours match, so complex64 is covered too.


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    b3=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
)
def test_scale_by_adan(spec, b1, b2, b3, eps, eps_root):
  args = (b1, b2, b3, eps, eps_root)
  parity.assert_same_trajectory(fo.scale_by_adan(*args), optax.scale_by_adan(*args), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES, min_leaves=2),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    b3=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    weight_decay=st.one_of(weight_decays, learning_rates()),
    mask_first=st.one_of(st.none(), st.booleans()),
)
def test_adan(spec, learning_rate, b1, b2, b3, eps, eps_root, weight_decay, mask_first):
  mask = None if mask_first is None else decoupled_mask(mask_first)
  args = (learning_rate, b1, b2, b3, eps, eps_root, weight_decay, mask)
  parity.assert_same_trajectory(fo.adan(*args), optax.adan(*args), spec)


@pytest.mark.parametrize("factory", [fo.scale_by_adan, lambda **kw: fo.adan(0.1, **kw)])
@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("b3", -0.1), ("b3", 1.0),
     ("eps", -1e-8), ("eps_root", -1.0)],
)
def test_invalid_hyperparameters(factory, name, value):
  with pytest.raises(ValueError, match=name):
    factory(**{name: value})


def test_invalid_learning_rate_and_weight_decay():
  with pytest.raises(ValueError, match="learning_rate"):
    fo.adan(-0.1)
  with pytest.raises(ValueError, match="weight_decay"):
    fo.adan(0.1, weight_decay=-1.0)
