"""scale, scale_by_learning_rate, scale_by_schedule against optax."""

import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


@given(spec=parity.pytrees(parity.ALL_DTYPES), step_size=st.floats(-2.0, 2.0))
def test_scale(spec, step_size):
  parity.assert_same_trajectory(fo.scale(step_size), optax.scale(step_size), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    flip_sign=st.booleans(),
)
def test_scale_by_learning_rate_constant(spec, learning_rate, flip_sign):
  parity.assert_same_trajectory(
      fo.scale_by_learning_rate(learning_rate, flip_sign=flip_sign),
      optax.scale_by_learning_rate(learning_rate, flip_sign=flip_sign),
      spec,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), decay=st.floats(0.5, 1.0))
def test_scale_by_learning_rate_schedule(spec, decay):
  schedule = lambda count: 0.1 * decay**count
  parity.assert_same_trajectory(
      fo.scale_by_learning_rate(schedule), optax.scale_by_learning_rate(schedule), spec
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), decay=st.floats(0.5, 1.0))
def test_scale_by_schedule(spec, decay):
  schedule = lambda count: decay**count
  parity.assert_same_trajectory(fo.scale_by_schedule(schedule), optax.scale_by_schedule(schedule), spec)


def test_scale_by_learning_rate_none_is_identity():
  tx = fo.scale_by_learning_rate(None)
  assert tx.update(3.0, tx.init(0.0))[0] == 3.0
