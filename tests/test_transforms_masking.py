"""masked against optax: tree, callable and nested prefix masks, stateful inner
transformations and extra arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def random_mask(spec, mask_seed):
  """A full tree of booleans shaped like `spec.build()`."""
  rng = np.random.default_rng(mask_seed)
  return jax.tree.map(lambda _: bool(rng.integers(2)), spec.build())


def random_prefix_mask(spec, mask_seed):
  """Booleans per leaf under "dense", one boolean for all of "extra"."""
  rng = np.random.default_rng(mask_seed)
  params = spec.build()
  return {
      "dense": jax.tree.map(lambda _: bool(rng.integers(2)), params["dense"]),
      "extra": bool(rng.integers(2)),
  }


MASK_KINDS = ["tree", "nested prefix", "callable", "all", "none"]


def make_mask(kind, spec, mask_seed):
  if kind == "tree":
    return random_mask(spec, mask_seed)
  if kind == "nested prefix":
    return random_prefix_mask(spec, mask_seed)
  if kind == "callable":
    return lambda params: jax.tree.map(lambda x: x.ndim > 1, params)
  return kind == "all"


# The inner transformations: stateless, and with state kept per masked-in leaf.
INNERS = {
    "sgd": lambda lib: lib.sgd(0.1),
    "momentum": lambda lib: lib.sgd(0.1, momentum=0.9, nesterov=True),
    "ema": lambda lib: lib.chain(lib.ema(0.9), lib.scale(-0.1)),
}


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    mask_kind=st.sampled_from(MASK_KINDS),
    mask_seed=st.integers(0, 2**16),
    inner=st.sampled_from(sorted(INNERS)),
)
def test_masked(spec, mask_kind, mask_seed, inner):
  mask = make_mask(mask_kind, spec, mask_seed)
  parity.assert_same_trajectory(
      fo.masked(INNERS[inner](fo), mask), optax.masked(INNERS[inner](optax), mask), spec
  )


def offset_by_extra_arg(lib):
  """An inner transformation adding `0.1 * offset`, `offset` a tree like the updates."""

  def update_fn(updates, state, params=None, *, offset=None, **extra_args):
    del params, extra_args
    return jax.tree.map(lambda u, o: u + 0.1 * o, updates, offset), state

  return lib.GradientTransformationExtraArgs(lambda params: lib.EmptyState(), update_fn)


@given(
    spec=parity.pytrees(parity.REAL_DTYPES),
    mask_kind=st.sampled_from(["tree", "nested prefix", "callable"]),
    mask_seed=st.integers(0, 2**16),
)
def test_masked_compatible_extra_args(spec, mask_kind, mask_seed):
  mask = make_mask(mask_kind, spec, mask_seed)
  parity.assert_same_trajectory(
      fo.masked(offset_by_extra_arg(fo), mask, mask_compatible_extra_args=True),
      optax.masked(offset_by_extra_arg(optax), mask, mask_compatible_extra_args=True),
      spec,
      extra_args_fn=lambda params, grads: {"offset": params, "value": jnp.sum(grads["dense"]["w0"])},
  )


def test_masked_leaves_other_extra_args_alone():
  seen = {}

  def update_fn(updates, state, params=None, **extra_args):
    del params
    seen.update(extra_args)
    return updates, state

  inner = fo.GradientTransformationExtraArgs(fo.init_empty_state, update_fn)
  params = {"a": jnp.ones(2), "b": jnp.ones(3)}
  mask = {"a": True, "b": False}
  tags = {"a": 1.0, "b": 2.0}
  for compatible in (False, True):
    tx = fo.masked(inner, mask, mask_compatible_extra_args=compatible)
    tx.update(params, tx.init(params), params, tags=tags, value=3.0, other=[1.0])
    assert seen["value"] == 3.0 and seen["other"] == [1.0]
    assert seen["tags"] == ({"a": 1.0, "b": fo.MaskedNode()} if compatible else tags)


def test_masked_state_holds_only_masked_in_leaves():
  params = {"a": jnp.ones(2), "b": jnp.ones(3)}
  state = fo.masked(fo.sgd(0.1, momentum=0.9), {"a": True, "b": False}).init(params)
  assert isinstance(state, fo.MaskedState)
  assert isinstance(state.inner_state[0].trace["b"], fo.MaskedNode)
  leaves = jax.tree.leaves(state)
  assert len(leaves) == 1 and leaves[0] is state.inner_state[0].trace["a"]
