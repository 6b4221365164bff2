"""Machinery shared by the torch-exact transformations.

Each algorithm writes one kernel per parameter, in the order of torch's
`_single_tensor_*` code path, and `map_params` runs it on every leaf. Two ways in
which torch's numbers differ from a naive port are handled here, once:

* torch computes each tensor op in "opmath" precision (float32 for bfloat16 and
  float16 tensors) and rounds the result to the tensor's dtype. Kernels receive
  float32 arrays and a function `rnd` that rounds to the storage precision; they
  call it wherever torch materializes a tensor, and on the scalar of `add`/`add_`
  (`x.add(y, alpha=a)`, `x.add_(eps)`), which torch's CPU kernel first rounds to
  the tensor's dtype (mul, div, addcmul, addcdiv and lerp keep float32 scalars).
* torch views complex parameters, gradients and states as real arrays with a
  trailing axis of 2 (`torch.view_as_real`), so e.g. Adam's `exp_avg_sq` holds
  `re(g)**2` and `im(g)**2` averages. Kernels always see that real view.

A kernel returns torch's increment of the parameter: the opmath value that torch's
last in-place op (`add_`, `addcdiv_`) adds, plus the exact change made by any
earlier in-place op on the parameter (see `decay_increment`). For a bfloat16
parameter no bfloat16 update can carry a float32 increment, so the update becomes
the change that torch's single rounding makes (`_applied_increment`).

torch's bfloat16 CPU kernels are not self-consistent: the scalar loop over the
last elements of a tensor (beyond a multiple of the SIMD width, 32 with AVX-512)
rounds some intermediates (`alpha * other` in `add`) to bfloat16. We follow the
vectorized loop, which covers all of any large tensor.

Scalar coefficients (bias corrections, step sizes) are computed like torch's
Python floats, but with a traced float32 step: `1 - beta**step` is evaluated as
`-expm1(step * log(beta))`, with `log(beta)` taken in float64 when `beta` is a
Python number, so it keeps full float32 relative precision even for `beta` near 1.
"""

import math

import jax
import jax.numpy as jnp

from .._base import NO_PARAMS_MSG
from ._checks import is_number

STEP_DTYPE = jnp.float32  # torch keeps `step` (and NAdam's `mu_product`) as float32 tensors


def scalar_like(params, value, dtype=STEP_DTYPE):
  """A tree of 0-d arrays filled with `value`, one per parameter leaf, each in a buffer of its own.

  One `jnp.full` per leaf, not the rows of one array: slicing rows is an indexing
  operation that mixes positions, which torch_bridge's shard-wise check of a
  transformation (DTensor parameters) rightly refuses.
  """
  return jax.tree.map(lambda p: jnp.full((), value, dtype), params)


def zeros_like(params):
  """A tree of zeros with each parameter's shape and dtype, in new buffers.

  Call it once per state field: a state whose fields share buffers cannot be
  donated (`jax.jit(..., donate_argnums=...)` refuses a buffer donated twice).
  """
  return jax.tree.map(jnp.zeros_like, params)


def log(x):
  """`log(x)`, in float64 for a Python number (`-inf` at 0), else with jax."""
  if is_number(x):
    return math.log(x) if x > 0 else -math.inf
  return jnp.log(x)


def one_minus_power(base, exponent):
  """`1 - base ** exponent` for `base >= 0`, accurate even when it is tiny.

  Computed in float64 when JAX's 64-bit mode is on (torch computes it as a Python
  float), else in float32.
  """
  wide = jax.dtypes.canonicalize_dtype(jnp.float64)
  return -jnp.expm1(jnp.asarray(exponent, wide) * log(base))


def lerp(start, end, weight):
  """torch's `start.lerp(end, weight)` for a scalar weight, same formula per branch."""
  weight = jnp.asarray(weight, start.dtype)
  diff = end - start
  return jnp.where(jnp.abs(weight) < 0.5, start + weight * diff, end + (weight - 1) * diff)


def decay_increment(rnd, param, lr, weight_decay):
  """What torch's `param.mul_(1 - lr * weight_decay)` adds to `param`.

  Decoupled weight decay rounds the decayed parameter to its dtype before the main
  step; `rnd(param * c) - param` is exactly that change (Sterbenz: the difference of
  two floats within a factor of 2 is exact), so bfloat16 steps keep torch's rounding.
  (For float32, XLA on CPU fuses the product and the difference into one FMA,
  which skips the rounding of `param * c`: a difference of one float32 ulp.)
  """
  return rnd(param * (1 - lr * weight_decay)) - param


def map_params(kernel, params, grads, *fields):
  """Runs `kernel(rnd, param, grad, *field_leaves)` on every parameter leaf.

  Args:
    kernel: returns `(increment, *new_field_leaves)` for one parameter; arrays of the
      parameter's dtype come in as opmath, real-view arrays (see the module
      docstring), every other leaf (`step`, flags) as is. A None field gives the
      kernel None and must come back as None.
    params: the current parameters; None raises `ValueError`.
    grads: the gradients, with the structure of `params`.
    *fields: state fields, each None or a tree with the structure of `params`.

  Returns:
    `(updates, new_fields)`: the increments as a tree like `params`, with each
    parameter's dtype, and the tuple of new fields.
  """
  if params is None:
    raise ValueError(NO_PARAMS_MSG)
  param_leaves, treedef = jax.tree.flatten(params)
  grad_leaves = treedef.flatten_up_to(grads)
  field_leaves = [
      [None] * len(param_leaves) if field is None else treedef.flatten_up_to(field)
      for field in fields
  ]
  outputs = [
      _run_kernel(kernel, param, grad, [leaves[i] for leaves in field_leaves])
      for i, (param, grad) in enumerate(zip(param_leaves, grad_leaves))
  ]
  updates = treedef.unflatten([out[0] for out in outputs])
  new_fields = tuple(
      None if field is None else treedef.unflatten([out[k + 1] for out in outputs])
      for k, field in enumerate(fields)
  )
  return updates, new_fields


def _run_kernel(kernel, param, grad, states):
  param = jnp.asarray(param)
  storage = param.dtype
  is_complex = jnp.issubdtype(storage, jnp.complexfloating)
  real = jnp.finfo(storage).dtype  # float32 for complex64
  opmath = jnp.promote_types(real, jnp.float32)

  def to_kernel(x):
    if x is None or jnp.asarray(x).dtype != storage:
      return x
    if is_complex:
      x = jnp.stack([x.real, x.imag], axis=-1)
    return x.astype(opmath)

  def from_kernel(x, original):
    if x is None or original is None or jnp.asarray(original).dtype != storage:
      return x
    x = x.astype(real)
    return jax.lax.complex(x[..., 0], x[..., 1]) if is_complex else x

  if real == opmath:
    rnd = lambda x: x
  else:
    info = jnp.finfo(real)
    rnd = lambda x: jax.lax.reduce_precision(
        jnp.asarray(x, opmath), exponent_bits=info.nexp, mantissa_bits=info.nmant
    )

  grad = jnp.asarray(grad)
  if grad.dtype != storage:  # torch requires grads of the parameter's dtype
    grad = grad.astype(storage)
  kernel_param = to_kernel(param)
  increment, *outputs = kernel(rnd, kernel_param, to_kernel(grad), *map(to_kernel, states))
  if real == opmath:
    increment = from_kernel(increment, param)
  else:
    increment = _applied_increment(kernel_param, increment, rnd, storage)
  return (increment,) + tuple(
      from_kernel(new, old) for new, old in zip(outputs, states)
  )


def _applied_increment(param, increment, rnd, storage):
  """The storage-dtype update `u` with `param + u == torch's new parameter`.

  torch adds the float32 increment to a low-precision parameter and rounds once;
  adding a rounded increment in the storage dtype would round twice. `new - param`
  is exact (Sterbenz) unless the step changes the parameter by a factor of 2 or
  more (e.g. across 0); then one of its neighbours usually lands on `new`.
  """
  new = rnd(param + increment)
  u = (new - param).astype(storage)
  up, down = jnp.nextafter(u, jnp.inf), jnp.nextafter(u, -jnp.inf)
  reaches = lambda v: rnd(param + v.astype(param.dtype)) == new
  return jnp.where(reaches(u), u, jnp.where(reaches(up), up, jnp.where(reaches(down), down, u)))
