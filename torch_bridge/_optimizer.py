"""`FunctionalOptimizer`: any (init, update) transformation as a torch.optim.Optimizer."""

import inspect
from collections.abc import Mapping
from typing import Any, Callable, Iterator, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import torch

import functional_optim as fo

from . import _flat, _hyperparams
from ._buffers import GroupBuffers, layout_of
from ._program import GroupProgram, compile_step, has_host_callbacks
from ._state import split_fields

# Keys torch puts in param groups that are runtime flags of torch itself, never
# hyperparameters of a transformation.
TORCH_RUNTIME_KEYS = ("params", "param_names", "foreach", "fused", "capturable", "differentiable", "initial_lr")
GLOBAL_STATE_KEY = "global_state"


def _is_transformation(obj) -> bool:
  return hasattr(obj, "init") and hasattr(obj, "update") and callable(obj.update)


def _to_torch(x: jax.Array) -> torch.Tensor:
  if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  return torch.from_dlpack(x).clone()


def _to_jax(t: torch.Tensor, like: jax.Array) -> jax.Array:
  value = jnp.array(jnp.from_dlpack(t.detach().contiguous()), copy=True)
  if jnp.issubdtype(like.dtype, jax.dtypes.prng_key):
    return jax.random.wrap_key_data(value, impl=jax.random.key_impl(like))
  return value


def _expected_dtype(like: jax.Array):
  if jnp.issubdtype(like.dtype, jax.dtypes.prng_key):
    return jax.random.key_data(like).dtype
  return like.dtype


def _check_tensor(where: str, value, like: jax.Array) -> None:
  if not isinstance(value, torch.Tensor):
    raise ValueError(f"{where}: expected a tensor, got {type(value).__name__}")
  expected_shape = tuple(jax.random.key_data(like).shape if jnp.issubdtype(like.dtype, jax.dtypes.prng_key) else like.shape)
  if tuple(value.shape) != expected_shape:
    raise ValueError(f"{where}: expected shape {expected_shape}, got {tuple(value.shape)}")
  expected = str(_expected_dtype(like))
  got = str(value.dtype).removeprefix("torch.")
  if got != expected:
    raise ValueError(f"{where}: expected dtype {expected}, got {got}")


def _in_state_dtype(make_transformation, state_dtype: Optional[torch.dtype]):
  """`make_transformation`, wrapped to keep low-precision parameters' state in `state_dtype`."""
  if state_dtype is None:
    return make_transformation
  if not (isinstance(state_dtype, torch.dtype) and state_dtype.is_floating_point):
    raise TypeError(f"state_dtype must be a floating-point torch.dtype or None, got {state_dtype!r}")
  dtype = jnp.dtype(str(state_dtype).removeprefix("torch."))
  return lambda hyperparams: fo.with_state_dtype(make_transformation(hyperparams), dtype)


def _committed(state, params):
  """Distinct copies of a state's arrays (safe to donate), committed to the parameters' device.

  The compiled step's outputs are committed; a state that is not would make the
  second step compile again.
  """
  device = jnp.from_dlpack(params[0].detach()).device
  return jax.tree.map(lambda x: jax.device_put(jnp.array(x, copy=True), device), state)


class _GroupRuntime:
  """What the optimizer keeps per param group besides torch's group dict."""

  def __init__(self, params, state, flat_scalars):
    self.params = params  # the group's tensors, in order
    self.buffers = GroupBuffers(params)
    self.state = state  # the transformation's state, resident in JAX
    self.flat_scalars = flat_scalars  # None: state in per-parameter form; else flat (see _flat)
    self.uniform_scalars = True  # flat form: per-parameter scalars agree (host-side knowledge)
    self._segments = None  # flat form: segment ids, built when the general case first runs
    self._scratch = None  # the last step's new parameters: memory for the next step's
    self.has_state = [False] * len(params)  # torch creates state at a param's first step

  def segments(self, has_grad) -> Optional[dict]:
    """The flat general case's segment ids when this step needs them, else None."""
    if self.flat_scalars is None or (all(has_grad) and self.uniform_scalars):
      return None
    if self._segments is None:
      self._segments = _flat.segment_ids(self.buffers.layout)
    return self._segments

  def take_scratch(self) -> dict:
    """Buffers shaped like the flat parameters, to be donated to the step."""
    scratch, self._scratch = self._scratch, None
    if scratch is None:
      params = self.buffers.params_to_jax()
      scratch = {d: jnp.zeros_like(p, device=p.device) for d, p in params.items()}
    return scratch

  def keep_scratch(self, new_flat) -> None:
    self._scratch = new_flat

  def abstract_segments(self):
    """Shapes of `segments(...)`, for compiling the general case ahead of its first use."""
    if self.flat_scalars is None:
      return None
    return {d: jax.ShapeDtypeStruct((n,), jnp.int32) for d, n in self.buffers.sizes.items()}

  def note_state_changed(self) -> None:
    if self.flat_scalars is not None:
      self.uniform_scalars = _flat.uniform_scalars(self.state, self.buffers.layout, self.flat_scalars)

  def fields(self, state):
    """`(per_param, global_, rebuild)` of a state of this group (see `_state.split_fields`)."""
    if self.flat_scalars is None:
      return split_fields(state, len(self.params))
    return _flat.per_param_fields(state, self.buffers.layout, self.flat_scalars)


class FunctionalOptimizer(torch.optim.Optimizer):
  """Runs a functional transformation as a `torch.optim.Optimizer`.

  Two forms:

  * `FunctionalOptimizer(params, transformation)`: any `(init, update)` pair, from
    this project or optax, unchanged; every group uses it.
  * `FunctionalOptimizer(params, factory, **hyperparams)`: a factory such as
    `functional_optim.adamw` plus hyperparameters. Each param group may override
    them, and `param_groups[i]["lr"]` is the factory's `learning_rate`, so torch's
    lr schedulers drive it. Changing a number in a group never recompiles.

  `elementwise=True` promises that the transformation treats every element on its
  own, apart from reductions over all of them (Adam, SGD, Lion, a global-norm clip:
  yes; Adafactor, LAMB, masks, `multi_transform`, per-leaf clipping: no). The step
  then runs it on one flat array per dtype, which compiles in a fraction of a second
  however many parameters there are, and runs as one fused loop (see
  `torch_bridge._flat`). The drop-ins set it for every elementwise torch algorithm.

  `state_dtype=torch.float32` keeps the state of bfloat16/float16 parameters in
  float32 (`functional_optim.with_state_dtype`): the transformation computes in
  float32 and each new parameter value is rounded once to its dtype. Parameters of
  `state_dtype` or wider are unaffected. `state_dict()` holds the float32 state, and
  loading a checkpoint whose state has another dtype raises `ValueError`.

  The whole step (every group) is one compiled XLA program; optimizer state stays in
  JAX between steps. Parameters keep their identity and storage across steps: at
  construction they are moved into one flat buffer per group and dtype.

  Example:
    >>> import jax.numpy as jnp, torch, functional_optim as fo, torch_bridge
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = torch_bridge.FunctionalOptimizer([w], fo.adamw, learning_rate=0.1)
    >>> opt.param_groups[0]["lr"]
    0.1
    >>> w.grad = torch.tensor([0.5, -0.5])
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    >>> tx, p = fo.adamw(learning_rate=0.1), jnp.array([1.0, -2.0])  # the same step in JAX
    >>> updates, _ = tx.update(jnp.array([0.5, -0.5]), tx.init(p), p)
    >>> torch.allclose(w, torch.tensor(fo.apply_updates(p, updates).tolist()))
    True

  References:
    `torch.optim.Optimizer`, https://docs.pytorch.org/docs/stable/optim.html;
    `optax.GradientTransformation`,
    https://optax.readthedocs.io/en/latest/api/transformations.html
  """

  def __init__(
      self,
      params,
      transformation: Union[fo.GradientTransformation, Callable],
      *,
      elementwise: bool = False,
      state_dtype: Optional[torch.dtype] = None,
      **hyperparams: Any,
  ):
    if _is_transformation(transformation):
      if hyperparams:
        raise TypeError(
            "hyperparameters can only be given with a transformation factory "
            f"(e.g. functional_optim.adamw), not with a transformation; got {sorted(hyperparams)}"
        )
      self._setup(params, lambda hp: transformation, factory_args=(), defaults={},
                  elementwise=elementwise, state_dtype=state_dtype)
    elif callable(transformation):
      factory_args, defaults = self._factory_defaults(transformation, hyperparams)
      self._setup(params, lambda hp: transformation(**hp), factory_args, defaults,
                  elementwise=elementwise, state_dtype=state_dtype)
    else:
      raise TypeError(f"expected a transformation or a factory, got {type(transformation).__name__}")

  def _setup(self, params, make_transformation, factory_args, defaults, *, elementwise: bool,
             state_dtype: Optional[torch.dtype] = None) -> None:
    """Shared by both forms and the drop-ins: `make_transformation(hyperparams)`."""
    make_transformation = _in_state_dtype(make_transformation, state_dtype)
    self._runtimes: list[_GroupRuntime] = []
    self._compiled: dict[tuple, Callable] = {}
    self._make_transformation = make_transformation
    self._factory_args = tuple(factory_args)
    self._elementwise = bool(elementwise)
    self._moved_params = []  # (param, its original data) while constructing
    try:
      super().__init__(params, defaults)
    except BaseException:
      for p, data in self._moved_params:  # a later group failed: earlier ones go back where they were
        p.data = data
      raise
    finally:
      self._moved_params = None

  # ---- construction -------------------------------------------------------------

  @staticmethod
  def _factory_defaults(factory, hyperparams):
    """The factory's argument names, and the defaults dict torch keeps (lr, not learning_rate)."""
    arg_names = tuple(inspect.signature(factory).parameters)
    defaults = {}
    for name, value in hyperparams.items():
      group_key = "lr" if name == "learning_rate" else name
      factory_name = "learning_rate" if name == "lr" and "learning_rate" in arg_names else name
      if factory_name not in arg_names:
        raise TypeError(f"{getattr(factory, '__name__', factory)}() has no argument {name!r}")
      defaults[group_key] = value
    return arg_names, defaults

  def _transformation_hyperparams(self, group: Mapping[str, Any]) -> dict[str, Any]:
    """The group's hyperparameters, named as the factory's arguments."""
    hp = {}
    for key, value in group.items():
      if key in TORCH_RUNTIME_KEYS:
        continue
      name = "learning_rate" if key == "lr" and "learning_rate" in self._factory_args else key
      if name in self._factory_args:
        hp[name] = value
    return hp

  def _init_state(self, group, params):
    """`(state, flat_scalars)` for a group: flat form for elementwise transformations."""
    tx = self._make_transformation(self._transformation_hyperparams(group))
    layout = layout_of(params)
    if self._elementwise and _flat.supports(layout):
      flat = {
          name: jnp.from_dlpack(torch.cat([p.detach().reshape(-1) for p, s in zip(params, layout.slots) if s.dtype == name]))
          for name in layout.dtypes
      }
      state, scalars = _flat.init_state(tx, flat, layout)
    else:
      values = tuple(jnp.array(jnp.from_dlpack(p.detach()), copy=True) for p in params)
      state, scalars = tx.init(values), None
    return _committed(state, params), scalars

  def add_param_group(self, param_group: dict[str, Any]) -> None:
    """Adds a group (also mid-training); its state is initialized at once.

    Raises `ValueError` for a group listing a parameter twice (torch only warns,
    then steps it twice; here each parameter owns one slot of the group's buffer).
    """
    listed = param_group.get("params") if isinstance(param_group, dict) else None
    if listed is not None and not isinstance(listed, (torch.Tensor, set)):
      param_group["params"] = list(param_group["params"])  # torch does the same; a generator is read once
      tensors = [p[1] if isinstance(p, tuple) else p for p in param_group["params"]]
      if len({id(p) for p in tensors}) != len(tensors):
        raise ValueError("optimizer contains a parameter group with duplicate parameters")
    super().add_param_group(param_group)
    group = self.param_groups[-1]
    try:
      for p in group["params"]:
        if not (p.is_floating_point() or p.is_complex()):
          raise TypeError(f"can only optimize floating-point or complex tensors, got {p.dtype}")
      state, flat_scalars = self._init_state(group, group["params"])
      if self._moved_params is not None:
        self._moved_params.extend((p, p.data) for p in group["params"])
      self._runtimes.append(_GroupRuntime(list(group["params"]), state, flat_scalars))
    except Exception:
      self.param_groups.pop()
      raise

  # ---- the step -----------------------------------------------------------------

  @torch.no_grad()
  def step(self, closure: Optional[Callable[[], Any]] = None):
    """Performs one optimization step; `closure` re-evaluates the model and returns the loss."""
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    self._check_groups_unchanged()
    for rt in self._runtimes:
      rt.buffers.reattach_replaced()
    gathered = [self._gather(rt) for rt in self._runtimes]
    if not any(any(has_grad) for _, _, has_grad in gathered):
      return loss  # torch does nothing when no parameter has a gradient
    statics, traced = zip(*(_hyperparams.split(self._transformation_hyperparams(g)) for g in self.param_groups))
    specs = tuple(
        GroupProgram(rt.buffers.layout, self._make_transformation, static, rt.flat_scalars)
        for rt, static in zip(self._runtimes, statics)
    )
    segments = tuple(rt.segments(has_grad) for rt, (_, _, has_grad) in zip(self._runtimes, gathered))
    args = (
        tuple(rt.buffers.params_to_jax() for rt in self._runtimes),
        tuple(grads for grads, _, _ in gathered),
        tuple(extras for _, extras, _ in gathered),
        tuple(np.asarray(has_grad, dtype=np.bool_) for _, _, has_grad in gathered),
        tuple(rt.state for rt in self._runtimes),
        traced,
    )
    step_fn = self._compiled_step(specs, args, segments)
    new_states, new_flat = step_fn(*args, segments, tuple(rt.take_scratch() for rt in self._runtimes))
    jax.block_until_ready(new_flat)
    for rt, flat, state, (_, _, has_grad) in zip(self._runtimes, new_flat, new_states, gathered):
      rt.buffers.write_params(flat)
      rt.keep_scratch(flat)
      rt.state = state
      rt.has_state = [old or new for old, new in zip(rt.has_state, has_grad)]
      if not all(has_grad):
        rt.note_state_changed()
    return loss

  def _compiled_step(self, specs, args, segments):
    """The compiled program for this structure and case (common or general per group).

    The first time a structure is seen, the all-general variant is compiled too, so
    a later step with a missing gradient never compiles.
    """
    key = (specs, tuple(s is not None for s in segments))
    if key not in self._compiled:
      jitted = compile_step(specs)
      scratch = tuple(rt.buffers.params_to_jax() for rt in self._runtimes)  # shapes only
      if has_host_callbacks(jitted.trace(*args, segments, scratch).jaxpr):
        jitted = compile_step(specs, donate_states=False)  # a failing run keeps the state
      self._compiled[key] = jitted.lower(*args, segments, scratch).compile()
      general = tuple(rt.abstract_segments() for rt in self._runtimes)
      general_key = (specs, tuple(s is not None for s in general))
      if general_key not in self._compiled:
        self._compiled[general_key] = jitted.lower(*args, general, scratch).compile()
    return self._compiled[key]

  def _gather(self, runtime: "_GroupRuntime"):
    """`(flat_grads, flat_extras, has_grad)` for one group.

    `flat_extras` maps names of extra `update` arguments to flat per-dtype arrays
    laid out like the parameters; none here, SparseAdam's gradient masks there.
    """
    flat_grads, has_grad = runtime.buffers.grads_to_jax(self._sparse_gradient_message())
    return flat_grads, {}, has_grad

  def _sparse_gradient_message(self) -> str:
    return "this optimizer does not support sparse gradients"

  def _check_groups_unchanged(self) -> None:
    for i, (group, rt) in enumerate(zip(self.param_groups, self._runtimes)):
      if len(group["params"]) != len(rt.params) or any(a is not b for a, b in zip(group["params"], rt.params)):
        raise RuntimeError(
            f"param_groups[{i}]['params'] was changed in place; use add_param_group to add parameters"
        )

  # ---- state ----------------------------------------------------------------------

  @property
  def state(self) -> Mapping[torch.Tensor, dict[str, torch.Tensor]]:
    """Each stepped parameter's state as torch tensors (a read-only snapshot)."""
    return _StateView(self)

  @state.setter
  def state(self, value) -> None:
    if value:  # torch.optim.Optimizer.__init__ assigns an empty dict; nothing else may
      raise AttributeError("optimizer state is read-only here; use load_state_dict()")

  def _exported_fields(self, names) -> list[str]:
    """Which per-parameter fields appear in state_dict(); the rest are derived on load."""
    return list(names)

  def _derived_field(self, name: str, fresh: jax.Array) -> jax.Array:
    """The value of a field not in state_dict() for a parameter whose state is loaded."""
    raise NotImplementedError(f"{type(self).__name__} cannot derive state field {name!r}")

  def _param_state(self, group_index: int, param_index: int) -> dict[str, torch.Tensor]:
    rt = self._runtimes[group_index]
    per_param, _, _ = rt.fields(rt.state)
    return {
        name: _to_torch(per_param[name][param_index])
        for name in self._exported_fields(per_param)
        if per_param[name][param_index] is not None
    }

  def _group_global_state(self, group_index: int) -> dict[str, torch.Tensor]:
    rt = self._runtimes[group_index]
    _, global_, _ = rt.fields(rt.state)
    return {name: _to_torch(value) for name, value in global_.items()}

  def state_dict(self) -> dict[str, Any]:
    """torch's layout: `{"state": {index: {name: tensor}}, "param_groups": [...]}`.

    Global (not per-parameter) fields of a generic transformation's state, such as
    optax's step `count`, are stored in their group under `"global_state"`.
    """
    for hook in self._optimizer_state_dict_pre_hooks.values():
      hook(self)
    packed_groups, state = [], {}
    index = 0
    for g, group in enumerate(self.param_groups):
      packed = {k: v for k, v in group.items() if k != "params"}
      packed["params"] = list(range(index, index + len(group["params"])))
      global_state = self._group_global_state(g)
      if global_state:
        packed[GLOBAL_STATE_KEY] = global_state
      for i in range(len(group["params"])):
        entry = self._param_state(g, i) if self._runtimes[g].has_state[i] else {}
        if entry:  # torch keeps no entry for a parameter without state (e.g. SGD without momentum)
          state[index + i] = entry
      index += len(group["params"])
      packed_groups.append(packed)
    state_dict = {"state": state, "param_groups": packed_groups}
    for hook in self._optimizer_state_dict_post_hooks.values():
      result = hook(self, state_dict)
      if result is not None:
        state_dict = result
    return state_dict

  def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
    """Loads a state dict after validating all of it; on any error nothing changes."""
    state_dict = dict(state_dict)
    for hook in self._optimizer_load_state_dict_pre_hooks.values():
      result = hook(self, state_dict)
      if result is not None:
        state_dict = result
    new_groups, new_states, new_has_state = self._validated(state_dict)
    for group, saved in zip(self.param_groups, new_groups):
      group.clear()
      group.update(saved)
    for rt, state, has_state in zip(self._runtimes, new_states, new_has_state):
      rt.state, rt.has_state = state, has_state
      rt.note_state_changed()
    for hook in self._optimizer_load_state_dict_post_hooks.values():
      hook(self)

  def _validated(self, state_dict):
    """Everything load_state_dict will set, built without touching the optimizer."""
    missing = {"state", "param_groups"} - set(state_dict)
    if missing:
      raise ValueError(f"state_dict is missing {sorted(missing)}")
    saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
    if len(saved_groups) != len(self.param_groups):
      raise ValueError(
          "loaded state dict has a different number of parameter groups: "
          f"{len(saved_groups)}, the optimizer has {len(self.param_groups)}"
      )
    new_groups, new_states, new_has_state, seen = [], [], [], set()
    for g, (group, saved, rt) in enumerate(zip(self.param_groups, saved_groups, self._runtimes)):
      ids = list(saved.get("params", []))
      if len(ids) != len(group["params"]):
        raise ValueError(
            "loaded state dict contains a parameter group that doesn't match the size of optimizer's group: "
            f"group {g} has {len(ids)} parameters, the optimizer's has {len(group['params'])}"
        )
      expected_keys = set(group) - {"params", "param_names"}
      saved_keys = set(saved) - {"params", "param_names", GLOBAL_STATE_KEY}
      if saved_keys != expected_keys:
        raise ValueError(
            f"loaded parameter group {g} has different hyperparameters: "
            f"missing {sorted(expected_keys - saved_keys)}, unexpected {sorted(saved_keys - expected_keys)}"
        )
      new_group = {k: v for k, v in saved.items() if k not in ("params", GLOBAL_STATE_KEY)}
      new_group["params"] = group["params"]
      if "param_names" in group and "param_names" not in saved:
        new_group["param_names"] = group["param_names"]
      fresh, _ = self._init_state(new_group, rt.params)
      per_param, global_, rebuild = rt.fields(fresh)
      per_param = {name: list(values) for name, values in per_param.items()}
      global_ = dict(global_)
      saved_global = saved.get(GLOBAL_STATE_KEY, {})
      if set(saved_global) != set(global_):
        raise ValueError(
            f"loaded parameter group {g} global state has keys {sorted(saved_global)}, expected {sorted(global_)}"
        )
      for name, value in saved_global.items():
        _check_tensor(f"param_groups[{g}]['{GLOBAL_STATE_KEY}']['{name}']", value, global_[name])
        global_[name] = _to_jax(value, global_[name])
      has_state = []
      for i, saved_id in enumerate(ids):
        seen.add(saved_id)
        entry = saved_state.get(saved_id)
        has_state.append(entry is not None)
        if entry is None:
          continue
        exported = [n for n in self._exported_fields(per_param) if per_param[n][i] is not None]
        if set(entry) != set(exported):
          raise ValueError(
              f"state of parameter {saved_id} has keys {sorted(entry)}, expected {sorted(exported)}"
          )
        for name in per_param:
          if per_param[name][i] is None:
            continue
          if name in entry:
            _check_tensor(f"state[{saved_id}]['{name}']", entry[name], per_param[name][i])
            per_param[name][i] = _to_jax(entry[name], per_param[name][i])
          else:
            per_param[name][i] = self._derived_field(name, per_param[name][i])
      new_groups.append(new_group)
      new_states.append(_committed(rebuild(per_param, global_), rt.params))
      new_has_state.append(has_state)
    unknown = set(saved_state) - seen
    if unknown:
      raise ValueError(f"state_dict has state for parameters {sorted(unknown)} that no group lists")
    return new_groups, new_states, new_has_state

  def __getstate__(self):
    raise TypeError("FunctionalOptimizer cannot be pickled or deep-copied; save its state_dict() instead")


class _StateView(Mapping):
  """`optimizer.state`: parameter -> {name: tensor}, for parameters that have state."""

  def __init__(self, optimizer: FunctionalOptimizer):
    self._optimizer = optimizer

  def _stepped(self) -> Iterator[tuple[int, int, torch.Tensor]]:
    for g, rt in enumerate(self._optimizer._runtimes):
      for i, (p, has) in enumerate(zip(rt.params, rt.has_state)):
        if has:
          yield g, i, p

  def __getitem__(self, param) -> dict[str, torch.Tensor]:
    where = next(((g, i) for g, i, p in self._stepped() if p is param), None)
    return {} if where is None else self._optimizer._param_state(*where)

  def __contains__(self, param) -> bool:
    return bool(self[param])

  def __iter__(self) -> Iterator[torch.Tensor]:
    # Only parameters with non-empty state, as torch (SGD without momentum keeps none).
    return (p for g, i, p in self._stepped() if self._optimizer._param_state(g, i))

  def __len__(self) -> int:
    return sum(1 for _ in self)
