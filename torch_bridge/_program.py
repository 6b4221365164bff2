"""The compiled step: all param groups, one XLA program, cached by structure."""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp

import functional_optim as fo

from . import _flat, _hyperparams, _store
from ._buffers import Layout, join_flat, split_flat
from ._state import keep_where_no_grad

MakeTransformation = Callable[[Mapping[str, Any]], fo.GradientTransformation]


@dataclasses.dataclass(frozen=True)
class GroupProgram:
  """What the compiled step must know about one group at compile time."""

  layout: Layout
  state_layout: _store.StateLayout
  make_transformation: MakeTransformation  # hyperparameters -> transformation
  static_hyperparams: tuple  # from _hyperparams.split; hashable
  flat_scalars: Optional[_flat.ScalarFields] = None  # None: per-parameter form; else flat form


def fresh_state(tx: fo.GradientTransformation, spec: GroupProgram, flat_params):
  """The transformation's initial state for the group, in the group's form."""
  if spec.flat_scalars is not None:
    state, _ = _flat.init_state(tx, flat_params, spec.layout)
    return state
  return tx.init(split_flat(flat_params, spec.layout))


def _group_step(spec: GroupProgram, flat_params, flat_grads, flat_extras, has_grad, has_state, packed,
                traced, segments):
  tx = spec.make_transformation(_hyperparams.merge(spec.static_hyperparams, traced))
  fresh = fresh_state(tx, spec, flat_params)
  state = _store.unpack(spec.state_layout, spec.layout, spec.flat_scalars, packed, fresh, has_state, segments)
  if spec.flat_scalars is not None:
    new_flat, new_state = _flat.step(
        tx, spec.layout, spec.flat_scalars, flat_params, flat_grads, flat_extras, has_grad, state, segments
    )
  else:
    params = split_flat(flat_params, spec.layout)
    grads = tuple(
        jnp.where(has_grad[i], g, jnp.zeros_like(g))
        for i, g in enumerate(split_flat(flat_grads, spec.layout))
    )
    extra_args = {name: split_flat(flat, spec.layout) for name, flat in flat_extras.items()}
    updates, new_state = tx.update(grads, state, params, **extra_args)
    new_params = fo.apply_updates(params, updates)
    new_params = tuple(jnp.where(has_grad[i], new, old) for i, (new, old) in enumerate(zip(new_params, params)))
    new_state = keep_where_no_grad(new_state, state, has_grad, len(params))
    new_flat = join_flat(new_params, spec.layout)
  return _store.pack(spec.state_layout, spec.layout, spec.flat_scalars, new_state), new_flat


def compile_step(specs: tuple[GroupProgram, ...]):
  """One jitted function stepping every group.

  Arguments: per group, the flat parameters and gradients, extra `update` inputs
  (flat per-dtype arrays laid out like the parameters, e.g. SparseAdam's gradient
  masks), which parameters have a gradient and which have state (None: all do),
  the stored state buffers (see `_store`), the traced hyperparameters and the
  flat general case's segment ids (None: common case); last, `scratch`: the
  previous step's outputs, donated, so XLA writes this step's outputs into memory
  that is already paged in (a fresh multi-megabyte output page-faults on every
  first touch). Nothing else is donated: the inputs are torch's memory, read only.

  Returns `(new_state_buffers, new_flat_params)`, per group.
  """

  def step(flat_params, flat_grads, flat_extras, has_grads, has_states, packed_states, traced, segments,
           scratch):
    del scratch  # donated: only its memory is used
    results = [
        _group_step(spec, *args)
        for spec, *args in zip(specs, flat_params, flat_grads, flat_extras, has_grads, has_states,
                               packed_states, traced, segments)
    ]
    return tuple(r[0] for r in results), tuple(r[1] for r in results)

  return jax.jit(step, donate_argnums=(8,), keep_unused=True)
