"""contrib.scale_by_adopt and contrib.adopt against optax."""

import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# A real momentum dtype would drop the imaginary part of a complex momentum.
mu_dtypes = st.sampled_from([None, "float32", "bfloat16"])


def _mu_dtype_for(spec, mu_dtype):
  if spec.dtype == parity.COMPLEX64 and mu_dtype is not None:
    return "complex64"
  return mu_dtype


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.9999),
    eps=st.sampled_from([1e-6, 1e-2]),
    mu_dtype=mu_dtypes,
    nesterov=st.booleans(),
    use_clipping=st.booleans(),
)
def test_scale_by_adopt(spec, b1, b2, eps, mu_dtype, nesterov, use_clipping):
  mu_dtype = _mu_dtype_for(spec, mu_dtype)
  # Complex values cannot be clipped (optax raises as well).
  use_clipping = use_clipping and spec.dtype != parity.COMPLEX64
  kwargs = dict(nesterov=nesterov, use_clipping=use_clipping)
  parity.assert_same_trajectory(
      fo.contrib.scale_by_adopt(b1, b2, eps, mu_dtype, **kwargs),
      optax.contrib.scale_by_adopt(b1, b2, eps, mu_dtype, **kwargs),
      spec,
  )


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0),
    b1=st.floats(0.0, 1.0),
    b2=st.floats(0.0, 0.9999),
    clip=st.sampled_from([0.5, 2.0]),
    nesterov=st.booleans(),
)
def test_adopt(spec, learning_rate, b1, b2, clip, nesterov):
  clip_value_fn = lambda count: clip * (count + 1.0) ** 0.5
  kwargs = dict(nesterov=nesterov, clip_value_fn=clip_value_fn)
  parity.assert_same_trajectory(
      fo.contrib.adopt(learning_rate, b1, b2, **kwargs),
      optax.contrib.adopt(learning_rate, b1, b2, **kwargs),
      spec,
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.5, 1.0))
def test_adopt_schedule(spec, decay):
  learning_rate = lambda count: 0.1 * decay**count
  parity.assert_same_trajectory(
      fo.contrib.adopt(learning_rate), optax.contrib.adopt(learning_rate), spec
  )


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(b1=-0.1), "b1"), (dict(b1=1.5), "b1"), (dict(b2=2.0), "b2"), (dict(eps=-1.0), "eps")],
)
def test_rejects_invalid(kwargs, name):
  with pytest.raises(ValueError, match=name):
    fo.contrib.scale_by_adopt(**kwargs)
  with pytest.raises(ValueError, match=name):
    fo.contrib.adopt(0.1, **kwargs)
