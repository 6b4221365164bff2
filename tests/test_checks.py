"""The shared hyperparameter checks."""

import jax
import jax.numpy as jnp
import pytest

import functional_optim as fo
from functional_optim import _checks
from functional_optim import torchlike


@pytest.mark.parametrize("bad", [-1.0, -1, float("nan")])
def test_non_negative_rejects(bad):
  with pytest.raises(ValueError, match="learning_rate"):
    _checks.check_non_negative("learning_rate", bad)


@pytest.mark.parametrize("value", [0.0, 3, jnp.asarray(-1.0), lambda step: -1.0])
def test_non_negative_accepts_numbers_and_defers_arrays_and_schedules(value):
  _checks.check_non_negative("learning_rate", value)


def test_positive():
  with pytest.raises(ValueError, match="eps must be > 0, got eps=0.0"):
    _checks.check_positive("eps", 0.0)


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan")])
def test_in_range_half_open(bad):
  with pytest.raises(ValueError, match=r"b1 must be in \[0, 1\)"):
    _checks.check_in_range("b1", bad, 0, 1)


def test_in_range_closed():
  _checks.check_in_range("decay", 1.0, 0, 1, high_inclusive=True)
  with pytest.raises(ValueError, match=r"\(0, 1\]"):
    _checks.check_in_range("decay", 0.0, 0, 1, low_inclusive=False, high_inclusive=True)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_positive_int(bad):
  with pytest.raises(ValueError, match="memory_size must be a positive integer"):
    _checks.check_positive_int("memory_size", bad)


@pytest.mark.parametrize("bad", ["1e-3", None, b"1", [0.1]])
def test_a_value_that_cannot_be_a_number_is_a_type_error_naming_it(bad):
  with pytest.raises(TypeError, match=rf"learning_rate must be a number, an array or a schedule, got learning_rate={bad!r}"
                     .replace("[", r"\[").replace("]", r"\]")):
    _checks.check_non_negative("learning_rate", bad)


ALIASES = {
    "adam lr": (lambda v: fo.adam(v), "learning_rate"),
    "adamw lr": (lambda v: fo.adamw(v), "learning_rate"),
    "sgd lr": (lambda v: fo.sgd(v), "learning_rate"),
    "adam b1": (lambda v: fo.adam(1e-3, b1=v), "b1"),
    "adamw weight_decay": (lambda v: fo.adamw(1e-3, weight_decay=v), "weight_decay"),
    "sgd momentum": (lambda v: fo.sgd(1e-3, momentum=v), "momentum"),
    "rmsprop eps": (lambda v: fo.rmsprop(1e-3, eps=v), "eps"),
    "lion b2": (lambda v: fo.lion(1e-3, b2=v), "b2"),
    "prodigy lr": (lambda v: fo.contrib.prodigy(v), "learning_rate"),
    "torchlike adam lr": (lambda v: torchlike.adam(lr=v), "Invalid learning rate"),
    "torchlike adamw betas": (lambda v: torchlike.adamw(betas=(v, 0.999)), "Invalid beta parameter at index 0"),
    "torchlike sgd momentum": (lambda v: torchlike.sgd(lr=0.1, momentum=v), "Invalid momentum value"),
    "torchlike adafactor lr": (lambda v: torchlike.adafactor(lr=v), "Learning rate"),
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_refuse_a_string_hyperparameter(alias):
  make, name = ALIASES[alias]
  with pytest.raises(TypeError, match=f"{name}.*'1e-3'"):
    make("1e-3")


@pytest.mark.parametrize("alias", ["adam b1", "adamw weight_decay", "rmsprop eps", "lion b2", "torchlike adam lr"])
def test_aliases_refuse_none_where_it_is_no_value(alias):
  make, name = ALIASES[alias]
  with pytest.raises(TypeError, match=f"{name}.*None"):
    make(None)


def test_arrays_schedules_tracers_and_optional_nones_are_still_accepted():
  fo.adam(jnp.float32(1e-3))
  fo.adam(fo.schedules.cosine_decay_schedule(1e-2, 10))
  fo.sgd(0.1)  # momentum=None: plain SGD
  fo.sgd(None)  # learning_rate=None: no scaling, as optax
  fo.inject_hyperparams(fo.adamw)(learning_rate=1e-3, b1=0.9)
  torchlike.adafactor(eps=(None, 1e-3))
  params = jnp.ones(2)

  @jax.jit
  def step(lr, b1):
    tx = fo.adam(lr, b1=b1)
    return tx.update(params, tx.init(params))[0]

  assert step(0.1, 0.9).shape == (2,)
