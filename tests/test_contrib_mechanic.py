"""contrib.mechanize against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _inner(lib, name):
  return {
      "sgd": lambda: lib.sgd(0.1),
      "momentum": lambda: lib.sgd(0.1, momentum=0.9),
      "adam": lambda: lib.adam(1e-2),
      "lion": lambda: lib.lion(1e-2, weight_decay=0.0),
  }[name]()


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    inner=st.sampled_from(["sgd", "momentum", "adam", "lion"]),
    weight_decay=st.sampled_from([0.0, 1e-2, 0.1]),
    eps=st.sampled_from([1e-8, 1e-4]),
    s_init=st.sampled_from([1e-8, 1e-6, 1e-2]),
    num_betas=st.integers(1, 8),
)
def test_mechanize(spec, inner, weight_decay, eps, s_init, num_betas):
  args = (weight_decay, eps, s_init, num_betas)
  parity.assert_same_trajectory(
      fo.contrib.mechanize(_inner(fo, inner), *args),
      optax.contrib.mechanize(_inner(optax, inner), *args),
      spec,
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES))
def test_extra_args_reach_the_base_optimizer(spec):
  """`value=` goes on to a base optimizer that needs it (Polyak's step size)."""
  value_fn = lambda params, grads: dict(value=0.25 * fo.tree.norm(params, squared=True) + 1.0)
  parity.assert_same_trajectory(
      fo.contrib.mechanize(fo.polyak_sgd(max_learning_rate=0.5)),
      optax.contrib.mechanize(optax.polyak_sgd(max_learning_rate=0.5)),
      spec,
      extra_args_fn=value_fn,
  )


def test_update_needs_params():
  tx = fo.contrib.mechanize(fo.sgd(0.1))
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(eps=-1.0), "eps"),
        (dict(s_init=0.0), "s_init"),
        (dict(num_betas=0), "num_betas"),
        (dict(num_betas=2.5), "num_betas"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.mechanize(fo.sgd(0.1), **kwargs)
