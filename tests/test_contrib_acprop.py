"""contrib.scale_by_acprop and contrib.acprop against optax."""

import jax
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.999),
    eps=st.sampled_from([1e-16, 1e-3]),
    eps_root=st.sampled_from([0.0, 1e-16, 1e-3]),
)
def test_scale_by_acprop(spec, b1, b2, eps, eps_root):
  parity.assert_same_trajectory(
      fo.contrib.scale_by_acprop(b1, b2, eps, eps_root),
      optax.contrib.scale_by_acprop(b1, b2, eps, eps_root),
      spec,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.999),
    weight_decay=st.floats(0.0, 0.5),
    mask=st.sampled_from([None, _decay_matrices]),
)
def test_acprop(spec, learning_rate, b1, b2, weight_decay, mask):
  parity.assert_same_trajectory(
      fo.contrib.acprop(learning_rate, b1, b2, weight_decay=weight_decay, mask=mask),
      optax.contrib.acprop(learning_rate, b1, b2, weight_decay=weight_decay, mask=mask),
      spec,
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_acprop_schedule(spec, decay):
  learning_rate = lambda count: 0.1 * decay**count
  parity.assert_same_trajectory(
      fo.contrib.acprop(learning_rate, weight_decay=1e-2),
      optax.contrib.acprop(learning_rate, weight_decay=1e-2),
      spec,
  )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(b1=-0.1), "b1"),
        (dict(b2=1.0), "b2"),
        (dict(eps=-1.0), "eps"),
        (dict(eps_root=-1.0), "eps_root"),
    ],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.scale_by_acprop(**kwargs)
  with pytest.raises(ValueError, match=name):
    fo.contrib.acprop(0.1, **kwargs)


def test_acprop_rejects_negative_weight_decay():
  with pytest.raises(ValueError, match="weight_decay"):
    fo.contrib.acprop(0.1, weight_decay=-1.0)
