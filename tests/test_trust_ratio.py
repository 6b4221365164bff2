"""scale_by_trust_ratio, scale_by_param_block_norm/rms, lars, lamb, fromage against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Masks for the trees of parity.pytrees: a prefix tree, and a function of the params.
PREFIX_MASK = {"dense": True, "extra": False}
matrices_only = lambda params: jax.tree.map(lambda x: x.ndim > 1, params)
masks = st.sampled_from([None, PREFIX_MASK, matrices_only])

min_norms = st.just(0.0) | st.floats(0.0, 1.0)


def schedules(scale):
  """Schedules `scale * decay**count`."""
  return st.floats(0.5, 1.0).map(lambda decay: lambda count: scale * decay**count)


learning_rates = st.floats(1e-4, 1.0) | schedules(0.1)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    min_norm=min_norms,
    trust_coefficient=st.floats(1e-3, 2.0),
    eps=st.just(0.0) | st.floats(0.0, 1.0),
)
def test_scale_by_trust_ratio(spec, min_norm, trust_coefficient, eps):
  parity.assert_same_trajectory(
      fo.scale_by_trust_ratio(min_norm, trust_coefficient, eps),
      optax.scale_by_trust_ratio(min_norm, trust_coefficient, eps),
      spec,
  )


def test_scale_by_trust_ratio_zero_norms_leave_updates_unscaled():
  tx = fo.scale_by_trust_ratio()
  params = {"zero_param": jnp.zeros(3), "zero_update": jnp.ones(3)}
  updates = {"zero_param": jnp.ones(3), "zero_update": jnp.zeros(3)}
  ours, _ = tx.update(updates, tx.init(params), params)
  theirs, _ = optax.scale_by_trust_ratio().update(updates, optax.EmptyState(), params)
  parity.assert_trees_close(ours, theirs)
  parity.assert_trees_close(ours, updates)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    min_scale=st.floats(0.0, 2.0),
    block=st.sampled_from(["norm", "rms"]),
)
def test_scale_by_param_block(spec, min_scale, block):
  name = f"scale_by_param_block_{block}"
  parity.assert_same_trajectory(
      getattr(fo, name)(min_scale), getattr(optax, name)(min_scale), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    weight_decay=st.floats(0.0, 0.1),
    weight_decay_mask=st.sampled_from([True, PREFIX_MASK, matrices_only]),
    trust_coefficient=st.floats(1e-4, 1.0),
    eps=st.floats(0.0, 1e-3),
    trust_ratio_mask=st.sampled_from([True, PREFIX_MASK, matrices_only]),
    momentum=st.floats(0.0, 0.99),
    nesterov=st.booleans(),
)
def test_lars(
    spec, learning_rate, weight_decay, weight_decay_mask, trust_coefficient, eps,
    trust_ratio_mask, momentum, nesterov,
):
  args = (
      learning_rate, weight_decay, weight_decay_mask, trust_coefficient, eps,
      trust_ratio_mask, momentum, nesterov,
  )
  parity.assert_same_trajectory(fo.lars(*args), optax.lars(*args), spec)


# A float32 weight-decay schedule promotes bfloat16 updates to float32 (in optax as
# well), and then lars's momentum state, which the harness's scan carry rejects.
@given(
    spec=parity.pytrees((parity.FLOAT32, parity.COMPLEX64)),
    learning_rate=learning_rates,
    weight_decay=schedules(1e-2),
)
def test_lars_weight_decay_schedule(spec, learning_rate, weight_decay):
  parity.assert_same_trajectory(
      fo.lars(learning_rate, weight_decay), optax.lars(learning_rate, weight_decay), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.0, 0.9999),
    eps=st.floats(1e-8, 1e-3),
    eps_root=st.just(0.0) | st.floats(0.0, 1e-3),
    weight_decay=st.floats(0.0, 0.1) | schedules(1e-2),
    mask=masks,
)
def test_lamb(spec, learning_rate, b1, b2, eps, eps_root, weight_decay, mask):
  args = (learning_rate, b1, b2, eps, eps_root, weight_decay, mask)
  parity.assert_same_trajectory(fo.lamb(*args), optax.lamb(*args), spec)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=st.floats(0.0, 2.0) | schedules(0.5),
    min_norm=st.floats(0.0, 1.0),
)
def test_fromage(spec, learning_rate, min_norm):
  parity.assert_same_trajectory(
      fo.fromage(learning_rate, min_norm), optax.fromage(learning_rate, min_norm), spec
  )


def test_need_params():
  for tx in (
      fo.scale_by_trust_ratio(),
      fo.scale_by_param_block_norm(),
      fo.scale_by_param_block_rms(),
  ):
    with pytest.raises(ValueError, match="params"):
      tx.update(jnp.ones(2), tx.init(jnp.ones(2)), None)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fo.scale_by_trust_ratio(min_norm=-1.0), "min_norm"),
        (lambda: fo.scale_by_trust_ratio(trust_coefficient=-1.0), "trust_coefficient"),
        (lambda: fo.scale_by_trust_ratio(eps=-1.0), "eps"),
        (lambda: fo.scale_by_param_block_norm(min_scale=-1.0), "min_scale"),
        (lambda: fo.scale_by_param_block_rms(min_scale=-1.0), "min_scale"),
        (lambda: fo.lars(learning_rate=-1.0), "learning_rate"),
        (lambda: fo.lars(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: fo.lars(0.1, trust_coefficient=-1.0), "trust_coefficient"),
        (lambda: fo.lars(0.1, eps=-1.0), "eps"),
        (lambda: fo.lars(0.1, momentum=1.5), "momentum"),
        (lambda: fo.lamb(learning_rate=-1.0), "learning_rate"),
        (lambda: fo.lamb(0.1, b1=1.0), "b1"),
        (lambda: fo.lamb(0.1, b2=-0.1), "b2"),
        (lambda: fo.lamb(0.1, eps=-1.0), "eps"),
        (lambda: fo.lamb(0.1, eps_root=-1.0), "eps_root"),
        (lambda: fo.lamb(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: fo.fromage(learning_rate=-1.0), "learning_rate"),
        (lambda: fo.fromage(0.1, min_norm=-1.0), "min_norm"),
    ],
)
def test_invalid_hyperparameters(make, name):
  with pytest.raises(ValueError, match=name):
    make()


def test_fromage_shrinks_params():
  # Fromage's negative weight decay must not be rejected by add_decayed_weights.
  params = jnp.array([3.0, 4.0])
  tx = fo.fromage(0.75)
  updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
  np.testing.assert_allclose(fo.apply_updates(params, updates), params * 0.8, rtol=1e-6)
