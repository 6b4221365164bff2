"""freeze and selective_transform against optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity


def _mask(spec, flags, whole):
  """A static boolean (`whole` not None) or a tree of booleans like the params."""
  if whole is not None:
    return whole
  leaves, treedef = jax.tree.flatten(spec.build())
  return jax.tree.unflatten(treedef, flags[: len(leaves)])


masks = dict(
    flags=st.lists(st.booleans(), min_size=4, max_size=4),
    whole=st.none() | st.booleans(),
)


@given(spec=parity.pytrees(parity.ALL_DTYPES), **masks)
def test_freeze(spec, flags, whole):
  mask = _mask(spec, flags, whole)
  parity.assert_same_trajectory(
      fo.chain(fo.adam(0.05), fo.freeze(mask)),
      optax.chain(optax.adam(0.05), optax.freeze(mask)),
      spec,
  )


@given(
    spec=parity.pytrees(parity.ALL_DTYPES),
    optimizer=st.sampled_from(["adam", "sgd_momentum"]),
    **masks,
)
def test_selective_transform(spec, optimizer, flags, whole):
  mask = _mask(spec, flags, whole)
  make = lambda lib: lib.adam(0.05) if optimizer == "adam" else lib.sgd(0.1, momentum=0.9)
  parity.assert_same_trajectory(
      fo.selective_transform(make(fo), freeze_mask=mask),
      optax.selective_transform(make(optax), freeze_mask=mask),
      spec,
  )


def test_frozen_parameters_do_not_move():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  for tx in (
      fo.chain(fo.sgd(1.0), fo.freeze({"a": True, "b": False})),
      fo.selective_transform(fo.sgd(1.0), freeze_mask={"a": True, "b": False}),
  ):
    updates, _ = tx.update(params, tx.init(params), params)
    new_params = fo.apply_updates(params, updates)
    np.testing.assert_array_equal(new_params["a"], params["a"])
    np.testing.assert_array_equal(new_params["b"], [0.0, 0.0])
