"""chain and named_chain against optax."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _members(lib, names):
  """Stateful members (plus one reading the extra arg `value`), built from `lib`."""

  def value_update(updates, state, params=None, *, value):
    del params
    return jax.tree.map(lambda u: (u * value).astype(u.dtype), updates), state

  builders = {
      "adam": lambda: lib.scale_by_adam(),
      "trace": lambda: lib.trace(0.9),
      "schedule": lambda: lib.scale_by_schedule(lambda c: 0.1 / (1 + c)),
      "decay": lambda: lib.add_decayed_weights(0.01),
      "value": lambda: lib.GradientTransformationExtraArgs(lib.init_empty_state, value_update),
      "lr": lambda: lib.scale(-0.1),
  }
  return [builders[name]() for name in names]


# optax.chain() with no members fails (it unzips an empty list); ours is the
# identity, tested in test_chain_is_extra_args_transformation.
member_names = st.lists(
    st.sampled_from(["adam", "trace", "schedule", "decay", "value", "lr"]), min_size=1, max_size=4
)
extra_args_fn = lambda p, g: {"value": jnp.float32(0.5)}


@given(spec=parity.pytrees(parity.ALL_DTYPES), names=member_names)
def test_chain(spec, names):
  parity.assert_same_trajectory(
      fo.chain(*_members(fo, names)),
      optax.chain(*_members(optax, names)),
      spec,
      extra_args_fn=extra_args_fn,
  )


@given(spec=parity.pytrees(parity.ALL_DTYPES), names=member_names)
def test_named_chain(spec, names):
  labels = [f"{name}_{i}" for i, name in enumerate(names)]
  ours = fo.named_chain(*zip(labels, _members(fo, names)))
  theirs = optax.named_chain(*zip(labels, _members(optax, names)))
  parity.assert_same_trajectory(ours, theirs, spec, extra_args_fn=extra_args_fn)
  state = ours.init(spec.build())
  assert isinstance(state, collections.OrderedDict) and list(state) == labels


def test_extra_args_reach_only_members_that_accept_them():
  seen = {}

  def update_fn(updates, state, params=None, **extra_args):
    seen.update(extra_args)
    return updates, state

  reader = fo.GradientTransformationExtraArgs(fo.init_empty_state, update_fn)
  for tx in (
      fo.chain(fo.scale(2.0), reader, fo.trace(0.5)),
      fo.named_chain(("scale", fo.scale(2.0)), ("reader", reader), ("trace", fo.trace(0.5))),
  ):
    seen.clear()
    updates, _ = tx.update(jnp.ones(1), tx.init(jnp.ones(1)), value=1.5, other="x")
    assert seen == {"value": 1.5, "other": "x"}
    np.testing.assert_array_equal(updates, [2.0])


def test_chain_is_extra_args_transformation():
  assert isinstance(fo.chain(), fo.GradientTransformationExtraArgs)
  assert isinstance(fo.named_chain(), fo.GradientTransformationExtraArgs)
  tx = fo.chain()
  assert tx.update(1.0, tx.init(0.0))[0] == 1.0


def test_chain_rejects_mismatched_state():
  tx = fo.chain(fo.scale(1.0), fo.scale(2.0))
  with pytest.raises(ValueError, match="chain"):
    tx.update(jnp.ones(1), (fo.EmptyState(),))


def test_named_chain_rejects_duplicate_names():
  with pytest.raises(ValueError, match="unique"):
    fo.named_chain(("a", fo.scale(1.0)), ("a", fo.scale(2.0)))
