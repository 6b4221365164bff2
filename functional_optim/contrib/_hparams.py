"""Hyperparameter checks for the contrib families, done once in each factory.

The checks look at plain Python numbers only: arrays, tracers (hyperparameters injected by
`inject_hyperparams` under `jit`) and schedules pass through, since their values are not known
when the factory runs.
"""

import math
import numbers


def is_number(value) -> bool:
  """Whether `value` is a plain real number (not a bool, an array or a tracer)."""
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_non_negative(name: str, value) -> None:
  """Raises `ValueError` if `value` is a number below 0 (or NaN)."""
  if is_number(value) and not value >= 0:
    raise ValueError(f"{name} must be >= 0, got {name}={value!r}")


def check_positive(name: str, value) -> None:
  """Raises `ValueError` if `value` is a number <= 0 (or NaN)."""
  if is_number(value) and not value > 0:
    raise ValueError(f"{name} must be > 0, got {name}={value!r}")


def check_in_range(
    name: str, value, low: float, high: float, *, low_inclusive=True, high_inclusive=False
) -> None:
  """Raises `ValueError` if `value` is a number outside `[low, high)` (bounds per flags)."""
  if not is_number(value):
    return
  above_low = value >= low if low_inclusive else value > low
  below_high = value <= high if high_inclusive else value < high
  if not (above_low and below_high) or math.isnan(value):
    interval = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
    raise ValueError(f"{name} must be in {interval}, got {name}={value!r}")


def check_positive_int(name: str, value) -> None:
  """Raises `ValueError` unless `value` is an integer >= 1."""
  if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
    raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
