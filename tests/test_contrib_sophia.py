"""contrib.sophia and contrib.hutchinson_estimator_diag_hessian against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

mu_dtypes = st.sampled_from([None, "float32", "bfloat16"])
# Each example compiles a Hessian-vector product: small trees keep that cheap.
small_pytrees = parity.pytrees(parity.REAL_DTYPES, max_leaves=2)


def _objective(params):
  """A quartic whose Hessian diagonal changes with the params."""
  return sum(jnp.sum(0.25 * p**2 + 0.1 * p**4) for p in jax.tree.leaves(params))


def _obj_fn_args(params, grads):
  del params, grads
  return {"obj_fn": _objective}


def _key(seed):
  return None if seed is None else jax.random.PRNGKey(seed)


@given(spec=small_pytrees, seed=st.sampled_from([None, 0, 7]))
def test_hutchinson_estimator_diag_hessian(spec, seed):
  parity.assert_same_trajectory(
      fo.contrib.hutchinson_estimator_diag_hessian(_key(seed)),
      optax.contrib.hutchinson_estimator_diag_hessian(_key(seed)),
      spec,
      num_steps=3,
      extra_args_fn=_obj_fn_args,
  )


@given(
    spec=small_pytrees,
    learning_rate=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 1.0),
    weight_decay=st.sampled_from([0.0, 1e-4]),
    gamma=st.floats(0.0, 1.0),
    clip_threshold=st.sampled_from([None, 0.5, 1.0]),
    update_interval=st.integers(1, 4),
    mu_dtype=mu_dtypes,
    seed=st.sampled_from([None, 3]),
)
def test_sophia(spec, learning_rate, b1, b2, weight_decay, gamma, clip_threshold,
                update_interval, mu_dtype, seed):
  def build(lib):
    return lib.contrib.sophia(
        learning_rate, b1, b2, 1e-2, weight_decay, None, gamma, clip_threshold,
        update_interval, lib.contrib.hutchinson_estimator_diag_hessian(_key(seed)), mu_dtype,
    )

  parity.assert_same_trajectory(build(fo), build(optax), spec, extra_args_fn=_obj_fn_args)


@given(spec=small_pytrees, decay=st.floats(0.5, 1.0))
def test_sophia_schedule_and_default_estimator(spec, decay):
  learning_rate = lambda count: 0.1 * decay**count
  mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
  parity.assert_same_trajectory(
      fo.contrib.sophia(learning_rate, weight_decay_mask=mask),
      optax.contrib.sophia(learning_rate, weight_decay_mask=mask),
      spec,
      extra_args_fn=_obj_fn_args,
  )


def test_sophia_verbose_prints_the_win_rate(capfd):
  tx = fo.contrib.sophia(0.1, verbose=True, print_win_rate_every_n_steps=1)
  params = jnp.array([1.0, 2.0])
  jax.block_until_ready(tx.update(params, tx.init(params), params, obj_fn=_objective))
  assert "Sophia optimizer win rate: 0.0" in capfd.readouterr().out


def test_missing_arguments():
  hutchinson = fo.contrib.hutchinson_estimator_diag_hessian()
  params = jnp.ones(2)
  with pytest.raises(ValueError, match="obj_fn"):
    hutchinson.update(params, hutchinson.init(params), params)
  with pytest.raises(ValueError, match="params"):
    hutchinson.update(params, hutchinson.init(params), obj_fn=_objective)
  tx = fo.contrib.sophia(0.1)
  with pytest.raises(ValueError, match="params"):
    tx.update(params, tx.init(params), obj_fn=_objective)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(b1=1.0), "b1"),
        (dict(b2=1.5), "b2"),
        (dict(eps=-1.0), "eps"),
        (dict(gamma=-1.0), "gamma"),
        (dict(clip_threshold=0.0), "clip_threshold"),
        (dict(update_interval=0), "update_interval"),
        (dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.sophia(0.1, **kwargs)
