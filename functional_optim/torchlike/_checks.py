"""Hyperparameter validation with torch.optim's own error messages.

Like torch, each check runs once, in the factory. Only plain Python numbers are
checked: arrays and tracers (hyperparameters passed as traced arguments, so that
changing them never recompiles) pass through unchecked.
"""

import numbers


def is_number(value) -> bool:
  """True for a plain Python (or numpy) real number, False for arrays and tracers."""
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_zero(value) -> bool:
  """True iff `value` is a plain number equal to 0.

  torch decides the shape of its computation (and of its state) with Python tests
  such as `weight_decay != 0` or `momentum > 0`; we decide it from the value given
  to the factory, and a traced value counts as nonzero.
  """
  return is_number(value) and value == 0


def check_type(value, message: str) -> None:
  """Raises `TypeError` for a value that cannot be a number (a string, None), naming it as `message` does.

  torch itself fails on such a value with a bare comparison error (`'<=' not supported`).

  Example:
    >>> from functional_optim.torchlike._checks import check_type
    >>> check_type("1e-3", "Invalid learning rate: 1e-3")
    Traceback (most recent call last):
    ...
    TypeError: Invalid learning rate: expected a number, got '1e-3' (str)
  """
  if value is None or isinstance(value, (str, bytes)):
    raise TypeError(f"{message.split(':')[0]}: expected a number, got {value!r} ({type(value).__name__})")


def check_non_negative(value, message: str) -> None:
  """Raises `ValueError(message)` unless `0 <= value` (NaN fails, as in torch)."""
  check_type(value, message)
  if is_number(value) and not 0.0 <= value:
    raise ValueError(message)


def check_betas(betas) -> None:
  """torch's check that both betas lie in [0, 1)."""
  for index, beta in enumerate(betas):
    check_type(beta, f"Invalid beta parameter at index {index}: {beta}")
    if is_number(beta) and not 0.0 <= beta < 1.0:
      raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
