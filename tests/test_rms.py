"""scale_by_rss, scale_by_rms, scale_by_stddev, rmsprop, adagrad against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

decays = st.floats(0.0, 0.999)
epsilons = st.floats(1e-8, 1e-2)
initial_scales = st.floats(0.0, 1.0)
learning_rates = st.one_of(
    st.floats(1e-4, 1.0),
    st.floats(0.5, 1.0).map(lambda rate: (lambda count: 0.1 * rate**count)),
)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    initial_accumulator_value=st.floats(0.0, 1.0),
    eps=epsilons,
)
def test_scale_by_rss(spec, initial_accumulator_value, eps):
  kwargs = dict(initial_accumulator_value=initial_accumulator_value, eps=eps)
  parity.assert_same_trajectory(fo.scale_by_rss(**kwargs), optax.scale_by_rss(**kwargs), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    decay=decays,
    eps=epsilons,
    initial_scale=initial_scales,
    eps_in_sqrt=st.booleans(),
    bias_correction=st.booleans(),
)
def test_scale_by_rms(spec, decay, eps, initial_scale, eps_in_sqrt, bias_correction):
  kwargs = dict(
      decay=decay,
      eps=eps,
      initial_scale=initial_scale,
      eps_in_sqrt=eps_in_sqrt,
      bias_correction=bias_correction,
  )
  parity.assert_same_trajectory(fo.scale_by_rms(**kwargs), optax.scale_by_rms(**kwargs), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    decay=decays,
    eps=epsilons,
    initial_scale=initial_scales,
    eps_in_sqrt=st.booleans(),
    bias_correction=st.booleans(),
)
def test_scale_by_stddev(spec, decay, eps, initial_scale, eps_in_sqrt, bias_correction):
  kwargs = dict(
      decay=decay,
      eps=eps,
      initial_scale=initial_scale,
      eps_in_sqrt=eps_in_sqrt,
      bias_correction=bias_correction,
  )
  parity.assert_same_trajectory(
      fo.scale_by_stddev(**kwargs), optax.scale_by_stddev(**kwargs), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    decay=decays,
    eps=epsilons,
    initial_scale=initial_scales,
    eps_in_sqrt=st.booleans(),
    centered=st.booleans(),
    momentum=st.none() | st.floats(0.0, 0.99),
    nesterov=st.booleans(),
    bias_correction=st.booleans(),
)
def test_rmsprop(
    spec, learning_rate, decay, eps, initial_scale, eps_in_sqrt, centered, momentum, nesterov,
    bias_correction,
):
  kwargs = dict(
      learning_rate=learning_rate,
      decay=decay,
      eps=eps,
      initial_scale=initial_scale,
      eps_in_sqrt=eps_in_sqrt,
      centered=centered,
      momentum=momentum,
      nesterov=nesterov,
      bias_correction=bias_correction,
  )
  parity.assert_same_trajectory(fo.rmsprop(**kwargs), optax.rmsprop(**kwargs), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    initial_accumulator_value=st.floats(0.0, 1.0),
    eps=epsilons,
)
def test_adagrad(spec, learning_rate, initial_accumulator_value, eps):
  kwargs = dict(
      learning_rate=learning_rate, initial_accumulator_value=initial_accumulator_value, eps=eps
  )
  parity.assert_same_trajectory(fo.adagrad(**kwargs), optax.adagrad(**kwargs), spec)


def test_bias_corrected_states_hold_the_count_as_in_optax():
  for name in ("scale_by_rms", "scale_by_stddev"):
    ours = getattr(fo, name)(bias_correction=True).init({"w": jnp.ones(2)})
    theirs = getattr(optax, name)(bias_correction=True).init({"w": jnp.ones(2)})
    assert ours._fields == theirs._fields


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_rss, dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (fo.scale_by_rss, dict(eps=-1e-7), "eps"),
        (fo.scale_by_rms, dict(decay=1.0), "decay"),
        (fo.scale_by_rms, dict(decay=-0.1), "decay"),
        (fo.scale_by_rms, dict(eps=-1.0), "eps"),
        (fo.scale_by_rms, dict(initial_scale=-1.0), "initial_scale"),
        (fo.scale_by_stddev, dict(decay=1.5), "decay"),
        (fo.scale_by_stddev, dict(eps=-1.0), "eps"),
        (fo.scale_by_stddev, dict(initial_scale=-1.0), "initial_scale"),
        (fo.rmsprop, dict(learning_rate=-0.1), "learning_rate"),
        (fo.rmsprop, dict(learning_rate=0.1, decay=1.0), "decay"),
        (fo.rmsprop, dict(learning_rate=0.1, eps=-1.0), "eps"),
        (fo.rmsprop, dict(learning_rate=0.1, initial_scale=-1.0), "initial_scale"),
        (fo.rmsprop, dict(learning_rate=0.1, momentum=1.5), "momentum"),
        (fo.rmsprop, dict(learning_rate=0.1, centered=True, decay=-0.5), "decay"),
        (fo.adagrad, dict(learning_rate=-0.1), "learning_rate"),
        (fo.adagrad, dict(learning_rate=0.1, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (fo.adagrad, dict(learning_rate=0.1, eps=-1.0), "eps"),
    ],
)
def test_invalid_hyperparameters_raise(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
