"""`FunctionalOptimizer`: any (init, update) transformation as a torch.optim.Optimizer."""

import collections
import inspect
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import torch

import functional_optim as fo

from . import _differentiable, _dtensor, _flat, _hyperparams, _named, _store, _threads
from ._buffers import layout_of
from ._checkpoints import TORCH_RUNTIME_KEYS, CheckpointLoading
from ._program import GroupProgram, compile_step
from ._runtime import (GroupRuntime, Refused, abstract, check_supported_tensor, jax_device, precision,
                       precision_of, scratch_for, state_snapshot)



def _is_transformation(obj) -> bool:
  return hasattr(obj, "init") and hasattr(obj, "update") and callable(obj.update)


def _in_state_dtype(make_transformation, state_dtype: Optional[torch.dtype]):
  """`make_transformation`, wrapped to keep low-precision parameters' state in `state_dtype`."""
  if state_dtype is None:
    return make_transformation
  if not (isinstance(state_dtype, torch.dtype) and state_dtype.is_floating_point):
    raise TypeError(f"state_dtype must be a floating-point torch.dtype or None, got {state_dtype!r}")
  dtype = jnp.dtype(str(state_dtype).removeprefix("torch."))
  return lambda hyperparams: fo.with_state_dtype(make_transformation(hyperparams), dtype)


class FunctionalOptimizer(CheckpointLoading, torch.optim.Optimizer):
  """Runs a functional transformation as a `torch.optim.Optimizer`.

  Two forms:

  * `FunctionalOptimizer(params, transformation)`: any `(init, update)` pair, from
    this project or optax, unchanged; every group uses it.
  * `FunctionalOptimizer(params, factory, **hyperparams)`: a factory such as
    `functional_optim.adamw` plus hyperparameters. Each param group may override
    them, and `param_groups[i]["lr"]` is the factory's `learning_rate`, so torch's
    lr schedulers drive it. Changing a number in a group never recompiles. A
    factory's `b1`, `b2` are the groups' `betas` (as in torch's Adam: pass either),
    so `OneCycleLR` and `CyclicLR` cycle them; they cycle a `momentum` if it is given.

  Parameters given by name (`model.named_parameters()`, torch's `param_names`) reach
  the transformation as a dict keyed by those names, so label functions and masks
  (`multi_transform`, `masked`, `add_decayed_weights(mask=...)`) can select by name;
  without names they get a tuple. The numbers and `state_dict()` are the same either
  way; its state is named by the kind of state (`scale_by_adam.mu`).

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

  DTensor parameters (FSDP2's `fully_shard`) are stepped through their local shards,
  and their state is DTensors sharded like them; a transformation that combines a
  tensor's elements (a global-norm clip, LAMB, Adafactor, Muon) is refused for them
  with a `ValueError` (see `torch_bridge._dtensor`).

  `differentiable=True` is torch.optim's flag: when a parameter, gradient, state
  tensor or tensor hyperparameter requires grad, autograd records the step (JAX
  computes its backward), so meta-objectives differentiate through it (see
  `torch_bridge._differentiable`).

  The whole step (every group) is one compiled XLA program. torch owns the rest:
  parameters are read and written in place, in whatever storage they have at the
  step, and `optimizer.state` holds the live state as torch tensors (see
  `torch_bridge._buffers` and `torch_bridge._store`).

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
      differentiable: bool = False,
      **hyperparams: Any,
  ):
    if isinstance(transformation, type) and issubclass(transformation, torch.optim.Optimizer):
      raise TypeError(
          f"FunctionalOptimizer takes a functional transformation or factory, not the torch optimizer class "
          f"{transformation.__name__}; use torch_bridge.{transformation.__name__} (a drop-in) or e.g. "
          "FunctionalOptimizer(params, functional_optim.adam, learning_rate=1e-3)"
      )
    if _is_transformation(transformation):
      if hyperparams:
        raise TypeError(
            "hyperparameters can only be given with a transformation factory "
            f"(e.g. functional_optim.adamw), not with a transformation; got {sorted(hyperparams)}"
        )
      factory_args, defaults = (), {}
    elif callable(transformation):
      factory_args, defaults = self._factory_defaults(transformation, hyperparams)
    else:
      raise TypeError(f"expected a transformation or a factory, got {type(transformation).__name__}")
    if differentiable:
      defaults = {**defaults, "differentiable": True}
    self._setup(params, transformation, factory_args, defaults, elementwise=elementwise, state_dtype=state_dtype)

  def _setup(self, params, transformation, factory_args, defaults, *, elementwise: bool,
             state_dtype: Optional[torch.dtype] = None) -> None:
    """Shared by both forms and the drop-ins: `transformation` is one, or a factory of one."""
    _in_state_dtype(None, state_dtype)  # checks it
    self._spec = {
        "transformation": transformation, "factory_args": tuple(factory_args),
        "elementwise": bool(elementwise), "state_dtype": state_dtype,
    }
    self._build_runtime_caches()
    super().__init__(params, defaults)

  def _build_runtime_caches(self) -> None:
    """What is derived from `_spec` and never saved: the transformation maker, programs, runtimes."""
    spec = self._spec
    transformation = spec["transformation"]
    if _is_transformation(transformation):
      make = lambda hp: transformation
    else:
      make = lambda hp: transformation(**hp)
    self._make_transformation = _in_state_dtype(make, spec["state_dtype"])
    self._factory_args = spec["factory_args"]
    self._factory_arg_defaults = {} if _is_transformation(transformation) else _argument_defaults(transformation)
    self._beta_args = _hyperparams.beta_arguments(self._factory_args, self._factory_arg_defaults)
    self._elementwise = spec["elementwise"]
    self._runtimes: list[GroupRuntime] = []
    self._compiled: dict[tuple, Any] = {}

  # ---- construction -------------------------------------------------------------

  @staticmethod
  def _factory_defaults(factory, hyperparams):
    """The factory's argument names, and the defaults dict torch keeps (lr, not learning_rate; betas, not b1, b2)."""
    arg_names = tuple(inspect.signature(factory).parameters)
    arg_defaults = _argument_defaults(factory)
    beta_args = _hyperparams.beta_arguments(arg_names, arg_defaults)
    hyperparams = _hyperparams.as_betas(hyperparams, beta_args, arg_defaults,
                                        where=f"{getattr(factory, '__name__', factory)}()")
    defaults = {}
    for name, value in hyperparams.items():
      if name == "betas" and beta_args:
        defaults[name] = value
        continue
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
    if self._beta_args and "betas" in group:  # torch's name for the factory's b1, b2
      hp.update(zip(self._beta_args, group["betas"]))
    return hp

  # Whether groups with torch's `param_names` give their transformation `{name: array}` (see _named).
  _names_parameters = True

  def _maker(self, group, params, flat: bool):
    """hyperparameters -> the group's transformation, seeing the parameters by name if it has names."""
    names = group.get("param_names") if hasattr(group, "get") else None
    if flat or not self._names_parameters or names is None:
      return self._make_transformation
    first = {}
    for p, name in zip(group["params"], names):
      first.setdefault(id(p), name)  # a parameter listed twice keeps its first name
    distinct_names = [first.get(id(p)) for p in params]
    if not _named.usable_names(distinct_names, len(params)):
      return self._make_transformation
    make = self._make_transformation
    return lambda hyperparams: _named.with_names(make(hyperparams), distinct_names)

  def _group_transformation(self, group, make=None):
    """The group's transformation with its current hyperparameters as Python numbers."""
    make = make or self._make_transformation
    return make(_hyperparams.as_python_numbers(self._transformation_hyperparams(group)))

  def _fresh_state(self, group, params, flat: bool, make=None):
    """`(state, flat_scalars)`: the transformation's initial state for `params`, computed now."""
    tx = self._group_transformation(group, make)
    layout = layout_of(params)
    params = [_dtensor.local(p) for p in params]
    with precision(params):
      if flat:
        values = {
            name: jnp.from_dlpack(torch.cat([params[i].detach().reshape(-1) for i in layout.members(name)]))
            for name in layout.dtypes
        }
        return _flat.init_state(tx, values, layout)
      values = tuple(jnp.array(jnp.from_dlpack(p.detach().contiguous()), copy=True) for p in params)
      return tx.init(values), None

  def _exported(self, name: str) -> bool:
    """Whether a state field is kept in optimizer.state (the rest are derived)."""
    return True

  def _new_runtime(self, group, params) -> "GroupRuntime":
    flat = self._elementwise and _flat.supports(layout_of(params))
    if any(_dtensor.is_dtensor(p) for p in params):
      self._check_shardwise(group, params, flat)
    make = self._maker(group, params, flat)
    fresh, flat_scalars = self._fresh_state(group, params, flat, make)
    state_layout = _store.state_layout(fresh, layout_of(params), flat_scalars or frozenset(), flat, self._exported)
    return GroupRuntime(params, flat_scalars, state_layout, params[0].device if params else torch.device("cpu"),
                         make)

  def _check_shardwise(self, group, params, flat: bool) -> None:
    """Raises ValueError unless the group's transformation may step DTensor shards (see `_dtensor`)."""
    tx = self._group_transformation(group)
    layout = layout_of(params)
    with precision(params):
      if flat:
        abstract = {d: jax.ShapeDtypeStruct((sum(layout.slots[i].size for i in layout.members(d)),), jnp.dtype(d))
                    for d in layout.dtypes}
      else:
        abstract = tuple(jax.ShapeDtypeStruct(slot.shape, jnp.dtype(slot.dtype)) for slot in layout.slots)
      _dtensor.check_shardwise(tx, abstract, self._name())

  def _name(self) -> str:
    transformation = self._spec["transformation"]
    if type(self) is not FunctionalOptimizer and not _is_transformation(transformation):
      return f"torch_bridge.{type(self).__name__}"
    if _is_transformation(transformation):
      return "the transformation given to this FunctionalOptimizer"
    return f"the transformation made by {getattr(transformation, '__name__', transformation)}"

  def _runtime_for(self, group) -> "GroupRuntime":
    """A group's runtime: its distinct parameters, and how often the group lists each."""
    distinct = _distinct(group["params"])
    try:
      runtime = self._new_runtime(group, distinct)
    except RuntimeError as error:  # the algorithm refuses these parameters; torch says so at step()
      runtime = Refused(distinct, error)
    counts = collections.Counter(id(p) for p in group["params"])
    runtime.multiplicity = [counts[id(p)] for p in distinct]
    return runtime

  def add_param_group(self, param_group: dict[str, Any]) -> None:
    """Adds a group (also mid-training), as torch does; its state starts at the first step."""
    if _is_transformation(self._spec["transformation"]) and isinstance(param_group, dict):
      if "lr" in param_group:
        raise ValueError(
            "a param group's 'lr' would be ignored: this FunctionalOptimizer runs a fixed transformation; "
            "pass a factory instead (FunctionalOptimizer(params, functional_optim.adam, learning_rate=...)), "
            "whose learning rate each group's 'lr' sets"
        )
      param_group = _FixedTransformationGroup(param_group)
    if self._beta_args and isinstance(param_group, dict) and any(n in param_group for n in self._beta_args):
      current = dict(zip(self._beta_args, self.defaults.get("betas", ())))  # b2 alone keeps the default b1
      param_group = _hyperparams.as_betas(param_group, self._beta_args, {**self._factory_arg_defaults, **current},
                                          where="add_param_group")
    super().add_param_group(param_group)
    group = self.param_groups[-1]
    try:
      for p in group["params"]:
        check_supported_tensor(p)
      self._runtimes.append(self._runtime_for(group))
    except Exception:
      self.param_groups.pop()
      raise

  # ---- the step -----------------------------------------------------------------

  @torch.no_grad()
  @torch.compiler.disable
  def step(self, closure: Optional[Callable[[], Any]] = None):
    """Performs one optimization step; `closure` re-evaluates the model and returns the loss."""
    loss = None
    if closure is not None:
      with torch.enable_grad():
        loss = closure()
    if getattr(self, "_eval_mode", False):
      raise RuntimeError("the optimizer is in eval mode (schedule-free evaluation parameters); call train() before step()")
    self._check_groups_unchanged()
    self._check_params()  # (a refused group raises its algorithm's error here)
    if _differentiable.records(self):  # differentiable=True: autograd records the step
      _differentiable.step(self)
      return loss
    with _threads.fewer_copy_threads():  # a busy core stalls every parallel copy (see _threads)
      self._step_all()
    return loss

  def _step_all(self) -> None:
    for rt in self._runtimes:
      if rt.written is not None:  # the last write-back (maybe on another stream) read memory XLA reuses
        torch.cuda.current_stream(rt.device).wait_event(rt.written)
        rt.written = None
    gathered = [self._gather(rt) for rt in self._runtimes]
    if not any(any(has_grad) for _, _, has_grad in gathered):
      return  # torch does nothing when no parameter has a gradient
    passes = max(max(rt.multiplicity, default=1) for rt in self._runtimes)
    for index in range(passes):  # a parameter listed twice is stepped twice, as torch steps it
      if index:
        gathered = [
            (grads, extras, [h and m > index for h, m in zip(has_grad, rt.multiplicity)])
            for rt, (grads, extras, has_grad) in zip(self._runtimes, gathered)
        ]
      self._step_once(gathered)

  def _step_once(self, gathered) -> None:
    has_states = [self._sync_state_in(rt) for rt in self._runtimes]
    statics, traced = zip(*(_hyperparams.split(self._transformation_hyperparams(g)) for g in self.param_groups))
    specs = tuple(
        GroupProgram(rt.buffers.layout, rt.store.layout, rt.make_transformation, static, rt.flat_scalars)
        for rt, static in zip(self._runtimes, statics)
    )
    # One group in the general case puts all in it: only two variants are ever compiled.
    general = [any(rt.general_case(has_grad, has_state)
                   for rt, (_, _, has_grad), has_state in zip(self._runtimes, gathered, has_states))]
    general *= len(self._runtimes)
    with precision_of(self._runtimes):
      args = (
          tuple(rt.buffers.params_to_jax() for rt in self._runtimes),
          tuple(grads for grads, _, _ in gathered),
          tuple(extras for _, extras, _ in gathered),
          tuple(np.asarray(has_grad, dtype=np.bool_) for _, _, has_grad in gathered),
          tuple(np.asarray(hs, dtype=np.bool_) if g else None for hs, g in zip(has_states, general)),
          tuple(rt.store.to_jax() for rt in self._runtimes),
          traced,
          tuple(rt.segments() if g else None for rt, g in zip(self._runtimes, general)),
      )
      step_fn, out_shapes = self._compiled_step(specs, args)
      scratch = tuple(scratch_for(rt.scratch, shapes, jax_device(flat))
                      for rt, shapes, flat in zip(self._runtimes, out_shapes, args[0]))
      for rt in self._runtimes:
        rt.scratch = None  # donated below
      new_states, new_flat = step_fn(*args, scratch)
      jax.block_until_ready((new_states, new_flat))
      # Everything that can fail happens before the first write.
      torch_states = [{k: torch.from_dlpack(v) for k, v in state.items()} for state in new_states]
      torch_flat = [{d: torch.from_dlpack(v) for d, v in flat.items()} for flat in new_flat]
    for rt, state, flat, jax_state, jax_flat, (_, _, has_grad), has_state in zip(
        self._runtimes, torch_states, torch_flat, new_states, new_flat, gathered, has_states):
      rt.buffers.write_params(flat)
      rt.scratch = (rt.store.write(state, jax_state), jax_flat)
      if rt.device.type == "cuda":
        rt.written = torch.cuda.Event()
        rt.written.record(torch.cuda.current_stream(rt.device))
      self._sync_state_out(rt, has_grad, has_state)

  def _compiled_step(self, specs, args):
    """`(program, output shapes)` for this structure and case (common or general per group).

    The first time a structure is seen, both the all-common and the all-general
    variants are compiled, so neither a first step (no state yet) nor a later one
    with a missing gradient ever compiles again.
    """
    has_states, segments = args[4], args[7]
    key = (specs, tuple(s is not None for s in has_states), tuple(s is not None for s in segments))
    if key not in self._compiled:
      jitted = compile_step(specs)
      out_shapes = tuple(zip(*jax.eval_shape(jitted, *args, None)))
      scratch = tuple(abstract(shapes, jax_device(flat)) for shapes, flat in zip(out_shapes, args[0]))
      variants = [((None,) * len(specs), (None,) * len(specs))]  # common
      variants.append((  # general
          tuple(jax.ShapeDtypeStruct((len(rt.params),), jnp.bool_) for rt in self._runtimes),
          tuple(rt.abstract_segments() for rt in self._runtimes),
      ))
      for variant_states, variant_segments in variants:
        variant_key = (specs, tuple(s is not None for s in variant_states),
                       tuple(s is not None for s in variant_segments))
        if variant_key not in self._compiled:
          variant_args = args[:4] + (variant_states,) + args[5:7] + (variant_segments,)
          self._compiled[variant_key] = (jitted.lower(*variant_args, scratch).compile(), out_shapes)
    return self._compiled[key]

  def _gather(self, runtime: "GroupRuntime"):
    """`(flat_grads, flat_extras, has_grad)` for one group.

    `flat_extras` maps names of extra `update` arguments to flat per-dtype arrays
    laid out like the parameters; none here, SparseAdam's gradient masks there.
    """
    with precision_of([runtime]):
      flat_grads, has_grad = runtime.buffers.grads_to_jax(self._sparse_gradient_message())
    return flat_grads, {}, has_grad

  def _sparse_gradient_message(self) -> str:
    return "this optimizer does not support sparse gradients"

  def _check_params(self) -> None:
    """Raises if a group's parameters changed dtype, shape or device since it was built.

    A group without state is rebuilt instead: torch.optim creates state at the
    first step, so it steps parameters that a wrapper re-pointed after the
    optimizer was built (FSDP1 flattens and shards them).
    """
    for i, (group, rt) in enumerate(zip(self.param_groups, self._runtimes)):
      try:
        rt.buffers.check_params()
      except RuntimeError:
        if isinstance(rt, Refused) or any(self._entry(p) for p in rt.params):
          raise
        self._runtimes[i] = self._runtime_for(group)
        self._runtimes[i].buffers.check_params()

  def _check_groups_unchanged(self) -> None:
    if len(self.param_groups) != len(self._runtimes):
      raise RuntimeError(
          f"the optimizer has {len(self.param_groups)} param groups, but {len(self._runtimes)} were added "
          "through add_param_group; use add_param_group to add parameters"
      )
    for i, (group, rt) in enumerate(zip(self.param_groups, self._runtimes)):
      distinct = _distinct(group["params"])
      if len(distinct) != len(rt.params) or any(a is not b for a, b in zip(distinct, rt.params)):
        raise RuntimeError(
            f"param_groups[{i}]['params'] was changed in place; use add_param_group to add parameters"
        )

  # ---- state: torch's mapping, kept in step with the stores -------------------------

  def _entry(self, p):
    """`p`'s state dict in `self.state` (None if it has none), without creating one."""
    state = self.state
    return state.get(p) if hasattr(state, "get") else None

  def _sync_state_in(self, rt: "GroupRuntime") -> list[bool]:
    """Which parameters have state; copies state that is not the store's own into it.

    `optimizer.state[p]` may have been edited: a tensor replaced (`state[p]["exp_avg"]
    = t`), the whole entry replaced (`state[p] = {...}`, as ZeRO loads), the mapping
    replaced or cleared. Tensors that are not the store's views are checked, copied
    into the store, and then made views of it (`t.set_`): the tensor stays the one
    in `optimizer.state` and holds the stepped value afterwards, as in torch. All
    entries are checked before anything is copied.
    """
    state = self.state
    entries = [state.get(p) for p in rt.params] if hasattr(state, "get") else [None] * len(rt.params)
    snapshot = state_snapshot(entries)
    if snapshot == rt.state_snapshot:  # the same keys and the same tensor objects as after the last check
      return [bool(entry) for entry in entries]
    has_state, adopt = [], []
    for i, p in enumerate(rt.params):
      entry = self._entry(p)
      if not entry:
        has_state.append(False)
        continue
      has_state.append(True)
      views = rt.store.views[i]
      if not _store.is_live(entry, views):
        _store.check_entry(f"{i} of its group", entry, views)
        adopt.append((i, entry))
    for i, entry in adopt:
      views = rt.store.views[i]
      _store.copy_entry(entry, views)
      for name, view in list(views.items()):
        value = entry[name]
        if value is view:
          continue
        if isinstance(value, torch.Tensor) and value.dtype == view.dtype and value.device == view.device \
            and not value.requires_grad and not _dtensor.is_dtensor(value) and not _dtensor.is_dtensor(view):
          value.set_(view)  # the tensor in optimizer.state is now the live one
          views[name] = value
        else:
          entry[name] = view
    rt.state_snapshot = state_snapshot(entries)  # everything in it is the store's own now
    return has_state

  def _sync_state_out(self, rt: "GroupRuntime", has_grad, has_state) -> None:
    """After a step: parameters stepped for the first time get their state entries."""
    for i, (p, stepped, had) in enumerate(zip(rt.params, has_grad, has_state)):
      if stepped and not had and rt.store.views[i]:
        self.state[p] = self._new_entry(rt, i)

  def _new_entry(self, rt: "GroupRuntime", index: int) -> dict:
    """The state dict a parameter gets when its state starts or is loaded: the store's views."""
    return dict(rt.store.views[index])

  @torch.no_grad()
  def init_state(self) -> None:
    """Gives the parameters of every group without state their initial state, without stepping.

    torch.distributed.checkpoint's `get_optimizer_state_dict` and
    `set_optimizer_state_dict` create a fresh optimizer's state by stepping it
    once with zero gradients and each group's `lr` set to 0. A fixed
    transformation has no `lr` to set, so that step would move the parameters
    (weight decay, ...) and count a step: call `init_state()` on such an
    optimizer before handing it to them. Groups with state are left as they are.

    Example:
      >>> import torch, functional_optim as fo, torch_bridge
      >>> w = torch.nn.Parameter(torch.ones(2))
      >>> opt = torch_bridge.FunctionalOptimizer([w], fo.adamw(0.1))
      >>> opt.init_state()
      >>> sorted(opt.state[w]), int(opt.state[w]["scale_by_adam.count"]), w.tolist()
      (['scale_by_adam.count', 'scale_by_adam.mu', 'scale_by_adam.nu'], 0, [1.0, 1.0])
    """
    self._materialize_state(only_stateless=True)

  def _materialize_state(self, *, only_stateless: bool = False) -> None:
    """Gives every parameter its initial state now (torch's Adagrad creates it when built)."""
    for group, rt in zip(self.param_groups, self._runtimes):
      if only_stateless and any(self._entry(p) for p in rt.params):
        continue
      rt.buffers.check_params()
      fresh, _ = self._fresh_state(group, rt.params, rt.flat_scalars is not None, rt.make_transformation)
      with precision(rt.params):
        packed = _store.pack(rt.store.layout, rt.buffers.layout, rt.flat_scalars or frozenset(), fresh)
        packed = {k: jnp.array(v, copy=True) for k, v in packed.items()}
        rt.store.write({k: torch.from_dlpack(v) for k, v in packed.items()}, packed)
      for i, p in enumerate(rt.params):
        if rt.store.views[i]:
          self.state[p] = self._new_entry(rt, i)

  # ---- schedule-free evaluation parameters -----------------------------------------

  @torch.no_grad()
  def eval(self) -> None:
    """Schedule-free transformations: puts the evaluation parameters `x` into the model.

    As `schedulefree`'s torch optimizers (facebookresearch) do: call `eval()` before
    evaluating or saving the model, `train()` before training again. `x = (y - (1 - b1) z) / b1`
    (`functional_optim.contrib.schedule_free_eval_params`), from each parameter's `z` and the
    group's `b1`; a parameter without state is left as it is.
    """
    self._swap_schedule_free(to_eval=True)

  @torch.no_grad()
  def train(self) -> None:
    """Schedule-free transformations: puts the training parameters `y` back (see `eval`)."""
    self._swap_schedule_free(to_eval=False)

  def _swap_schedule_free(self, *, to_eval: bool) -> None:
    if getattr(self, "_eval_mode", False) == to_eval:
      return
    pairs = []
    for rt in self._runtimes:
      names = [part.field for part in rt.store.layout.parts]
      z_name = next((n for n in names if n.split(".")[-1] == "z"), None)
      b1_name = next((n for n in names if n.split(".")[-1] == "b1"), None)
      if z_name is None or b1_name is None:
        raise TypeError("eval() and train() need a schedule-free transformation "
                        "(functional_optim.contrib.schedule_free_*): this state has no 'z' and 'b1'")
      for p in rt.params:
        entry = self._entry(p)
        if entry:
          pairs.append((p, entry[z_name], entry[b1_name]))
    for p, z, b1 in pairs:
      b1 = b1.to(p.dtype)
      if to_eval:
        p.copy_((p - (1 - b1) * z) / b1)
      else:
        p.copy_((1 - b1) * z + b1 * p)
    self._eval_mode = to_eval

class _FixedTransformationGroup(dict):
  """A param group of a fixed transformation: it has no 'lr', and says why when asked."""

  def __missing__(self, key):
    if key == "lr":
      raise KeyError(
          "'lr': this FunctionalOptimizer runs a fixed transformation, which no lr scheduler can drive. "
          "Pass a factory and its hyperparameters instead (FunctionalOptimizer(params, functional_optim.adamw, "
          "learning_rate=1e-3)): each group's 'lr' is then the factory's learning_rate; or schedule inside "
          "the transformation (functional_optim.warmup_cosine_decay_schedule, ...)"
      )
    raise KeyError(key)


def _argument_defaults(factory) -> dict[str, Any]:
  """The default values of a factory's arguments that have one."""
  try:
    parameters = inspect.signature(factory).parameters
  except (TypeError, ValueError):
    return {}
  return {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}


def _distinct(params) -> list:
  """`params` without repetitions (by identity), in order."""
  return list({id(p): p for p in params}.values())


