"""trace, ema, sgd, noisy_sgd against optax."""

import jax
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# None keeps the params' dtype; a real accumulator dtype is replaced by complex64
# for complex params (casting a complex trace to a real dtype would drop it).
accumulator_dtypes = st.sampled_from([None, "float32", "bfloat16"])


def _accumulator_for(spec, accumulator_dtype):
  if spec.dtype == parity.COMPLEX64 and accumulator_dtype is not None:
    return "complex64"
  return accumulator_dtype


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    decay=st.floats(0.0, 1.0),
    nesterov=st.booleans(),
    accumulator_dtype=accumulator_dtypes,
)
def test_trace(spec, decay, nesterov, accumulator_dtype):
  accumulator_dtype = _accumulator_for(spec, accumulator_dtype)
  parity.assert_same_trajectory(
      fo.trace(decay, nesterov, accumulator_dtype),
      optax.trace(decay, nesterov, accumulator_dtype),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    decay=st.floats(0.0, 0.999),
    debias=st.booleans(),
    accumulator_dtype=accumulator_dtypes,
)
def test_ema(spec, decay, debias, accumulator_dtype):
  accumulator_dtype = _accumulator_for(spec, accumulator_dtype)
  parity.assert_same_trajectory(
      fo.ema(decay, debias, accumulator_dtype),
      optax.ema(decay, debias, accumulator_dtype),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(1e-4, 1.0)
    | st.floats(0.5, 1.0).map(lambda decay: lambda count: 0.1 * decay**count),
    momentum=st.none() | st.floats(0.0, 0.99),
    nesterov=st.booleans(),
    accumulator_dtype=accumulator_dtypes,
)
def test_sgd(spec, learning_rate, momentum, nesterov, accumulator_dtype):
  accumulator_dtype = _accumulator_for(spec, accumulator_dtype)
  parity.assert_same_trajectory(
      fo.sgd(learning_rate, momentum, nesterov, accumulator_dtype),
      optax.sgd(learning_rate, momentum, nesterov, accumulator_dtype),
      spec,
  )


# Compiling the random sampling is slow: at most two leaves per tree.
@given(
    spec=parity.pytrees(parity.ALL_DTYPES, max_leaves=2),
    learning_rate=st.floats(1e-4, 1.0),
    eta=st.floats(0.0, 1.0),
    gamma=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**31 - 1),
    key_kind=st.sampled_from(["int", "typed", "seed keyword"]),
)
def test_noisy_sgd(spec, learning_rate, eta, gamma, seed, key_kind):
  if key_kind == "seed keyword":
    ours = fo.noisy_sgd(learning_rate, eta, gamma, seed=seed)
    theirs = optax.noisy_sgd(learning_rate, eta, gamma, seed=seed)
  else:
    key = jax.random.key(seed) if key_kind == "typed" else seed
    ours = fo.noisy_sgd(learning_rate, eta, gamma, key)
    theirs = optax.noisy_sgd(learning_rate, eta, gamma, key)
  parity.assert_same_trajectory(ours, theirs, spec)


def test_noisy_sgd_key_and_seed_rejected():
  with pytest.raises(ValueError):
    fo.noisy_sgd(0.1, key=0, seed=0)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fo.trace(decay=-0.1), "decay"),
        (lambda: fo.trace(decay=1.5), "decay"),
        (lambda: fo.ema(decay=1.0), "decay"),
        (lambda: fo.ema(decay=-0.5), "decay"),
        (lambda: fo.sgd(learning_rate=-0.1), "learning_rate"),
        (lambda: fo.sgd(0.1, momentum=-0.1), "momentum"),
        (lambda: fo.sgd(0.1, momentum=1.1), "momentum"),
        (lambda: fo.noisy_sgd(learning_rate=-0.1), "learning_rate"),
        (lambda: fo.noisy_sgd(0.1, eta=-1.0), "eta"),
        (lambda: fo.noisy_sgd(0.1, gamma=-1.0), "gamma"),
    ],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()
