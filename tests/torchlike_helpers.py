"""Shared machinery for the property tests of `functional_optim.torchlike` against torch.

Both checks run a torchlike transformation (under `jax.jit`) and the torch.optim
optimizer it mirrors on the same random pytree, with gradients `0.5 * p + noise_t`
of the current parameters: `assert_trajectory_matches_torch` lets both run freely
and compares the parameters after every step and the full per-parameter state at
the end; `assert_steps_match_torch` restarts ours from torch's parameters and state
before every step and compares each step's result.
"""

from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import torch
from hypothesis import strategies as st

import functional_optim as fo
import parity

NUM_STEPS = 12

# Hyperparameter strategies shared by the tests.
learning_rates = st.floats(1e-4, 0.3)
unit_interval = st.floats(0.0, 0.9999)  # betas, alpha
second_moment_decays = st.floats(0.5, 0.9999)  # beta2 of free runs: see below
weight_decays = st.one_of(st.just(0.0), st.floats(1e-4, 0.2))
epsilons = st.one_of(st.floats(1e-10, 1e-3), st.just(0.0))

# torch's bfloat16 CPU kernels round differently in a tensor's vectorized body and
# in its scalar tail (e.g. `x.add(y, alpha=a)` rounds `a * y` to bfloat16 first in
# the tail only). We follow the body, which is all of any large tensor; bfloat16
# test tensors have a multiple of 32 elements (the AVX-512 chunk) to stay in it.
BF16_CHUNK = 32


def _chunked_shapes():
  """Shapes of rank 1 to 4 with a multiple of BF16_CHUNK elements."""
  return st.tuples(
      st.lists(st.integers(1, 3), min_size=0, max_size=3), st.sampled_from([32, 64])
  ).map(lambda parts: (*parts[0], parts[1]))


def trees(dtypes):
  """Random parameter trees (`parity.TreeSpec`) of `dtypes`, 0-d to 4-d leaves.

  bfloat16 trees get shapes whose size is a multiple of BF16_CHUNK (see above).
  """
  strategies = []
  if parity.BFLOAT16 in dtypes:
    strategies.append(st.builds(
        parity.TreeSpec,
        shapes=st.lists(_chunked_shapes(), min_size=1, max_size=3).map(tuple),
        dtype=st.just(parity.BFLOAT16),
        seed=st.integers(0, 2**16),
    ))
  others = tuple(d for d in dtypes if d != parity.BFLOAT16)
  if others:
    strategies.append(parity.pytrees(others))
  return st.one_of(*strategies)


def to_torch(x) -> torch.Tensor:
  """A writable torch copy of a jax/numpy array (bfloat16 through float32, exactly)."""
  x = np.asarray(x)
  if x.dtype == jnp.bfloat16:
    return torch.from_numpy(x.astype(np.float32)).to(torch.bfloat16)
  return torch.from_numpy(np.array(x))


def to_numpy(t: torch.Tensor) -> np.ndarray:
  """A numpy copy of a torch tensor (bfloat16 through float32, exactly)."""
  t = t.detach()
  if t.dtype == torch.bfloat16:
    return t.float().numpy().astype(jnp.bfloat16)
  return t.numpy().copy()


def torch_trajectory(torch_cls, torch_kwargs, param_leaves, noise_leaves, num_steps):
  """Runs torch's optimizer; returns (params after each step, final per-param states)."""
  params = [torch.nn.Parameter(to_torch(p)) for p in param_leaves]
  optimizer = torch_cls(params, **torch_kwargs)
  history = []
  for t in range(num_steps):
    for p, noise in zip(params, noise_leaves):
      p.grad = 0.5 * p.detach() + to_torch(noise[t])
    optimizer.step()
    history.append([to_numpy(p) for p in params])
  return history, [optimizer.state[p] for p in params]


def jax_trajectory(make_tx, hyper, traced, params, noise):
  """Runs `make_tx(**hyper)` under jit; the names in `traced` are jit arguments.

  Returns the stacked parameters after each step and the final state.
  """
  static = {k: v for k, v in hyper.items() if k not in traced}
  dynamic = {k: jax.tree.map(jnp.float32, hyper[k]) for k in traced}

  @jax.jit
  def run(dynamic, params, noise):
    tx = make_tx(**static, **dynamic)

    def step(carry, step_noise):
      p, state = carry
      grads = parity.quadratic_grad(p, step_noise)
      updates, state = tx.update(grads, state, p)
      p = fo.apply_updates(p, updates)
      return (p, state), p

    (_, state), ps = jax.lax.scan(step, (params, tx.init(params)), noise)
    return ps, state

  return run(dynamic, params, noise)


def _assert_close(actual, expected, dtype, message):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, f"{message}: shape {actual.shape} vs {expected.shape}"
  assert actual.dtype == expected.dtype, f"{message}: dtype {actual.dtype} vs {expected.dtype}"
  wide = np.complex128 if np.iscomplexobj(actual) else np.float64
  np.testing.assert_allclose(
      actual.astype(wide), expected.astype(wide), err_msg=message, equal_nan=True,
      **parity.TOLERANCES[dtype],
  )


def state_from_torch(template, torch_states, flags):
  """Our state from torch's per-parameter states, as the torch bridge reads them.

  A field torch does not have (yet) keeps `template`'s (initial) value; a flag is
  True where torch's state has the key it records.
  """
  fields = {}
  for field in template._fields:
    value = getattr(template, field)
    if value is None:
      fields[field] = None
      continue
    leaves, treedef = jax.tree.flatten(value)
    if field in flags:
      leaves = [jnp.asarray(flags[field] in s) for s in torch_states]
    else:
      leaves = [
          jnp.asarray(to_numpy(s[field])) if field in s else leaf
          for leaf, s in zip(leaves, torch_states, strict=True)
      ]
    fields[field] = treedef.unflatten(leaves)
  return type(template)(**fields)


def assert_state_matches(our_state, torch_states, dtype, state_keys, flags, message=""):
  """Each field equals torch's per-parameter state (None iff torch lacks the key)."""
  num_params = len(torch_states)
  for field in our_state._fields:
    value = getattr(our_state, field)
    if field in flags:
      present = [flags[field] in s for s in torch_states]
      if value is None:
        assert not any(present), f"{message}{field} is None but torch has {flags[field]}"
      else:
        np.testing.assert_array_equal(
            np.asarray(jax.tree.leaves(value)), present, err_msg=message + field
        )
      continue
    assert field in state_keys, f"{field} is neither a torch key nor a flag"
    if value is None:
      assert not any(field in s for s in torch_states), f"{message}{field} is None but torch has it"
      continue
    leaves = jax.tree.leaves(value)
    assert len(leaves) == num_params, f"{field}: {len(leaves)} leaves for {num_params} params"
    for i, (leaf, torch_state) in enumerate(zip(leaves, torch_states)):
      assert field in torch_state, f"{message}torch has no {field} for param {i}"
      expected = to_numpy(torch_state[field])
      _assert_close(leaf, expected, dtype, f"{message}state {field} of param {i}")
  ours = {f for f in our_state._fields if getattr(our_state, f) is not None}
  for i, torch_state in enumerate(torch_states):
    assert set(torch_state) <= ours, f"param {i}: torch keys {set(torch_state) - ours} missing"


def assert_trajectory_matches_torch(
    make_tx: Callable,
    torch_cls,
    hyper: Mapping,
    spec: parity.TreeSpec,
    state_keys: Sequence[str],
    *,
    flags: Mapping[str, str] = {},
    traced: Sequence[str] = (),
    num_steps: int = NUM_STEPS,
):
  """Runs `make_tx(**hyper)` and `torch_cls(params, **hyper)` side by side, freely.

  Parameters are compared after every step and the per-parameter states at the end.
  Use float32 or complex64 trees and well-conditioned hyperparameters: a free run
  amplifies rounding differences wherever the update is ill-conditioned (e.g.
  Adamax with `beta2 = 0` divides by `|g|`, so a gradient near 0 turns an ulp into
  a visible difference), and bfloat16 runs drift apart by chance 1-ulp steps.

  Args:
    make_tx: the torchlike factory.
    torch_cls: the torch.optim class.
    hyper: keyword arguments, the same for both.
    spec: the random parameter tree.
    state_keys: the state fields that torch's per-parameter state holds when not None.
    flags: extra bool fields, mapped to the torch key whose presence each records.
    traced: names in `hyper` passed to the factory as traced float32 jit arguments.
    num_steps: number of steps.
  """
  assert spec.dtype != parity.BFLOAT16, "use assert_steps_match_torch for bfloat16"
  params = spec.build()
  noise = spec.noise(num_steps)
  our_params, our_state = jax_trajectory(make_tx, hyper, traced, params, noise)
  torch_params, torch_states = torch_trajectory(
      torch_cls, dict(hyper, foreach=False), jax.tree.leaves(params), jax.tree.leaves(noise),
      num_steps,
  )
  for t in range(num_steps):
    ours = jax.tree.leaves(jax.tree.map(lambda x: x[t], our_params))
    for i, (a, e) in enumerate(zip(ours, torch_params[t], strict=True)):
      _assert_close(a, e, spec.dtype, f"param {i} after step {t + 1}")
  assert_state_matches(our_state, torch_states, spec.dtype, state_keys, flags)


def assert_steps_match_torch(
    make_tx: Callable,
    torch_cls,
    hyper: Mapping,
    spec: parity.TreeSpec,
    state_keys: Sequence[str],
    *,
    flags: Mapping[str, str] = {},
    num_steps: int = NUM_STEPS,
):
  """Checks every step of `make_tx(**hyper)` against `torch_cls(params, **hyper)`.

  Runs torch for `num_steps` steps; before each one, our (jitted) `update` starts
  from torch's parameters and state, read as the torch bridge reads them
  (`state_from_torch`), and must give torch's new parameters and state. Any
  hyperparameters and dtypes: no rounding difference can grow across steps.
  """
  params = spec.build()
  noise = spec.noise(num_steps)
  treedef = jax.tree.structure(params)
  tx = make_tx(**hyper)
  update = jax.jit(tx.update)
  torch_params = [torch.nn.Parameter(to_torch(p)) for p in jax.tree.leaves(params)]
  optimizer = torch_cls(torch_params, **hyper, foreach=False)
  for t in range(num_steps):
    params = treedef.unflatten([jnp.asarray(to_numpy(p)) for p in torch_params])
    torch_states = [optimizer.state[p] for p in torch_params]
    state = state_from_torch(tx.init(params), torch_states, flags)
    grads = parity.quadratic_grad(params, jax.tree.map(lambda x: x[t], noise))
    updates, state = update(grads, state, params)
    params = fo.apply_updates(params, updates)
    for p, g in zip(torch_params, jax.tree.leaves(grads), strict=True):
      p.grad = to_torch(g)
    optimizer.step()
    for i, (a, p) in enumerate(zip(jax.tree.leaves(params), torch_params, strict=True)):
      _assert_close(a, to_numpy(p), spec.dtype, f"param {i} at step {t + 1}")
    torch_states = [optimizer.state[p] for p in torch_params]
    assert_state_matches(state, torch_states, spec.dtype, state_keys, flags, f"step {t + 1}: ")


_TORCH_RUNTIME_FLAGS = ("params", "foreach", "fused", "capturable", "differentiable")


def assert_signature_matches(factory, torch_cls, *, keyword_only=()):
  """`factory` takes torch's hyperparameters, in torch's order, with torch's defaults.

  torch's runtime flags (foreach, fused, capturable, differentiable) are left out;
  `keyword_only` names arguments that torch takes positionally after such a flag.
  """
  import inspect

  ours = inspect.signature(factory).parameters
  theirs = {
      name: p for name, p in inspect.signature(torch_cls.__init__).parameters.items()
      if name != "self" and name not in _TORCH_RUNTIME_FLAGS
  }
  assert list(ours) == list(theirs), f"{factory.__name__}: {list(ours)} vs {list(theirs)}"
  for name, theirs_param in theirs.items():
    assert ours[name].default == theirs_param.default, f"{name}: default differs"
    kind = inspect.Parameter.KEYWORD_ONLY if name in keyword_only else theirs_param.kind
    assert ours[name].kind == kind, f"{name}: {ours[name].kind} vs {kind}"
