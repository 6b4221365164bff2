"""Every state that `init` returns holds each leaf in a buffer of its own.

`jax.jit(step, donate_argnums=...)` refuses a state in which two leaves share a buffer
("Attempt to donate the same buffer twice"), and a state that holds the parameters' own
buffers cannot be donated together with them. optax's `lbfgs` (two fields share one tree of
zeros), `cocob` (three), and `dog`, `dowg`, `madgrad`, `prodigy`, `mechanize`, `cocob` and
`scale_by_distance_over_gradients` (which keep the parameters themselves) do both, and
`LookaheadParams.init_synced` makes `fast` and `slow` one set of buffers; ours do none of
this (a deliberate difference from optax 0.2.8).

The catalogue is every public transformation of `functional_optim`, `.contrib` and
`.transforms` that can be built from a learning rate alone, the wrappers, and every
`torchlike` alias with all its state fields switched on.
"""

import inspect
import warnings

import jax
import jax.numpy as jnp
import pytest

import functional_optim as fo
from functional_optim import torchlike

PARAMS = {"w": jnp.full((3, 4), 0.5), "b": jnp.full((4,), -0.25), "v": jnp.full((4, 2), 0.75)}
MATRICES = {"w": jnp.full((3, 4), 0.5), "v": jnp.full((4, 2), 0.75)}  # torchlike.muon: 2-D only


def _loss(params):
  return sum(jnp.sum(jnp.sin(p) + p * p) for p in jax.tree.leaves(params))


def _quietly(function, kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # optimistic_adam
    return function(**kwargs)


def _buildable_from_a_learning_rate():
  """name -> factory, for each public function that returns a transformation given at most
  `learning_rate`."""
  found = {}
  for prefix, namespace in [("", fo), ("contrib.", fo.contrib), ("transforms.", fo.transforms)]:
    for name in sorted(dir(namespace)):
      function = getattr(namespace, name)
      if name.startswith("_") or not inspect.isfunction(function):
        continue
      required = [p.name for p in inspect.signature(function).parameters.values()
                  if p.default is inspect.Parameter.empty
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
      if required not in ([], ["learning_rate"]):
        continue
      kwargs = {"learning_rate": 0.1} if required else {}
      try:
        with warnings.catch_warnings():
          warnings.simplefilter("ignore")
          built = function(**kwargs)
      except Exception:  # pylint: disable=broad-except  (not a factory: a loss, a schedule)
        continue
      if isinstance(built, fo.GradientTransformation):
        found[prefix + name] = lambda function=function, kwargs=kwargs: _quietly(function, kwargs)
  return found


def _value_and_grad_args(params, loss, grads):
  return {"value": loss, "grad": grads, "value_fn": _loss}


def _torch_value_and_grad_args(params, loss, grads):
  del params, grads
  return {"value": loss, "value_and_grad_fn": jax.value_and_grad(_loss)}


def _value_args(params, loss, grads):
  del params, grads
  return {"value": loss}


# name -> (factory, extra_args_fn or None, params)
CATALOGUE = {name: (factory, None, PARAMS) for name, factory in _buildable_from_a_learning_rate().items()}
for _name in ["lbfgs", "scale_by_lbfgs", "polyak_sgd", "scale_by_polyak"]:
  CATALOGUE[_name] = (CATALOGUE[_name][0], _value_args if "polyak" in _name else _value_and_grad_args,
                      PARAMS)
CATALOGUE.update({
    "chain(clip_by_global_norm, adamw)": (
        lambda: fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(0.1)), None, PARAMS),
    "MultiSteps(adam)": (lambda: fo.MultiSteps(fo.adam(0.1), every_k_schedule=2), None, PARAMS),
    "inject_hyperparams(adamw)": (lambda: fo.inject_hyperparams(fo.adamw)(learning_rate=0.1), None,
                                  PARAMS),
    "apply_if_finite(adam)": (lambda: fo.apply_if_finite(fo.adam(0.1), 3), None, PARAMS),
    "masked(adam)": (lambda: fo.masked(fo.adam(0.1), {"w": True, "b": False, "v": True}), None,
                     PARAMS),
    "partition": (lambda: fo.partition({"a": fo.adam(0.1), "s": fo.sgd(0.1, momentum=0.9)},
                                       {"w": "a", "b": "s", "v": "a"}), None, PARAMS),
    "contrib.mechanize(adam)": (lambda: fo.contrib.mechanize(fo.adam(0.1)), None, PARAMS),
    "flatten(adam)": (lambda: fo.flatten(fo.adam(0.1)), None, PARAMS),
    "contrib.schedule_free(adamw)": (
        lambda: fo.contrib.schedule_free(fo.adamw(0.1, b1=0.0), learning_rate=0.1), None, PARAMS),
    "torchlike.adam(amsgrad)": (lambda: torchlike.adam(amsgrad=True), None, PARAMS),
    "torchlike.adamw(amsgrad)": (lambda: torchlike.adamw(amsgrad=True), None, PARAMS),
    "torchlike.adadelta": (torchlike.adadelta, None, PARAMS),
    "torchlike.adafactor": (torchlike.adafactor, None, PARAMS),
    "torchlike.adagrad": (torchlike.adagrad, None, PARAMS),
    "torchlike.adamax": (torchlike.adamax, None, PARAMS),
    "torchlike.asgd": (torchlike.asgd, None, PARAMS),
    "torchlike.lbfgs": (torchlike.lbfgs, _torch_value_and_grad_args, PARAMS),
    "torchlike.muon": (torchlike.muon, None, MATRICES),
    "torchlike.nadam": (torchlike.nadam, None, PARAMS),
    "torchlike.radam": (torchlike.radam, None, PARAMS),
    "torchlike.rmsprop(centered, momentum)": (
        lambda: torchlike.rmsprop(momentum=0.9, centered=True), None, PARAMS),
    "torchlike.rprop": (torchlike.rprop, None, PARAMS),
    "torchlike.sgd(momentum)": (lambda: torchlike.sgd(0.1, momentum=0.9), None, PARAMS),
    "torchlike.sparse_adam": (torchlike.sparse_adam, None, PARAMS),
})

# The donated, jitted step compiles once per case: the torchlike aliases, the main aliases,
# the wrappers, and each transformation that used to share buffers.
DONATED = sorted(
    [name for name in CATALOGUE if name.startswith("torchlike.") or "(" in name] + [
        "adam", "adamw", "sgd", "adafactor", "lamb", "lars", "lion", "rmsprop", "lbfgs",
        "scale_by_distance_over_gradients", "contrib.cocob", "contrib.dog", "contrib.dowg",
        "contrib.madgrad", "contrib.prodigy", "contrib.muon", "partition",
    ])


def _pointers(tree):
  return [leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(tree)]


def test_the_catalogue_covers_the_library():
  assert len(CATALOGUE) >= 110, sorted(CATALOGUE)
  assert {"adam", "adamw", "sgd", "adafactor", "lamb", "lars", "lbfgs", "contrib.muon",
          "contrib.prodigy", "transforms.chain"} <= set(CATALOGUE)
  assert {f"torchlike.{name}" for name in torchlike.__all__ if name.islower()} <= {
      name.split("(")[0] for name in CATALOGUE}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_state_leaf_has_its_own_buffer(name):
  factory, _, params = CATALOGUE[name]
  state = factory().init(params)
  pointers = _pointers(state)
  assert len(set(pointers)) == len(pointers), f"{name}: state leaves share buffers"
  assert not set(pointers) & set(_pointers(params)), f"{name}: the state holds the parameters"


def test_lookahead_params_init_synced_gives_slow_its_own_buffers():
  pair = fo.LookaheadParams.init_synced(PARAMS)
  assert not set(_pointers(pair.fast)) & set(_pointers(pair.slow))


@pytest.mark.parametrize("name", DONATED)
def test_a_step_with_params_and_state_donated_runs_twice(name):
  factory, extra_args_fn, params = CATALOGUE[name]
  tx = factory()

  def step(params, state):
    loss, grads = jax.value_and_grad(_loss)(params)
    extra_args = extra_args_fn(params, loss, grads) if extra_args_fn else {}
    updates, state = tx.update(grads, state, params, **extra_args)
    return fo.apply_updates(params, updates), state

  # keep_unused: an argument the step does not read (adafactor's placeholders) is donated too.
  donated_step = jax.jit(step, donate_argnums=(0, 1), keep_unused=True)
  params = jax.tree.map(jnp.copy, params)
  state = tx.init(params)
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Some donated buffers were not usable")
    for _ in range(2):
      old_params, old_state = params, state
      params, state = donated_step(params, state)
      assert all(leaf.is_deleted() for leaf in jax.tree.leaves((old_params, old_state))), name
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(params)), name
