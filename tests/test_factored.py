"""scale_by_factored_rms and adafactor against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Sides up to 6 with thresholds down to 1 make most leaves of rank >= 2 factored
# (128, optax's default, factors none of them).
trees = parity.pytrees(parity.ALL_DTYPES, max_side=6)
min_dim_sizes = st.sampled_from((0, 1, 2, 3, 5, 128))
decay_rates = st.floats(0.1, 1.0)  # exponent of the default schedule 1 - (t + 1)**-decay_rate
offsets = st.integers(-5, 0)  # a positive offset needs a state whose count has passed it
epsilons = st.floats(1e-30, 1e-3)
learning_rates = st.one_of(
    st.none(),
    st.floats(1e-4, 1.0),
    st.floats(0.5, 1.0).map(lambda rate: (lambda count: 0.1 * rate**count)),
)


def _capped_decay(step, decay_rate):
  """A schedule bounded by `decay_rate` (Zhai et al., 2021)."""
  return jnp.minimum(decay_rate, 1.0 - (step + 1.0) ** -0.8)


def _matrices_only(params):
  return jax.tree.map(lambda p: p.ndim >= 2, params)


@given(
    spec=trees,
    factored=st.booleans(),
    decay_rate=decay_rates,
    step_offset=offsets,
    min_dim_size_to_factor=min_dim_sizes,
    epsilon=epsilons,
)
def test_scale_by_factored_rms(spec, factored, decay_rate, step_offset, min_dim_size_to_factor,
                               epsilon):
  kwargs = dict(
      factored=factored,
      decay_rate=decay_rate,
      step_offset=step_offset,
      min_dim_size_to_factor=min_dim_size_to_factor,
      epsilon=epsilon,
  )
  parity.assert_same_trajectory(
      fo.scale_by_factored_rms(**kwargs), optax.scale_by_factored_rms(**kwargs), spec
  )


@given(spec=trees, decay_rate=st.floats(0.0, 0.999), min_dim_size_to_factor=min_dim_sizes)
def test_scale_by_factored_rms_decay_rate_fn(spec, decay_rate, min_dim_size_to_factor):
  kwargs = dict(
      decay_rate=decay_rate,
      min_dim_size_to_factor=min_dim_size_to_factor,
      decay_rate_fn=_capped_decay,
  )
  parity.assert_same_trajectory(
      fo.scale_by_factored_rms(**kwargs), optax.scale_by_factored_rms(**kwargs), spec
  )


def test_factored_state_shapes():
  params = {"m": jnp.ones((4, 2, 3)), "v": jnp.ones(5), "s": jnp.ones(())}
  state = fo.scale_by_factored_rms(min_dim_size_to_factor=3).init(params)
  # Factored over the two largest axes, 0 (the largest) and 2: v_row drops axis 0
  # (the largest), v_col axis 2.
  assert state.v_row["m"].shape == (2, 3) and state.v_col["m"].shape == (4, 2)
  assert state.v["m"].shape == (1,)
  assert state.v["v"].shape == (5,) and state.v_row["v"].shape == (1,)
  assert state.v["s"].shape == ()


@given(
    spec=trees,
    learning_rate=learning_rates,
    min_dim_size_to_factor=min_dim_sizes,
    decay_rate=decay_rates,
    decay_offset=offsets,
    multiply_by_parameter_scale=st.booleans(),
    clipping_threshold=st.none() | st.floats(0.5, 2.0),
    momentum=st.none() | st.floats(0.0, 0.99),
    dtype_momentum=st.sampled_from((jnp.float32, jnp.bfloat16)),
    weight_decay_rate=st.none() | st.floats(0.0, 0.1),
    eps=epsilons,
    factored=st.booleans(),
    use_mask=st.booleans(),
)
def test_adafactor(
    spec, learning_rate, min_dim_size_to_factor, decay_rate, decay_offset,
    multiply_by_parameter_scale, clipping_threshold, momentum, dtype_momentum, weight_decay_rate,
    eps, factored, use_mask,
):
  if spec.dtype == parity.COMPLEX64:
    # A real momentum buffer would drop the imaginary parts (in optax too).
    dtype_momentum = jnp.complex64
  kwargs = dict(
      learning_rate=learning_rate,
      min_dim_size_to_factor=min_dim_size_to_factor,
      decay_rate=decay_rate,
      decay_offset=decay_offset,
      multiply_by_parameter_scale=multiply_by_parameter_scale,
      clipping_threshold=clipping_threshold,
      momentum=momentum,
      dtype_momentum=dtype_momentum,
      weight_decay_rate=weight_decay_rate,
      eps=eps,
      factored=factored,
      weight_decay_mask=_matrices_only if use_mask else None,
  )
  parity.assert_same_trajectory(fo.adafactor(**kwargs), optax.adafactor(**kwargs), spec)


def test_update_needs_params():
  tx = fo.scale_by_factored_rms()
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_factored_rms, dict(decay_rate=-0.8), "decay_rate"),
        (fo.scale_by_factored_rms, dict(min_dim_size_to_factor=-1), "min_dim_size_to_factor"),
        (fo.scale_by_factored_rms, dict(epsilon=-1e-30), "epsilon"),
        (fo.adafactor, dict(learning_rate=-0.1), "learning_rate"),
        (fo.adafactor, dict(min_dim_size_to_factor=-2), "min_dim_size_to_factor"),
        (fo.adafactor, dict(decay_rate=-1.0), "decay_rate"),
        (fo.adafactor, dict(clipping_threshold=0.0), "clipping_threshold"),
        (fo.adafactor, dict(momentum=1.0), "momentum"),
        (fo.adafactor, dict(weight_decay_rate=-0.1), "weight_decay_rate"),
        (fo.adafactor, dict(eps=-1.0), "eps"),
    ],
)
def test_invalid_hyperparameters_raise(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)


@pytest.mark.parametrize("masked_node", [False, True])
def test_params_without_leaves(masked_node):
  # A params tree with no leaves: what `masked` and `partition` pass a transformation
  # whose group is empty. optax handles it; init used to fail on it here.
  for lib in (fo, optax):
    params = {"w": lib.MaskedNode()} if masked_node else {}
    tx = lib.scale_by_factored_rms()
    updates, state = tx.update(params, tx.init(params), params)
    assert updates == params and state.v_row == params and int(state.count) == 1


def test_adafactor_in_an_unused_partition_and_all_false_mask():
  params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
  grads = jax.tree.map(lambda p: 0.5 * p, params)
  for make in (
      lambda lib: lib.partition({"factored": lib.adafactor(0.1), "sgd": lib.sgd(0.1)},
                                {"w": "sgd", "b": "sgd"}),
      lambda lib: lib.masked(lib.adafactor(0.1), {"w": False, "b": False}),
  ):
    ours, theirs = make(fo), make(optax)
    parity.assert_trees_close(
        ours.update(grads, ours.init(params), params)[0],
        theirs.update(grads, theirs.init(params), params)[0],
    )
