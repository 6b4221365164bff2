"""scale_by_novograd and novograd against optax."""

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Deviation: optax's scale_by_novograd fails (lax.cond branches of different dtypes)
# when `mu_dtype` is wider than the gradients, e.g. bfloat16 params with float32
# momentum. Ours keeps the momentum in `mu_dtype`; parity is tested where optax runs.
OPTAX_NOVOGRAD_FAILS_ON_WIDER_MU_DTYPE = True

decay_rates = st.floats(0.0, 0.99)
epsilons = st.floats(1e-8, 1e-2)
learning_rates = st.one_of(
    st.floats(1e-4, 1.0),
    st.floats(0.5, 1.0).map(lambda rate: (lambda count: 0.1 * rate**count)),
)


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=st.floats(0.0, 1e-2),
    weight_decay=st.floats(0.0, 0.1),
)
def test_scale_by_novograd(spec, b1, b2, eps, eps_root, weight_decay):
  kwargs = dict(b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay)
  parity.assert_same_trajectory(
      fo.scale_by_novograd(**kwargs), optax.scale_by_novograd(**kwargs), spec
  )


# A real momentum drops the imaginary part of complex gradients (in optax too), and
# optax fails on a momentum wider than the params: narrower-or-equal real dtypes only.
@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    mu_dtype=st.sampled_from((None, jnp.bfloat16, "bfloat16")),
)
def test_scale_by_novograd_mu_dtype(spec, mu_dtype):
  parity.assert_same_trajectory(
      fo.scale_by_novograd(mu_dtype=mu_dtype), optax.scale_by_novograd(mu_dtype=mu_dtype), spec
  )


@given(spec=parity.pytrees((parity.BFLOAT16,)), b1=decay_rates)
def test_wider_mu_dtype_matches_optax_up_to_rounding(spec, b1):
  assert OPTAX_NOVOGRAD_FAILS_ON_WIDER_MU_DTYPE
  params = spec.build()
  with pytest.raises(TypeError):
    tx = optax.scale_by_novograd(b1=b1, mu_dtype=jnp.float32)
    tx.update(params, tx.init(params), params)
  tx = fo.scale_by_novograd(b1=b1, mu_dtype=jnp.float32)
  state = tx.init(params)
  updates, state = tx.update(params, state, params)
  assert all(m.dtype == jnp.float32 for m in jax.tree.leaves(state.mu))
  assert all(u.dtype == jnp.float32 for u in jax.tree.leaves(updates))
  # Step 2 against optax's bfloat16 momentum: equal up to bfloat16 rounding.
  theirs = optax.scale_by_novograd(b1=b1)
  their_state = theirs.update(params, theirs.init(params), params)[1]
  our_updates = tx.update(params, state, params)[0]
  their_updates = theirs.update(params, their_state, params)[0]
  parity.assert_trees_close(
      jax.tree.map(lambda u: u.astype(jnp.bfloat16), our_updates), their_updates, parity.BFLOAT16
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates,
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=st.floats(0.0, 1e-2),
    weight_decay=st.floats(0.0, 0.1),
)
def test_novograd(spec, learning_rate, b1, b2, eps, eps_root, weight_decay):
  kwargs = dict(
      learning_rate=learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root,
      weight_decay=weight_decay,
  )
  parity.assert_same_trajectory(fo.novograd(**kwargs), optax.novograd(**kwargs), spec)


def test_update_needs_params():
  tx = fo.scale_by_novograd()
  with pytest.raises(ValueError, match="params"):
    tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


@pytest.mark.parametrize(
    "factory, kwargs, name",
    [
        (fo.scale_by_novograd, dict(b1=1.0), "b1"),
        (fo.scale_by_novograd, dict(b2=-0.1), "b2"),
        (fo.scale_by_novograd, dict(eps=-1.0), "eps"),
        (fo.scale_by_novograd, dict(eps_root=-1.0), "eps_root"),
        (fo.scale_by_novograd, dict(weight_decay=-1.0), "weight_decay"),
        (fo.novograd, dict(learning_rate=-0.1), "learning_rate"),
        (fo.novograd, dict(learning_rate=0.1, b1=1.5), "b1"),
        (fo.novograd, dict(learning_rate=0.1, b2=1.0), "b2"),
        (fo.novograd, dict(learning_rate=0.1, eps=-1.0), "eps"),
        (fo.novograd, dict(learning_rate=0.1, eps_root=-1.0), "eps_root"),
        (fo.novograd, dict(learning_rate=0.1, weight_decay=-1.0), "weight_decay"),
    ],
)
def test_invalid_hyperparameters_raise(factory, kwargs, name):
  with pytest.raises(ValueError, match=name):
    factory(**kwargs)
