"""scale_by_adamax, adamax, adamaxw against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from test_adam import decay_rates, decoupled_mask, epsilons, learning_rates, weight_decays


@given(spec=parity.pytrees(parity.ALL_DTYPES), b1=decay_rates, b2=decay_rates, eps=epsilons)
def test_scale_by_adamax(spec, b1, b2, eps):
  parity.assert_same_trajectory(
      fo.scale_by_adamax(b1, b2, eps), optax.scale_by_adamax(b1, b2, eps), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
)
def test_adamax(spec, learning_rate, b1, b2, eps):
  parity.assert_same_trajectory(
      fo.adamax(learning_rate, b1, b2, eps), optax.adamax(learning_rate, b1, b2, eps), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES, min_leaves=2),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    weight_decay=st.one_of(weight_decays, learning_rates()),
    mask_first=st.one_of(st.none(), st.booleans()),
)
def test_adamaxw(spec, learning_rate, b1, b2, eps, weight_decay, mask_first):
  mask = None if mask_first is None else decoupled_mask(mask_first)
  args = (learning_rate, b1, b2, eps, weight_decay, mask)
  parity.assert_same_trajectory(fo.adamaxw(*args), optax.adamaxw(*args), spec)


def test_adamaxw_is_adamax_without_weight_decay():
  params = jnp.array([1.0, -2.0, 0.5])
  ours, reference = fo.adamaxw(0.1, weight_decay=0.0), fo.adamax(0.1)
  updates, _ = ours.update(params, ours.init(params), params)
  expected, _ = reference.update(params, reference.init(params))
  assert jnp.array_equal(updates, expected)


@pytest.mark.parametrize(
    "factory",
    [fo.scale_by_adamax, lambda **kw: fo.adamax(0.1, **kw), lambda **kw: fo.adamaxw(0.1, **kw)],
)
@pytest.mark.parametrize(
    "name, value", [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("eps", -1e-8)]
)
def test_invalid_hyperparameters(factory, name, value):
  with pytest.raises(ValueError, match=name):
    factory(**{name: value})


def test_invalid_learning_rate_and_weight_decay():
  with pytest.raises(ValueError, match="learning_rate"):
    fo.adamax(-0.1)
  with pytest.raises(ValueError, match="learning_rate"):
    fo.adamaxw(-0.1)
  with pytest.raises(ValueError, match="weight_decay"):
    fo.adamaxw(0.1, weight_decay=-1.0)
