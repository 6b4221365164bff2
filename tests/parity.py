"""Shared machinery for property tests against optax.

`pytrees()` draws a random parameter tree (0-d to 4-d leaves, several dtypes);
`trajectory()` runs a transformation for several steps of parameter-dependent
gradients under `jax.jit`; `assert_same_trajectory()` runs ours and optax's on the
same tree and compares parameters and updates at every step and the final state.
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
COMPLEX64 = "complex64"
REAL_DTYPES = (FLOAT32, BFLOAT16)
ALL_DTYPES = (FLOAT32, BFLOAT16, COMPLEX64)

# Relative/absolute tolerance per dtype: a few ulps of accumulated rounding.
TOLERANCES = {
    FLOAT32: dict(rtol=2e-5, atol=2e-6),
    COMPLEX64: dict(rtol=2e-5, atol=2e-6),
    BFLOAT16: dict(rtol=2e-2, atol=2e-2),
}


@dataclasses.dataclass(frozen=True)
class TreeSpec:
  """What a drawn tree looks like; `build()` makes the arrays."""

  shapes: tuple[tuple[int, ...], ...]
  dtype: str
  seed: int

  def build(self) -> dict:
    """A nested dict/tuple pytree with one leaf per shape."""
    rng = np.random.default_rng(self.seed)
    leaves = [_random_array(rng, shape, self.dtype) for shape in self.shapes]
    half = (len(leaves) + 1) // 2
    return {
        "dense": {f"w{i}": leaf for i, leaf in enumerate(leaves[:half])},
        "extra": tuple(leaves[half:]),
    }

  def noise(self, num_steps: int) -> Any:
    """A stacked tree of per-step gradient noise, leading axis = step."""
    rng = np.random.default_rng(self.seed + 1)
    leaves = [
        _random_array(rng, (num_steps, *shape), self.dtype) for shape in self.shapes
    ]
    half = (len(leaves) + 1) // 2
    return {
        "dense": {f"w{i}": leaf for i, leaf in enumerate(leaves[:half])},
        "extra": tuple(leaves[half:]),
    }


def _random_array(rng, shape, dtype):
  real = rng.normal(size=shape).astype(np.float32)
  if dtype == COMPLEX64:
    return jnp.asarray(real + 1j * rng.normal(size=shape).astype(np.float32), jnp.complex64)
  return jnp.asarray(real, dtype=jnp.dtype(dtype))


def shapes(max_rank: int = 4, max_side: int = 4, min_rank: int = 0):
  """Array shapes of rank `min_rank..max_rank` with sides 1..max_side."""
  return st.lists(
      st.integers(1, max_side), min_size=min_rank, max_size=max_rank
  ).map(tuple)


def pytrees(
    dtypes: Sequence[str] = (FLOAT32,),
    min_leaves: int = 1,
    max_leaves: int = 4,
    max_rank: int = 4,
    min_rank: int = 0,
    max_side: int = 4,
):
  """Strategy drawing a `TreeSpec`."""
  return st.builds(
      TreeSpec,
      shapes=st.lists(
          shapes(max_rank=max_rank, max_side=max_side, min_rank=min_rank),
          min_size=min_leaves,
          max_size=max_leaves,
      ).map(tuple),
      dtype=st.sampled_from(tuple(dtypes)),
      seed=st.integers(0, 2**16),
  )


def quadratic_grad(params, noise):
  """Gradient of a noisy quadratic: depends on the current parameters."""
  return jax.tree.map(lambda p, n: (0.5 * p + n).astype(p.dtype), params, noise)


def trajectory(
    tx,
    params,
    noise,
    *,
    apply_updates: Callable,
    grad_fn: Callable = quadratic_grad,
    extra_args_fn: Optional[Callable] = None,
):
  """Runs `tx` for `len(noise)` steps under jit.

  Returns `(params_per_step, updates_per_step, final_state)`, the first two stacked
  along a leading step axis. `extra_args_fn(params, grads)` supplies keyword
  arguments to `update` (e.g. `value=` for line searches).
  """

  def step(carry, step_noise):
    p, state = carry
    grads = grad_fn(p, step_noise)
    extra = {} if extra_args_fn is None else extra_args_fn(p, grads)
    updates, state = tx.update(grads, state, p, **extra)
    p = apply_updates(p, updates)
    return (p, state), (p, updates)

  @jax.jit
  def run(p, n):
    (_, final_state), (ps, us) = jax.lax.scan(step, (p, tx.init(p)), n)
    return ps, us, final_state

  return run(params, noise)


def assert_trees_close(actual, expected, dtype=FLOAT32, err_msg=""):
  """Same structure (up to container types) and leaves close at `dtype`'s tolerance."""
  actual_leaves = jax.tree.leaves(actual)
  expected_leaves = jax.tree.leaves(expected)
  assert len(actual_leaves) == len(expected_leaves), (
      f"{err_msg}: {len(actual_leaves)} leaves vs {len(expected_leaves)}"
  )
  for i, (a, e) in enumerate(zip(actual_leaves, expected_leaves)):
    if jnp.issubdtype(jnp.result_type(a), jax.dtypes.prng_key):
      assert jnp.issubdtype(jnp.result_type(e), jax.dtypes.prng_key), f"{err_msg}: leaf {i} is a key in one tree only"
      a, e = jax.random.key_data(a), jax.random.key_data(e)
    a, e = np.asarray(a), np.asarray(e)
    assert a.shape == e.shape, f"{err_msg}: leaf {i} shape {a.shape} vs {e.shape}"
    assert a.dtype == e.dtype, f"{err_msg}: leaf {i} dtype {a.dtype} vs {e.dtype}"
    tol = TOLERANCES[dtype] if jnp.issubdtype(a.dtype, jnp.inexact) else dict(rtol=0, atol=0)
    np.testing.assert_allclose(
        np.asarray(a, np.complex128 if np.iscomplexobj(a) else np.float64),
        np.asarray(e, np.complex128 if np.iscomplexobj(e) else np.float64),
        err_msg=f"{err_msg}: leaf {i}",
        equal_nan=True,
        **tol,
    )


def assert_same_trajectory(
    ours,
    theirs,
    spec: TreeSpec,
    *,
    num_steps: int = 10,
    compare_state: bool = True,
    grad_fn: Callable = quadratic_grad,
    extra_args_fn: Optional[Callable] = None,
):
  """Runs `ours` and the optax transformation `theirs` side by side and compares.

  Parameters and updates are compared after every step; with `compare_state`, the
  final states must have the same leaves (same shapes, dtypes and values) in the
  same order, so a state made by one can be read by the other.
  """
  import optax  # test-time reference only
  import functional_optim as fo

  params = spec.build()
  noise = spec.noise(num_steps)
  our_ps, our_us, our_state = trajectory(
      ours, params, noise, apply_updates=fo.apply_updates, grad_fn=grad_fn,
      extra_args_fn=extra_args_fn,
  )
  their_ps, their_us, their_state = trajectory(
      theirs, params, noise, apply_updates=optax.apply_updates, grad_fn=grad_fn,
      extra_args_fn=extra_args_fn,
  )
  assert_trees_close(our_us, their_us, spec.dtype, "updates")
  assert_trees_close(our_ps, their_ps, spec.dtype, "params")
  if compare_state:
    assert_trees_close(our_state, their_state, spec.dtype, "final state")
