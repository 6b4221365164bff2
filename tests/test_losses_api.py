"""functional_optim.losses against optax.losses: names, signatures, aliases, deprecations.

Also holds `assert_same_loss`, the value-and-gradient comparison the other
`test_losses_*` files share.
"""

import importlib
import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import functional_optim as fo
import parity

FAMILIES = [
    "_classification",
    "_fenchel_young",
    "_ranking",
    "_regression",
    "_segmentation",
    "_self_supervised",
    "_smoothing",
]


def assert_same_loss(
    ours, theirs, args, kwargs=None, *, grad_argnums=(0,), dtype=parity.FLOAT32, jit=True
):
  """Ours and optax's loss agree in value and in the gradient of the summed outputs.

  `args` are positional arrays (traced under `jit`); `kwargs` are bound as constants.
  """
  kwargs = kwargs or {}

  def value_and_grad(fn):
    def run(*a):
      out = fn(*a, **kwargs)
      if not grad_argnums:
        return out, None
      total = lambda *x: sum(jnp.sum(leaf) for leaf in jax.tree.leaves(fn(*x, **kwargs)))
      return out, jax.grad(total, grad_argnums)(*a)

    return (jax.jit(run) if jit else run)(*args)  # one compilation per implementation

  (our_value, our_grad), (their_value, their_grad) = map(value_and_grad, (ours, theirs))
  parity.assert_trees_close(our_value, their_value, dtype, "value")
  parity.assert_trees_close(our_grad, their_grad, dtype, "gradient")


def random_array(seed, shape, dtype=parity.FLOAT32, scale=1.0):
  """A normal array (`scale`-scaled) of `shape`, from `seed`."""
  rng = np.random.default_rng(seed)
  return jnp.asarray(scale * rng.normal(size=shape).astype(np.float32), jnp.dtype(dtype))


def _public(module):
  return sorted(name for name in dir(module) if not name.startswith("_"))


def _parameters(fn):
  return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def test_the_namespace_is_optaxs():
  assert _public(fo.losses) == _public(optax.losses)
  assert sorted(fo.losses.__all__) == _public(optax.losses)


@pytest.mark.parametrize("name", _public(optax.losses))
def test_signatures_match(name):
  assert _parameters(getattr(fo.losses, name)) == _parameters(getattr(optax.losses, name))


def test_top_level_aliases_are_the_losses():
  names = [name for name in dir(optax) if name in set(_public(optax.losses))]
  assert len(names) >= 19
  for name in names:
    assert getattr(fo, name) is getattr(fo.losses, name), name


@pytest.mark.parametrize("family", FAMILIES)
def test_family_modules_hold_optaxs_names(family):
  # optax's own tests reach the losses through these private modules.
  theirs = importlib.import_module(f"optax.losses.{family}")
  ours = importlib.import_module(f"functional_optim.losses.{family}")
  names = [
      name
      for name, value in vars(theirs).items()
      if callable(value)
      and getattr(value, "__module__", None) == theirs.__name__
      and not name.startswith(("_", "canonicalize"))
      and not inspect.isclass(value)
  ]
  assert names
  for name in names:
    assert callable(getattr(ours, name, None)), f"{family}.{name}"


@pytest.mark.parametrize(
    "name, replacement",
    [
        ("convex_kl_divergence", "generalized_kl_divergence"),
        ("binary_logistic_loss", "sigmoid_binary_cross_entropy"),
        ("multiclass_logistic_loss", "softmax_cross_entropy_with_integer_labels"),
        ("binary_sparsemax_loss", "sparsemax_loss"),
    ],
)
def test_deprecated_names_warn_and_agree(name, replacement):
  from functional_optim.losses import _classification

  logits = jnp.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])
  labels = (
      jnp.array([0, 2])
      if name == "multiclass_logistic_loss"
      else jnp.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
  )
  if name == "convex_kl_divergence":
    logits = jax.nn.log_softmax(logits)
  with pytest.warns(DeprecationWarning, match=f"use {replacement}"):
    got = getattr(_classification, name)(logits, labels)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    np.testing.assert_array_equal(got, getattr(_classification, replacement)(logits, labels))
