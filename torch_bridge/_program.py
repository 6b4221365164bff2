"""The compiled step: all param groups, one XLA program, cached by structure."""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax
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


def compile_step(specs: tuple[GroupProgram, ...]):
  """One jitted function stepping every group; the states (argument 4) are donated.

  Returns `(new_states, new_flat_params)`.

  `flat_extras[g]` maps extra-argument names to flat per-dtype arrays laid out like
  the parameters (e.g. SparseAdam's gradient masks); each reaches the group's
  `update` as a keyword argument, one array per parameter. `segments[g]` is None
  or, for a group in flat form that needs the general case, its segment ids
  (see `_flat.step`).
  """

  def step(flat_params, flat_grads, flat_extras, has_grads, states, traced, segments):
    results = [
        _group_step(spec, *args)
        for spec, *args in zip(specs, flat_params, flat_grads, flat_extras, has_grads, states, traced, segments)
    ]
    # States first: jax pairs each donated input with the first output of its shape
    # and dtype, so new parameters listed first would take over the buffers of
    # same-shaped state (Adam's exp_avg) and force XLA to copy.
    return tuple(r[1] for r in results), tuple(r[0] for r in results)

  return jax.jit(step, donate_argnums=(4,))
