"""Loading checkpoints into a `FunctionalOptimizer`, and copying or pickling one.

`load_state_dict` validates everything before it changes anything; it accepts what
torch.optim accepts (older torch's groups, Python-number steps, other float dtypes).
"""

import collections
from collections.abc import Mapping
from typing import Any

from . import _hyperparams, _store

# Keys torch puts in param groups that are runtime flags of torch itself, never
# hyperparameters of a transformation.
TORCH_RUNTIME_KEYS = ("params", "param_names", "foreach", "fused", "capturable", "differentiable", "initial_lr")
GLOBAL_STATE_KEY = "global_state"


class CheckpointLoading:
  """`FunctionalOptimizer`'s `load_state_dict`, `__getstate__` and `__setstate__`."""

  def _flag_added_later(self, key: str) -> bool:
    """Whether a group key may be missing from a checkpoint: a flag (bool or None default).

    torch added such flags over its versions (`foreach`, `maximize`, `capturable`,
    `differentiable`, `fused`, `decoupled_weight_decay`); its `__setstate__` gives an
    older checkpoint's groups their defaults. A missing number (`lr`) is an error.
    """
    default = self.defaults.get(key, False)
    return key in TORCH_RUNTIME_KEYS or default is None or isinstance(default, bool)

  # Keys a class sets whatever the checkpoint says (torch's AdamW: decoupled_weight_decay).
  forced_group_keys: dict[str, Any] = {}

  def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
    """Loads a state dict after validating all of it; on any error nothing changes.

    Accepts what torch.optim accepts: param groups without keys added in later torch
    versions (they take this optimizer's defaults), Python-number steps, state of
    another floating dtype (cast to the state's dtype, as torch casts to the
    parameter's).
    """
    state_dict = dict(state_dict)
    for hook in self._optimizer_load_state_dict_pre_hooks.values():
      result = hook(self, state_dict)
      if result is not None:
        state_dict = result
    new_groups, entries = self._validated(state_dict)
    for group, saved in zip(self.param_groups, new_groups):
      group.clear()
      group.update(saved)
    new_state = collections.defaultdict(dict)
    for (g, i), entry in entries.items():
      rt = self._runtimes[g]
      views = rt.store.views[i]
      _store.copy_entry(entry, views)
      new_state[rt.params[i]] = self._new_entry(rt, i)
    self.state = new_state
    for hook in self._optimizer_load_state_dict_post_hooks.values():
      hook(self)

  def _torch_checkpoint_hint(self, saved_keys) -> str:
    """For a torch.optim checkpoint (its groups have torch's flags): which drop-in loads it."""
    from ._dropin import TorchDropIn  # (the drop-ins import this module)

    if isinstance(self, TorchDropIn) or not {"foreach", "differentiable"} & set(saved_keys):
      return ""

    def subclasses(cls):
      for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

    factory = self._spec["transformation"]
    names = sorted({f"torch_bridge.{c.__name__}" for c in subclasses(TorchDropIn)
                    if getattr(c, "factory", None) is factory and c.__module__.startswith("torch_bridge")})
    which = " or ".join(names) if names else "the torch_bridge drop-in named as the torch.optim class"
    return (f". This looks like a torch.optim checkpoint: a FunctionalOptimizer's groups hold only the "
            f"hyperparameters it was given, and its state is named by its transformation; load it into "
            f"{which}, whose param groups and state names are torch's")

  def _with_betas(self, saved_group: Mapping[str, Any]) -> Mapping[str, Any]:
    """An earlier version's group of a factory with `b1`, `b2` (kept as such, or absent) with torch's `betas`."""
    if not self._beta_args or "betas" in saved_group:
      return saved_group
    return _hyperparams.as_betas(saved_group, self._beta_args, self._factory_arg_defaults, where="a saved param group")

  def _loaded_entry(self, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A saved state entry as this optimizer keeps it (subclasses convert torch's forms)."""
    return dict(entry)

  def _validated(self, state_dict):
    """`(new_groups, {(group, index): entry})`, checked, without touching the optimizer."""
    self._check_params()  # a refused group raises its algorithm's error
    missing = {"state", "param_groups"} - set(state_dict)
    if missing:
      raise ValueError(f"state_dict is missing {sorted(missing)}")
    saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
    if len(saved_groups) != len(self.param_groups):
      raise ValueError(
          "loaded state dict has a different number of parameter groups: "
          f"{len(saved_groups)}, the optimizer has {len(self.param_groups)}"
      )
    new_groups, entries, seen = [], {}, set()
    for g, (group, saved, rt) in enumerate(zip(self.param_groups, saved_groups, self._runtimes)):
      ids = list(saved.get("params", []))
      if len(ids) != len(group["params"]):
        raise ValueError(
            "loaded state dict contains a parameter group that doesn't match the size of optimizer's group: "
            f"group {g} has {len(ids)} parameters, the optimizer's has {len(group['params'])}"
        )
      expected_keys = set(group) - {"params", "param_names"}
      saved = self._with_betas(saved)
      saved_keys = set(saved) - {"params", "param_names", GLOBAL_STATE_KEY}
      unexpected = saved_keys - expected_keys
      absent = {k for k in expected_keys - saved_keys if not self._flag_added_later(k)}
      if unexpected or absent:
        raise ValueError(
            f"loaded parameter group {g} has different hyperparameters: "
            f"missing {sorted(absent)}, unexpected {sorted(unexpected)}{self._torch_checkpoint_hint(saved_keys)}"
        )
      new_group = {k: v for k, v in saved.items() if k not in ("params", GLOBAL_STATE_KEY)}
      for key in expected_keys - saved_keys:  # an older torch's checkpoint
        new_group[key] = self.defaults.get(key, group[key])
      new_group.update(self.forced_group_keys)
      new_group["params"] = group["params"]
      if "param_names" in group and "param_names" not in saved:
        new_group["param_names"] = group["param_names"]
      saved_global = dict(saved.get(GLOBAL_STATE_KEY, {}))  # this project's earlier format
      index_of = {id(p): i for i, p in enumerate(rt.params)}
      for position, saved_id in enumerate(ids):
        seen.add(saved_id)
        entry = saved_state.get(saved_id)
        if not entry:
          continue
        entry = rt.store.layout.renamed({**saved_global, **self._loaded_entry(entry)})
        i = index_of[id(group["params"][position])]
        _store.check_entry(saved_id, entry, rt.store.views[i])
        entries[(g, i)] = entry
      new_groups.append(new_group)
    unknown = set(saved_state) - seen
    if unknown:
      raise ValueError(f"state_dict has state for parameters {sorted(unknown)} that no group lists")
    return new_groups, entries

  def __getstate__(self):
    state = super().__getstate__()
    state["_spec"] = self._spec
    return state

  def __setstate__(self, state) -> None:
    """Restores a pickled or deep-copied optimizer: runtimes are rebuilt, state adopted."""
    saved_state = state.get("state", {})
    groups = state.get("param_groups", [])
    super().__setstate__({k: v for k, v in state.items() if k not in ("state", "param_groups")})
    self._spec = state["_spec"]
    self._build_runtime_caches()
    self.state = collections.defaultdict(dict)
    self.param_groups = []
    for group in groups:
      group = self._with_betas(dict(group))
      for key, value in self.defaults.items():  # groups of an older pickle
        group.setdefault(key, value)
      group.update(self.forced_group_keys)
      self.param_groups.append(group)
      self._runtimes.append(self._runtime_for(group))
    for rt in self._runtimes:
      for i, p in enumerate(rt.params):
        entry = saved_state.get(p)
        if entry:
          entry = rt.store.layout.renamed(self._loaded_entry(entry))
          _store.check_entry(f"{i} of its group", entry, rt.store.views[i])
          _store.copy_entry(entry, rt.store.views[i])
          self.state[p] = self._new_entry(rt, i)


