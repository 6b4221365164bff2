"""The shared hyperparameter checks."""

import jax.numpy as jnp
import pytest

from functional_optim import _checks


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
