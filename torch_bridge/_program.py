"""The compiled step: all param groups, one XLA program, cached by structure."""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax
import jax.extend
import jax.numpy as jnp

import functional_optim as fo

from . import _flat, _hyperparams
from ._buffers import Layout, join_flat, split_flat
from ._state import keep_where_no_grad

MakeTransformation = Callable[[Mapping[str, Any]], fo.GradientTransformation]


@dataclasses.dataclass(frozen=True)
class GroupProgram:
  """What the compiled step must know about one group at compile time."""

  layout: Layout
  make_transformation: MakeTransformation  # hyperparameters -> transformation
  static_hyperparams: tuple  # from _hyperparams.split; hashable
  flat_scalars: Optional[_flat.ScalarFields] = None  # None: per-parameter form; else flat form


def _group_step(spec: GroupProgram, flat_params, flat_grads, flat_extras, has_grad, state, traced, segments):
  tx = spec.make_transformation(_hyperparams.merge(spec.static_hyperparams, traced))
  if spec.flat_scalars is not None:
    return _flat.step(
        tx, spec.layout, spec.flat_scalars, flat_params, flat_grads, flat_extras, has_grad, state, segments
    )
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
  return join_flat(new_params, spec.layout), new_state


# Primitives that run Python on the host in the middle of a compiled program: the
# only way such a program can fail after it has started (and consumed donated state).
_HOST_CALLBACKS = ("pure_callback", "io_callback", "debug_callback", "callback")


def has_host_callbacks(jaxpr) -> bool:
  """Whether a (closed) jaxpr calls back into Python anywhere, nested jaxprs included."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in _HOST_CALLBACKS:
      return True
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      if has_host_callbacks(sub):
        return True
  return False


def compile_step(specs: tuple[GroupProgram, ...], *, donate_states: bool = True):
  """One jitted function stepping every group; the states (argument 4) are donated.

  Unless `donate_states` is False: a program with host callbacks may raise while it
  runs, and donated state would then be gone; without donation a failed step
  leaves the state as it was (at the cost of fresh state buffers each step).

  So is `scratch` (argument 7): last step's output parameter buffers, whose memory
  XLA reuses for this step's new parameters instead of fresh pages (a fresh
  multi-megabyte output page-faults on every first touch).

  Returns `(new_states, new_flat_params)`.

  `flat_extras[g]` maps extra-argument names to flat per-dtype arrays laid out like
  the parameters (e.g. SparseAdam's gradient masks); each reaches the group's
  `update` as a keyword argument, one array per parameter. `segments[g]` is None
  or, for a group in flat form that needs the general case, its segment ids
  (see `_flat.step`).
  """

  def step(flat_params, flat_grads, flat_extras, has_grads, states, traced, segments, scratch):
    del scratch  # donated: only its memory is used, for the new parameters
    results = [
        _group_step(spec, *args)
        for spec, *args in zip(specs, flat_params, flat_grads, flat_extras, has_grads, states, traced, segments)
    ]
    # States first: jax pairs each donated input with the first output of its shape
    # and dtype, so new parameters listed first would take over the buffers of
    # same-shaped state (Adam's exp_avg) and force XLA to copy.
    return tuple(r[1] for r in results), tuple(r[0] for r in results)

  return jax.jit(step, donate_argnums=(4, 7) if donate_states else (7,), keep_unused=True)
