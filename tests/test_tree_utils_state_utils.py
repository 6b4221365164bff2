"""tree_utils/_state_utils (`fo.tree.get`, `set`, `get_all_with_path`, `map_params`,
`NamedTupleKey`) against optax, on the states of the same optimizers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import functional_optim as fo
import parity

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


def _optimizers(lib):
  return {
      "adam": lib.adam(1e-3),
      "chain": lib.chain(lib.add_noise(1.0, 0.9, key=0), lib.scale_by_adam()),
      "inject": lib.inject_hyperparams(lib.sgd)(learning_rate=lambda c: 1 / (c + 1), momentum=0.9),
      "masked": lib.masked(lib.adam(1e-3), {"w": True, "b": False}),
      "partition": lib.partition({"a": lib.adam(1e-3), "s": lib.sgd(0.1)}, {"w": "a", "b": "s"}),
      "named": lib.named_chain(("clip", lib.clip(1.0)), ("adam", lib.adam(1e-3))),
  }


def _paths(found):
  return [jax.tree_util.keystr(path) for path, _ in found]


def _leaf_paths(tree):
  """Leaf paths and shapes: the structure, whichever library's NamedTuple classes hold it."""
  return [(jax.tree_util.keystr(p), jnp.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(tree)]


def _states():
  ours, theirs = _optimizers(fo), _optimizers(optax)
  return {name: (ours[name].init(PARAMS), theirs[name].init(PARAMS)) for name in ours}


KEYS = ["count", "mu", "nu", "learning_rate", "momentum", "ScaleByAdamState", "AddNoiseState",
        "hyperparams", "trace", "inner_state", "not_there"]


@pytest.mark.parametrize("name", list(_optimizers(optax)))
def test_get_all_with_path_and_get(name):
  ours, theirs = _states()[name]
  for key in KEYS:
    found_ours = fo.tree.get_all_with_path(ours, key)
    found_theirs = optax.tree.get_all_with_path(theirs, key)
    assert _paths(found_ours) == _paths(found_theirs), key
    if len(found_theirs) > 1:
      with pytest.raises(KeyError, match="multiple"):
        fo.tree.get(ours, key)
    elif found_theirs:
      value = fo.tree.get(ours, key)
      assert _leaf_paths(value) == _leaf_paths(optax.tree.get(theirs, key)), key
    else:
      assert fo.tree.get(ours, key, default="none") == "none"


def test_filtering_by_named_tuple():
  ours, theirs = _states()["chain"]
  only_adam = lambda path, _: isinstance(path[-1], fo.tree_utils.NamedTupleKey) and (
      path[-1].tuple_name == "ScaleByAdamState")
  only_adam_optax = lambda path, _: isinstance(path[-1], optax.tree_utils.NamedTupleKey) and (
      path[-1].tuple_name == "ScaleByAdamState")
  assert int(fo.tree.get(ours, "count", filtering=only_adam)) == 0
  assert _paths(fo.tree.get_all_with_path(ours, "count", only_adam)) == _paths(
      optax.tree.get_all_with_path(theirs, "count", only_adam_optax))
  assert str(fo.tree_utils.NamedTupleKey("S", "count")) == "S.count"


def test_set_matches_optax():
  # Constant hyperparameters: `learning_rate` is then only in `hyperparams` (a schedule
  # would also have an entry in `hyperparams_states`, which `set` would replace too).
  make = lambda lib: lib.inject_hyperparams(lib.sgd)(learning_rate=0.1, momentum=0.9)
  ours, theirs = make(fo).init(PARAMS), make(optax).init(PARAMS)
  new_ours = fo.tree.set(ours, learning_rate=jnp.array(0.5), momentum=jnp.array(0.1))
  new_theirs = optax.tree.set(theirs, learning_rate=jnp.array(0.5), momentum=jnp.array(0.1))
  assert jax.tree.structure(new_ours) == jax.tree.structure(ours)
  parity.assert_trees_close(new_ours.hyperparams, new_theirs.hyperparams)
  grads = jax.tree.map(jnp.ones_like, PARAMS)
  updates, _ = make(fo).update(grads, new_ours, PARAMS)
  np.testing.assert_allclose(updates["b"], -0.5 * np.ones(3))


def test_set_a_whole_named_tuple_and_with_filtering():
  ours, _ = _states()["chain"]
  noise = fo.tree.get(ours, "AddNoiseState")
  replaced = fo.tree.set(ours, AddNoiseState=noise._replace(count=jnp.array(7)))
  assert int(fo.tree.get(replaced, "AddNoiseState").count) == 7
  only_adam = lambda path, _: path[-1].tuple_name == "ScaleByAdamState"
  replaced = fo.tree.set(ours, only_adam, count=jnp.array(3))
  counts = {jax.tree_util.keystr(p): int(v) for p, v in fo.tree.get_all_with_path(replaced, "count")}
  assert sorted(counts.values()) == [0, 3]


def test_set_rejects_unknown_keys():
  ours, _ = _states()["adam"]
  with pytest.raises(KeyError, match="no values matching 'lr'"):
    fo.tree.set(ours, lr=1.0)
  with pytest.raises(KeyError, match="filtering"):
    fo.tree.set(ours, lambda path, _: False, count=1)


@pytest.mark.parametrize("name", ["adam", "chain", "masked", "partition", "named"])
def test_map_params(name):
  ours, theirs = _states()[name]
  opt_ours, opt_theirs = _optimizers(fo)[name], _optimizers(optax)[name]
  specs = jax.tree.map(lambda p: f"spec{p.ndim}", PARAMS)
  kwargs = dict(transform_non_params=lambda _: "other", is_leaf=lambda x: isinstance(
      x, (fo.MaskedNode, optax.MaskedNode)))
  mapped_ours = fo.tree.map_params(opt_ours, lambda _, s: s, ours, specs, **kwargs)
  mapped_theirs = optax.tree.map_params(opt_theirs, lambda _, s: s, theirs, specs, **kwargs)
  assert jax.tree.leaves(mapped_ours) == jax.tree.leaves(mapped_theirs)
  assert fo.tree_map_params is fo.tree.map_params is fo.tree_utils.tree_map_params
  # an init function works as well as a transformation
  by_init = fo.tree.map_params(opt_ours.init, lambda _, s: s, ours, specs, **kwargs)
  assert jax.tree.leaves(by_init) == jax.tree.leaves(mapped_ours)
