"""chain, named_chain and partition (multi_transform) against optax."""

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


def _transforms(lib, extra_arg_member):
  transforms = {
      "adam": lib.adam(0.05),
      "sgd": lib.sgd(0.1, momentum=0.9),
      "frozen": lib.set_to_zero(),
  }
  if extra_arg_member:
    # Reads the extra arg `target`, a tree like the updates (masked to its group).
    def update_fn(updates, state, params=None, *, target):
      del params
      return jax.tree.map(lambda u, t: u - 0.5 * t, updates, target), state

    transforms["frozen"] = lib.GradientTransformationExtraArgs(lib.init_empty_state, update_fn)
  return transforms


def _leaf_labels(spec, labels):
  params = spec.build()
  leaves, treedef = jax.tree.flatten(params)
  return jax.tree.unflatten(treedef, labels[: len(leaves)])


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    labels=st.lists(st.sampled_from(["adam", "sgd", "frozen"]), min_size=4, max_size=4),
    labels_as_fn=st.booleans(),
    prefix_labels=st.booleans(),
    mask_compatible_extra_args=st.booleans(),
)
def test_partition(spec, labels, labels_as_fn, prefix_labels, mask_compatible_extra_args):
  if prefix_labels:  # one label per top-level subtree
    param_labels = {"dense": labels[0], "extra": labels[1]}
  else:
    param_labels = _leaf_labels(spec, labels)
  if labels_as_fn:
    fixed_labels = param_labels
    param_labels = lambda tree: fixed_labels
  extra_args_fn = None
  if mask_compatible_extra_args:
    extra_args_fn = lambda p, g: {"target": p}
  parity.assert_same_trajectory(
      fo.partition(
          _transforms(fo, mask_compatible_extra_args),
          param_labels,
          mask_compatible_extra_args=mask_compatible_extra_args,
      ),
      optax.partition(
          _transforms(optax, mask_compatible_extra_args),
          param_labels,
          mask_compatible_extra_args=mask_compatible_extra_args,
      ),
      spec,
      extra_args_fn=extra_args_fn,
  )


@given(spec=parity.pytrees((parity.FLOAT32,)))
def test_partition_labels_from_params(spec):
  # Labels computed from each leaf: matrices get adam, the rest sgd.
  label_fn = lambda tree: jax.tree.map(lambda x: "adam" if x.ndim > 1 else "sgd", tree)
  parity.assert_same_trajectory(
      fo.multi_transform(_transforms(fo, False), label_fn),
      optax.multi_transform(_transforms(optax, False), label_fn),
      spec,
  )


def test_multi_transform_is_partition():
  assert fo.multi_transform is fo.partition
  assert fo.MultiTransformState is fo.PartitionState


def test_partition_state_layout():
  params = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
  labels = {"w": "adam", "b": "sgd"}
  ours = fo.partition(_transforms(fo, False), labels).init(params)
  theirs = optax.partition(_transforms(optax, False), labels).init(params)
  assert isinstance(ours, fo.PartitionState)
  assert list(ours.inner_states) == list(theirs.inner_states)
  parity.assert_trees_close(ours, theirs)


def test_partition_unknown_label_raises_at_init():
  tx = fo.partition({"a": fo.identity()}, {"w": "a", "b": "missing"})
  with pytest.raises(ValueError, match="param_labels"):
    tx.init({"w": jnp.ones(1), "b": jnp.ones(1)})
  tx = fo.partition({"a": fo.identity()}, lambda p: jax.tree.map(lambda _: "missing", p))
  with pytest.raises(ValueError, match="param_labels"):
    tx.init({"w": jnp.ones(1)})


def test_a_missing_label_is_named_readably():
  tx = fo.multi_transform({"a": fo.sgd(1.0), "b": fo.sgd(1.0)}, {"w": "a", "v": "c"})
  with pytest.raises(ValueError, match=r"^param_labels has labels with no transformation: 'c' "
                                       r"\(labels: 'a', 'c'; transforms: 'a', 'b'\)$"):
    tx.init({"w": jnp.ones(1), "v": jnp.ones(1)})


def test_partition_forwards_extra_args_unmasked():
  def update_fn(updates, state, params=None, *, value):
    del params
    return jax.tree.map(lambda u: u * value, updates), state

  tx = fo.partition(
      {"x": fo.GradientTransformationExtraArgs(fo.init_empty_state, update_fn), "y": fo.identity()},
      {"w": "x", "b": "y"},
  )
  grads = {"w": jnp.ones(1), "b": jnp.ones(1)}
  updates, _ = tx.update(grads, tx.init(grads), value=4.0)
  np.testing.assert_array_equal(updates["w"], [4.0])
  np.testing.assert_array_equal(updates["b"], [1.0])
