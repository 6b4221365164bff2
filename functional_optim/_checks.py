"""Hyperparameter validation, done once in each factory.

Values of plain Python numbers are checked: arrays and tracers (e.g.
hyperparameters injected by `inject_hyperparams` under `jit`) and schedules pass
through, since their values are not known when the factory runs. What can be no
number at all (a string such as `"1e-3"`, None, a list) raises `TypeError`.
"""

import math
import numbers


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _could_be_a_number(value) -> bool:
  """A number, an array or tracer (has a dtype), or a schedule (callable)."""
  if isinstance(value, (str, bytes)) or value is None:
    return False
  return isinstance(value, numbers.Number) or hasattr(value, "dtype") or callable(value)


def check_number(name: str, value) -> None:
  """Raises `TypeError` unless `value` is a number, an array or a schedule.

  Example:
    >>> from functional_optim._checks import check_number
    >>> check_number("learning_rate", "1e-3")
    Traceback (most recent call last):
    ...
    TypeError: learning_rate must be a number, an array or a schedule, got learning_rate='1e-3' (str)
  """
  if not _could_be_a_number(value):
    raise TypeError(
        f"{name} must be a number, an array or a schedule, got {name}={value!r} ({type(value).__name__})")


def check_non_negative(name: str, value) -> None:
  """Raises `ValueError` if `value` is a number below 0 (or NaN); `TypeError` if it can be none."""
  check_number(name, value)
  if _is_number(value) and not value >= 0:
    raise ValueError(f"{name} must be >= 0, got {name}={value!r}")


def check_positive(name: str, value) -> None:
  """Raises `ValueError` if `value` is a number <= 0 (or NaN); `TypeError` if it can be none."""
  check_number(name, value)
  if _is_number(value) and not value > 0:
    raise ValueError(f"{name} must be > 0, got {name}={value!r}")


def check_in_range(
    name: str,
    value,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> None:
  """Raises `ValueError` if `value` is a number outside `[low, high)` (bounds per flags); `TypeError` if it can be none."""
  check_number(name, value)
  if not _is_number(value):
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
