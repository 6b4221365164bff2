"""contrib.reduce_on_plateau against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _stalling_value(params, grads):
  """A coarse loss: it stalls for several steps, so plateaus are reached."""
  del grads
  return dict(value=jnp.floor(4.0 * fo.tree.norm(params)) / 4.0)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    factor=st.floats(0.1, 0.9),
    patience=st.integers(0, 3),
    rtol=st.sampled_from([0.0, 1e-4, 0.1]),
    atol=st.sampled_from([0.0, 0.05]),
    cooldown=st.integers(0, 2),
    accumulation_size=st.integers(1, 3),
    min_scale=st.sampled_from([0.0, 0.2]),
)
def test_reduce_on_plateau(
    spec, factor, patience, rtol, atol, cooldown, accumulation_size, min_scale
):
  if rtol == 0.0 and atol == 0.0:
    rtol = 1e-4
  kwargs = dict(
      factor=factor, patience=patience, rtol=rtol, atol=atol, cooldown=cooldown,
      accumulation_size=accumulation_size, min_scale=min_scale,
  )
  parity.assert_same_trajectory(
      fo.chain(fo.sgd(0.1), fo.contrib.reduce_on_plateau(**kwargs)),
      optax.chain(optax.sgd(0.1), optax.contrib.reduce_on_plateau(**kwargs)),
      spec,
      num_steps=20,
      extra_args_fn=_stalling_value,
  )


def test_scale_drops_after_patience_then_cools_down():
  tx = fo.contrib.reduce_on_plateau(factor=0.5, patience=2, cooldown=1)
  updates = jnp.ones(2)
  state = tx.init(updates)
  scales = []
  for _ in range(7):
    _, state = tx.update(updates, state, value=1.0)
    scales.append(float(state.scale))
  # Best at step 1; no improvement at 2, 3 -> halve; cooldown at 4; 5, 6 -> halve.
  assert scales == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_works_under_inject_hyperparams():
  """The checks let injected (array) hyperparameters through, so this traces (optax's raise)."""
  injected = fo.inject_hyperparams(fo.contrib.reduce_on_plateau)(factor=0.5, patience=1)
  plain = fo.contrib.reduce_on_plateau(factor=0.5, patience=1)
  params = jnp.ones(2)
  injected_state, plain_state = injected.init(params), plain.init(params)
  for value in [1.0, 1.0, 0.5, 0.5, 0.5]:
    injected_updates, injected_state = injected.update(params, injected_state, value=value)
    plain_updates, plain_state = plain.update(params, plain_state, value=value)
    assert injected_updates.tolist() == plain_updates.tolist()
  assert plain_updates.tolist() == [0.125, 0.125]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(factor=0.0), "factor"),
        (dict(factor=1.0), "factor"),
        (dict(rtol=-0.1), "rtol"),
        (dict(rtol=1.5), "rtol"),
        (dict(atol=-0.1), "atol"),
        (dict(rtol=0.0, atol=0.0), "rtol or atol"),
        (dict(patience=-1), "patience"),
        (dict(cooldown=-1), "cooldown"),
        (dict(accumulation_size=0), "accumulation_size"),
        (dict(min_scale=-1.0), "min_scale"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.reduce_on_plateau(**kwargs)
