"""scale_by_adam, scale_by_amsgrad, adam, adamw, nadam, nadamw, amsgrad against optax."""

import jax.numpy as jnp
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

decay_rates = st.floats(0.0, 0.999)
epsilons = st.floats(0.0, 1e-3)
weight_decays = st.floats(0.0, 0.1)
mu_dtypes = st.sampled_from((None, jnp.bfloat16, "bfloat16", jnp.float32))


def _real_mu_dtype(mu_dtype, spec):
  # mu_dtype is only meaningful for real params: a real accumulator drops the
  # imaginary part of complex gradients (in optax too).
  return None if spec.dtype == parity.COMPLEX64 else mu_dtype


@st.composite
def learning_rates(draw):
  """A constant learning rate or an exponentially decaying schedule."""
  base = draw(st.floats(1e-4, 1.0))
  if draw(st.booleans()):
    decay = draw(st.floats(0.5, 1.0))
    return lambda count: base * decay**count
  return base


def decoupled_mask(mask_first):
  """Decays the "dense" leaves, or the "extra" ones, of a `parity.TreeSpec` tree."""
  return lambda params: {
      "dense": {k: mask_first for k in params["dense"]},
      "extra": tuple(not mask_first for _ in params["extra"]),
  }


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    mu_dtype=mu_dtypes,
    nesterov=st.booleans(),
)
def test_scale_by_adam(spec, b1, b2, eps, eps_root, mu_dtype, nesterov):
  kwargs = dict(b1=b1, b2=b2, eps=eps, eps_root=eps_root,
                mu_dtype=_real_mu_dtype(mu_dtype, spec), nesterov=nesterov)
  parity.assert_same_trajectory(fo.scale_by_adam(**kwargs), optax.scale_by_adam(**kwargs), spec)


def test_scale_by_adam_mu_dtype_is_honoured():
  params = {"w": jnp.ones(3, jnp.float32)}
  tx = fo.scale_by_adam(mu_dtype=jnp.bfloat16)
  state = tx.init(params)
  assert state.mu["w"].dtype == jnp.bfloat16
  _, state = tx.update(params, state)
  assert state.mu["w"].dtype == jnp.bfloat16
  assert state.nu["w"].dtype == jnp.float32


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    mu_dtype=mu_dtypes,
    bias_correction_mu=st.booleans(),
    bias_correction_nu=st.booleans(),
)
def test_scale_by_amsgrad(
    spec, b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu
):
  kwargs = dict(
      b1=b1,
      b2=b2,
      eps=eps,
      eps_root=eps_root,
      mu_dtype=_real_mu_dtype(mu_dtype, spec),
      bias_correction_mu=bias_correction_mu,
      bias_correction_nu=bias_correction_nu,
  )
  parity.assert_same_trajectory(
      fo.scale_by_amsgrad(**kwargs), optax.scale_by_amsgrad(**kwargs), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    name=st.sampled_from(("adam", "nadam")),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    mu_dtype=mu_dtypes,
    nesterov=st.booleans(),
)
def test_adam_and_nadam(spec, name, learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov):
  args = (learning_rate, b1, b2, eps, eps_root, _real_mu_dtype(mu_dtype, spec))
  kwargs = dict(nesterov=nesterov) if name == "adam" else {}
  parity.assert_same_trajectory(
      getattr(fo, name)(*args, **kwargs), getattr(optax, name)(*args, **kwargs), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES, min_leaves=2),
    name=st.sampled_from(("adamw", "nadamw")),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    mu_dtype=mu_dtypes,
    weight_decay=st.one_of(weight_decays, learning_rates()),
    mask_first=st.one_of(st.none(), st.booleans()),
    nesterov=st.booleans(),
)
def test_adamw_and_nadamw(
    spec, name, learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask_first, nesterov
):
  mask = None if mask_first is None else decoupled_mask(mask_first)
  args = (learning_rate, b1, b2, eps, eps_root, _real_mu_dtype(mu_dtype, spec), weight_decay, mask)
  kwargs = dict(nesterov=nesterov) if name == "adamw" else {}
  parity.assert_same_trajectory(
      getattr(fo, name)(*args, **kwargs), getattr(optax, name)(*args, **kwargs), spec
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    learning_rate=learning_rates(),
    b1=decay_rates,
    b2=decay_rates,
    eps=epsilons,
    eps_root=epsilons,
    mu_dtype=mu_dtypes,
    bias_correction_mu=st.booleans(),
    bias_correction_nu=st.booleans(),
)
def test_amsgrad(
    spec, learning_rate, b1, b2, eps, eps_root, mu_dtype, bias_correction_mu, bias_correction_nu
):
  args = (learning_rate, b1, b2, eps, eps_root, _real_mu_dtype(mu_dtype, spec),
          bias_correction_mu, bias_correction_nu)
  parity.assert_same_trajectory(fo.amsgrad(*args), optax.amsgrad(*args), spec)


def test_nadam_is_adam_with_nesterov():
  params = jnp.array([1.0, -2.0, 0.5])
  for ours, reference in ((fo.nadam(0.1), fo.adam(0.1, nesterov=True)),
                          (fo.nadam(0.1, nesterov=False), fo.adam(0.1))):
    updates, _ = ours.update(params, ours.init(params))
    expected, _ = reference.update(params, reference.init(params))
    assert jnp.array_equal(updates, expected)


@pytest.mark.parametrize(
    "factory",
    [fo.scale_by_adam, fo.scale_by_amsgrad,
     lambda **kw: fo.adam(0.1, **kw), lambda **kw: fo.adamw(0.1, **kw),
     lambda **kw: fo.nadam(0.1, **kw), lambda **kw: fo.nadamw(0.1, **kw),
     lambda **kw: fo.amsgrad(0.1, **kw)],
)
@pytest.mark.parametrize(
    "name, value",
    [("b1", -0.1), ("b1", 1.0), ("b2", -0.5), ("b2", 1.0), ("eps", -1e-8), ("eps_root", -1.0)],
)
def test_invalid_hyperparameters(factory, name, value):
  with pytest.raises(ValueError, match=name):
    factory(**{name: value})


@pytest.mark.parametrize(
    "factory",
    [fo.adam, fo.adamw, fo.nadam, fo.nadamw, fo.amsgrad],
)
def test_invalid_learning_rate(factory):
  with pytest.raises(ValueError, match="learning_rate"):
    factory(-0.1)


def test_invalid_weight_decay():
  with pytest.raises(ValueError, match="weight_decay"):
    fo.adamw(0.1, weight_decay=-1.0)
