"""Splitting a param group's hyperparameters into compile-time and run-time parts.

Floats that are not zero are passed to the compiled step as traced scalars, so a
scheduler moving `lr` (or a user changing `weight_decay`, `betas`, `momentum`)
never recompiles. Everything else is a compile-time constant: flags, strings,
None, callables, integers (counts such as `ns_steps` or `history_size` shape the
program) and zeros (torch and optax both skip work when e.g. `weight_decay == 0`
or `momentum == 0`, so factories may branch on them in Python). Only a change of
a constant, such as which hyperparameters are zero, triggers a new compilation.
"""

from typing import Any, Mapping

import torch

# A compile-time placeholder standing for "a traced value goes here".
TRACED = "<traced>"


def _is_traceable_number(value) -> bool:
  if isinstance(value, torch.Tensor):
    return value.numel() == 1 and value.is_floating_point()
  return isinstance(value, float)


def _as_python_number(value):
  return value.item() if isinstance(value, torch.Tensor) else value


def as_python_numbers(hyperparams: Mapping[str, Any]) -> dict[str, Any]:
  """Hyperparameters with one-element tensors (torch's tensor `lr`, `betas`) as Python numbers."""
  def convert(value):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
      return value.item()
    if isinstance(value, tuple) and any(isinstance(v, torch.Tensor) for v in value):
      return tuple(convert(v) for v in value)
    return value
  return {name: convert(value) for name, value in hyperparams.items()}


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
      static.append((name, _hashable(_as_python_number(value))))
  return tuple(static), traced


class _ByIdentity:
  """Keys an unhashable constant (e.g. a mask tree) by the object itself."""

  def __init__(self, value):
    self.value = value

  def __hash__(self):
    return id(self.value)

  def __eq__(self, other):
    return isinstance(other, _ByIdentity) and other.value is self.value


def _hashable(value):
  try:
    hash(value)
    return value
  except TypeError:
    return _ByIdentity(value)


def merge(static_key: tuple, traced: Mapping[str, Any]) -> dict[str, Any]:
  """Inverse of `split`, inside the compiled step: substitutes the traced values."""
  merged = {}
  for name, value in static_key:
    if isinstance(value, tuple):
      merged[name] = tuple(traced[f"{name}[{i}]"] if v == TRACED else v for i, v in enumerate(value))
    elif isinstance(value, str) and value == TRACED:
      merged[name] = traced[name]
    else:
      merged[name] = value.value if isinstance(value, _ByIdentity) else value
  return merged


# ---- torch's `betas`, for factories that name them `b1`, `b2` ------------------------------


def beta_arguments(factory_args, factory_defaults: Mapping[str, Any]) -> tuple[str, ...]:
  """The factory's arguments that a param group keeps as torch's `betas`: `("b1", "b2")`, `("b1",)` or `()`.

  torch's schedulers that cycle momentum (`OneCycleLR`, `CyclicLR`) find an Adam-like
  optimizer by its `betas` and write `group["betas"] = (momentum, *betas[1:])`. A
  factory such as `functional_optim.adamw` names them `b1` and `b2`; its groups keep
  them as `betas`, so those writes reach the step (traced: no recompilation).
  """
  if "betas" in factory_args or "b1" not in factory_args:
    return ()
  names = ("b1", "b2") if "b2" in factory_args else ("b1",)
  if not all(isinstance(factory_defaults.get(n), (int, float)) for n in names):
    return ()
  return names


def as_betas(hyperparams: Mapping[str, Any], beta_args: tuple[str, ...], factory_defaults: Mapping[str, Any],
             *, where: str) -> dict[str, Any]:
  """`hyperparams` with `b1` (and `b2`) as `betas`, taking the factory's defaults for those not given."""
  if not beta_args:
    return dict(hyperparams)
  out = {k: v for k, v in hyperparams.items() if k not in beta_args}
  if "betas" in hyperparams:
    given = [n for n in beta_args if n in hyperparams]
    if given:
      raise TypeError(f"{where}: give betas or {' and '.join(given)}, not both")
    betas = hyperparams["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != len(beta_args):
      raise ValueError(f"{where}: betas must be a tuple of {len(beta_args)} numbers ({', '.join(beta_args)}), "
                       f"got betas={betas!r}")
    out["betas"] = tuple(betas)
  else:
    out["betas"] = tuple(hyperparams.get(n, factory_defaults[n]) for n in beta_args)
  return out
