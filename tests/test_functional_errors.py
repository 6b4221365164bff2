"""Bad input to functional_optim: trees that do not match the state, with clear errors.

`update(updates, state, params)` needs `updates` (and `params`) with the structure
and shapes the state was built for. A different tree raises jax's pytree
structure error (a `ValueError` naming the key path where the trees differ), a
different shape raises a `TypeError` naming both shapes, eagerly and under
`jax.jit`, and the state passed in is still valid afterwards: the next good
update gives what it would have given. Stateless transformations (plain `sgd`)
have no state to disagree with and accept any tree, as in optax.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import functional_optim as fo
from functional_optim import torchlike

PARAMS = {"a": jnp.arange(3.0), "b": {"c": jnp.ones((2, 2))}}
GRADS = {"a": jnp.array([0.5, -1.0, 2.0]), "b": {"c": jnp.full((2, 2), 0.25)}}

TRANSFORMATIONS = {
    "adam": lambda: fo.adam(1e-2),
    "sgd_momentum": lambda: fo.sgd(1e-2, momentum=0.9),
    "clip_adamw": lambda: fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(fo.schedules.cosine_decay_schedule(1e-2, 10))),
    "multisteps": lambda: fo.MultiSteps(fo.adam(1e-2), every_k_schedule=2),
    "inject_hyperparams": lambda: fo.inject_hyperparams(fo.adam)(learning_rate=1e-2),
    "apply_if_finite": lambda: fo.apply_if_finite(fo.adam(1e-2), max_consecutive_errors=2),
    "masked_lion": lambda: fo.masked(fo.lion(1e-3), {"a": True, "b": {"c": False}}),
    "torchlike_adam": lambda: torchlike.adam(lr=1e-2),
    "torchlike_rprop": lambda: torchlike.rprop(lr=1e-2),
}

STRUCTURE_MISMATCHES = {
    "extra_leaf": {**GRADS, "d": jnp.ones(1)},
    "missing_leaf": {"a": GRADS["a"]},
    "other_container": [GRADS["a"], GRADS["b"]],
    "renamed_key": {"a": GRADS["a"], "z": GRADS["b"]},
}
SHAPE_MISMATCHES = {
    "longer": {"a": jnp.ones(4), "b": GRADS["b"]},
    "transposed": {"a": GRADS["a"], "b": {"c": jnp.ones((3, 2))}},
}
# Known limits, shared with optax (both map over the updates' tree with jax.tree.map):
# a subtree replaced by a single array reaches the arithmetic as a dict (a TypeError that
# does not name the path), and a shape that broadcasts against the state's is not rejected.
SUBTREE_AS_LEAF_GIVES_AN_UNCLEAR_TYPE_ERROR = True
BROADCASTABLE_SHAPES_ARE_NOT_REJECTED = True
STRUCTURE_ERROR = "pytree structure error|Custom node type mismatch|Dict key mismatch|Expected dict, got"


def _update(tx, jit):
  return jax.jit(tx.update) if jit else tx.update


def _assert_state_still_good(tx, state):
  """The state given to the failed call gives the same next update as a fresh one."""
  expected, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
  got, _ = tx.update(GRADS, state, PARAMS)
  jax.tree.map(np.testing.assert_array_equal, got, expected)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("mismatch", sorted(STRUCTURE_MISMATCHES))
@pytest.mark.parametrize("name", sorted(TRANSFORMATIONS))
def test_updates_with_another_structure_raise(name, mismatch, jit):
  tx = TRANSFORMATIONS[name]()
  state = tx.init(PARAMS)
  with pytest.raises(ValueError, match=STRUCTURE_ERROR):
    _update(tx, jit)(STRUCTURE_MISMATCHES[mismatch], state, PARAMS)
  _assert_state_still_good(tx, state)


@pytest.mark.parametrize("mismatch", sorted(SHAPE_MISMATCHES))
@pytest.mark.parametrize("name", sorted(set(TRANSFORMATIONS) - {"masked_lion"}))  # masked-off leaves pass through
def test_updates_with_other_shapes_raise(name, mismatch):
  tx = TRANSFORMATIONS[name]()
  state = tx.init(PARAMS)
  with pytest.raises(TypeError, match=r"incompatible shapes for broadcasting"):
    jax.jit(tx.update)(SHAPE_MISMATCHES[mismatch], state, PARAMS)
  _assert_state_still_good(tx, state)


@pytest.mark.parametrize("name", ["adam", "sgd_momentum", "torchlike_adam"])
def test_known_limits_shared_with_optax(name):
  assert SUBTREE_AS_LEAF_GIVES_AN_UNCLEAR_TYPE_ERROR and BROADCASTABLE_SHAPES_ARE_NOT_REJECTED
  tx = TRANSFORMATIONS[name]()
  state = tx.init(PARAMS)
  subtree_as_leaf = {"a": GRADS["a"], "b": GRADS["b"]["c"]}
  with pytest.raises((TypeError, ValueError)):
    tx.update(subtree_as_leaf, state, PARAMS)
  broadcastable = {"a": GRADS["a"], "b": {"c": jnp.ones((2, 1))}}
  updates, new_state = tx.update(broadcastable, state, PARAMS)
  assert jax.tree.map(jnp.shape, updates) == jax.tree.map(jnp.shape, PARAMS)
  assert jax.tree.map(jnp.shape, new_state) == jax.tree.map(jnp.shape, state)


@pytest.mark.parametrize("name", ["clip_adamw", "torchlike_adam", "torchlike_rprop"])
def test_params_with_another_structure_raise(name):
  tx = TRANSFORMATIONS[name]()
  state = tx.init(PARAMS)
  with pytest.raises(ValueError, match=STRUCTURE_ERROR):
    tx.update(GRADS, state, {"a": PARAMS["a"]})
  _assert_state_still_good(tx, state)


def test_params_required_but_missing_raise_a_clear_error():
  for tx in (fo.adamw(1e-2), torchlike.adam(lr=1e-2, weight_decay=0.1)):
    with pytest.raises(ValueError, match=fo.NO_PARAMS_MSG if hasattr(fo, "NO_PARAMS_MSG") else "params"):
      tx.update(GRADS, tx.init(PARAMS))


def test_apply_updates_with_another_structure_raises_as_optax():
  bad = STRUCTURE_MISMATCHES["missing_leaf"]
  with pytest.raises(ValueError) as ours:
    fo.apply_updates(PARAMS, bad)
  with pytest.raises(ValueError) as theirs:
    optax.apply_updates(PARAMS, bad)
  assert type(ours.value) is type(theirs.value)
  assert "pytree structure" in str(ours.value) or "mismatch" in str(ours.value)


def test_state_of_another_transformation_raises():
  tx = fo.adam(1e-2)
  other_state = fo.sgd(1e-2, momentum=0.9).init(PARAMS)
  with pytest.raises((ValueError, TypeError, AttributeError)):
    tx.update(GRADS, other_state, PARAMS)
