"""contrib.dog and contrib.dowg (global DoG / DoWG) against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity
from functional_optim.contrib import _dog


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


init_steps = st.one_of(
    st.tuples(st.just("heuristic"), st.sampled_from([1e-6, 1e-4, 1e-2])),
    st.tuples(st.just("distance"), st.sampled_from([1e-3, 0.1, 1.0])),
    st.tuples(st.just("learning_rate"), st.sampled_from([1e-3, 0.1, 1.0])),
)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(0.1, 2.0),
    init_step=init_steps,
    eps=st.sampled_from([1e-8, 1e-2]),
    weight_decay=st.sampled_from([None, 0.0, 0.1]),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_dog(spec, learning_rate, init_step, eps, weight_decay, mask):
  args = (learning_rate, init_step, eps, weight_decay, mask)
  parity.assert_same_trajectory(fo.contrib.dog(*args), optax.contrib.dog(*args), spec)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(0.1, 2.0),
    init_estim_sq_dist=st.sampled_from([None, 1e-3, 1.0]),
    eps=st.sampled_from([1e-4, 1e-2]),
    weight_decay=st.sampled_from([None, 0.1]),
)
def test_dowg(spec, learning_rate, init_estim_sq_dist, eps, weight_decay):
  args = (learning_rate, init_estim_sq_dist, eps, weight_decay)
  parity.assert_same_trajectory(fo.contrib.dowg(*args), optax.contrib.dowg(*args), spec)


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_schedules(spec, decay):
  learning_rate = lambda count: decay**count
  parity.assert_same_trajectory(
      fo.contrib.dog(learning_rate), optax.contrib.dog(learning_rate), spec
  )
  parity.assert_same_trajectory(
      fo.contrib.dowg(learning_rate), optax.contrib.dowg(learning_rate), spec
  )


def test_first_step_of_learning_rate_init():
  tx = _dog.scale_by_dog(("learning_rate", 0.25))
  params = jnp.array([1.0, -2.0])
  updates, state = tx.update(params, tx.init(params), params)
  assert updates.tolist() == [0.25, -0.5] and not state.is_init_step


@pytest.mark.parametrize("factory", [fo.contrib.dog, fo.contrib.dowg])
def test_update_needs_params(factory):
  tx = factory()
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.contrib.dog, dict(init_step=("distanc", 1.0)), "init_step"),
        (fo.contrib.dog, dict(init_step=("distance", -1.0)), "init_step"),
        (fo.contrib.dog, dict(eps=-1.0), "eps"),
        (fo.contrib.dowg, dict(init_estim_sq_dist=-1.0), "init_estim_sq_dist"),
        (fo.contrib.dowg, dict(eps=-1.0), "eps"),
    ],
)
def test_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
