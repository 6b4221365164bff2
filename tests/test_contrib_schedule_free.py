"""contrib.schedule_free, schedule_free_sgd, schedule_free_adamw and schedule_free_eval_params
against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

state_dtypes = st.sampled_from([None, "float32"])


def _assert_same_trajectory_and_eval_params(ours, theirs, spec, num_steps=10):
  """`parity.assert_same_trajectory`, plus the evaluation params after the last step."""
  params, noise = spec.build(), spec.noise(num_steps)
  our_ps, our_us, our_state = parity.trajectory(
      ours, params, noise, apply_updates=fo.apply_updates
  )
  their_ps, their_us, their_state = parity.trajectory(
      theirs, params, noise, apply_updates=optax.apply_updates
  )
  parity.assert_trees_close(our_us, their_us, spec.dtype, "updates")
  parity.assert_trees_close(our_ps, their_ps, spec.dtype, "params")
  parity.assert_trees_close(our_state, their_state, spec.dtype, "final state")
  last = lambda ps: jax.tree.map(lambda p: p[-1], ps)
  parity.assert_trees_close(
      fo.contrib.schedule_free_eval_params(our_state, last(our_ps)),
      optax.contrib.schedule_free_eval_params(their_state, last(their_ps)),
      spec.dtype,
      "eval params",
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(0.0, 1.0),
    b1=st.floats(0.05, 1.0),
    weight_lr_power=st.floats(0.0, 3.0),
    state_dtype=state_dtypes,
    base=st.sampled_from(["sgd", "adam"]),
)
def test_schedule_free(spec, learning_rate, b1, weight_lr_power, state_dtype, base):
  def build(lib):
    if base == "sgd":
      base_opt = lib.sgd(learning_rate)
    else:
      base_opt = lib.adam(learning_rate, b1=0.0)
    return lib.contrib.schedule_free(base_opt, learning_rate, b1, weight_lr_power, state_dtype)

  parity.assert_same_trajectory(build(fo), build(optax), spec)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-3, 1.0),
    warmup_steps=st.sampled_from([None, 1, 5]),
    b1=st.floats(0.05, 1.0),
    weight_decay=st.sampled_from([None, 0.0, 1e-2]),
    state_dtype=state_dtypes,
)
def test_schedule_free_sgd(spec, learning_rate, warmup_steps, b1, weight_decay, state_dtype):
  args = (learning_rate, warmup_steps, b1, weight_decay, 2.0, state_dtype)
  ours, theirs = fo.contrib.schedule_free_sgd(*args), optax.contrib.schedule_free_sgd(*args)
  _assert_same_trajectory_and_eval_params(ours, theirs, spec)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-3, 1.0),
    warmup_steps=st.sampled_from([None, 3]),
    b1=st.floats(0.05, 1.0),
    b2=st.floats(0.0, 0.999),
    eps=st.sampled_from([1e-8, 1e-3]),
    weight_decay=st.floats(0.0, 0.1),
    weight_lr_power=st.floats(0.0, 3.0),
)
def test_schedule_free_adamw(spec, learning_rate, warmup_steps, b1, b2, eps, weight_decay,
                             weight_lr_power):
  args = (learning_rate, warmup_steps, b1, b2, eps, weight_decay, weight_lr_power)
  ours, theirs = fo.contrib.schedule_free_adamw(*args), optax.contrib.schedule_free_adamw(*args)
  _assert_same_trajectory_and_eval_params(ours, theirs, spec)


@given(spec=parity.pytrees((parity.COMPLEX64,)), learning_rate=st.floats(1e-3, 1.0))
def test_schedule_free_complex(spec, learning_rate):
  parity.assert_same_trajectory(
      fo.contrib.schedule_free(fo.sgd(learning_rate), learning_rate, state_dtype="complex64"),
      optax.contrib.schedule_free(optax.sgd(learning_rate), learning_rate,
                                  state_dtype="complex64"),
      spec,
  )


def test_state_keeps_the_lowest_params_dtype():
  params = {"a": jnp.zeros(2, jnp.bfloat16), "b": jnp.zeros(3, jnp.float32)}
  tx = fo.contrib.schedule_free_adamw()
  state = tx.init(params)
  updates, new_state = jax.jit(tx.update)(params, state, params)
  assert state.max_lr.dtype == jnp.bfloat16
  assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, params)
  assert jax.tree.structure(new_state) == jax.tree.structure(state)


def test_eval_params_reject_other_states():
  with pytest.raises(ValueError, match="ScheduleFreeState"):
    fo.contrib.schedule_free_eval_params(
        fo.contrib.ScheduleFreeState(None, 0.0, 1, 0.0, (), None), jnp.zeros(2)
    )


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.contrib.schedule_free_sgd, dict(b1=0.0), "b1"),
        (fo.contrib.schedule_free_sgd, dict(b1=1.5), "b1"),
        (fo.contrib.schedule_free_sgd, dict(learning_rate=-1.0), "learning_rate"),
        (fo.contrib.schedule_free_sgd, dict(weight_decay=-1.0), "weight_decay"),
        (fo.contrib.schedule_free_adamw, dict(b2=1.0), "b2"),
        (fo.contrib.schedule_free_adamw, dict(eps=-1.0), "eps"),
        (fo.contrib.schedule_free_adamw, dict(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_rejects_invalid(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)


def test_params_and_state_can_be_donated():
  tx = fo.contrib.schedule_free_sgd()
  params = jnp.array([-1.0, 10.0, 1.0])
  step = jax.jit(lambda p, s: tx.update(p, s, p), donate_argnums=(0, 1))
  updates, _ = step(params, tx.init(params))  # z is a copy, not an alias of the params
  assert updates.shape == (3,)
