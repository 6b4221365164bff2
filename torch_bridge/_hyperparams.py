"""Splitting a param group's hyperparameters into compile-time and run-time parts.

Numbers that are not zero are passed to the compiled step as traced scalars, so a
scheduler moving `lr` (or a user changing `weight_decay`, `betas`, `momentum`)
never recompiles. Everything else (flags, strings, None, callables) and numbers
equal to zero are compile-time constants: factories may branch on them in Python
(torch and optax both skip work when e.g. `weight_decay == 0` or `momentum == 0`),
so only a change in *which* hyperparameters are zero triggers a new compilation.
"""

import numbers
from typing import Any, Mapping

import torch

# A compile-time placeholder standing for "a traced value goes here".
TRACED = "<traced>"


def _is_traceable_number(value) -> bool:
  if isinstance(value, torch.Tensor):
    return value.numel() == 1 and not value.dtype == torch.bool
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_python_number(value):
  return value.item() if isinstance(value, torch.Tensor) else value


def split(hyperparams: Mapping[str, Any]) -> tuple[tuple, dict[str, Any]]:
  """Returns `(static_key, traced)`.

  `static_key` is a hashable description of the compile-time part, with `TRACED`
  where a traced value will be substituted; `traced` maps names to Python floats
  (tuples of numbers, like `betas`, are split element-wise).
  """
  static, traced = [], {}
  for name in sorted(hyperparams):
    value = hyperparams[name]
    if isinstance(value, (tuple, list)) and value and all(_is_traceable_number(v) for v in value):
      entries = []
      for i, v in enumerate(value):
        v = _as_python_number(v)
        if v == 0:
          entries.append(v)
        else:
          traced[f"{name}[{i}]"] = float(v)
          entries.append(TRACED)
      static.append((name, tuple(entries)))
    elif _is_traceable_number(value) and _as_python_number(value) != 0:
      traced[name] = float(_as_python_number(value))
      static.append((name, TRACED))
    else:
      static.append((name, _as_python_number(value)))
  return tuple(static), traced


def merge(static_key: tuple, traced: Mapping[str, Any]) -> dict[str, Any]:
  """Inverse of `split`, inside the compiled step: substitutes the traced values."""
  merged = {}
  for name, value in static_key:
    if isinstance(value, tuple):
      merged[name] = tuple(traced[f"{name}[{i}]"] if v == TRACED else v for i, v in enumerate(value))
    elif isinstance(value, str) and value == TRACED:
      merged[name] = traced[name]
    else:
      merged[name] = value
  return merged
