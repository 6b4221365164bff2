"""functional_optim.microbatching against optax.microbatching (and against no microbatching)."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

fmb = fo.microbatching
omb = optax.microbatching

# optax 0.2.8 guards its explicit-sharding code with `jax.__version__ < "0.7.0"`, a string
# comparison that is True for jax 0.10.x: it reshapes explicitly sharded batches without an
# `out_sharding` and jax raises. We compare versions by requiring jax >= 0.10.2 instead.
OPTAX_MICROBATCH_FAILS_ON_EXPLICIT_SHARDING = jax.__version__ < "0.7.0"
# optax's micro_vmap turns an int `in_axes` into a 1-tuple, so only one positional argument
# can be passed; jax.vmap (and ours) maps every positional argument with an int.
OPTAX_MICRO_VMAP_INT_IN_AXES_MAPS_ONE_ARG = True
# optax's micro_grad builds `in_axes` up to the last batch argument only, so `fun(params,
# batch, extra)` cannot be called with `extra`; ours leaves trailing arguments unmapped.
OPTAX_MICRO_GRAD_REJECTS_TRAILING_ARGS = True

_TYPES = ("SUM", "MEAN", "RUNNING_MEAN", "CONCAT")


def _random(rng, shape, dtype):
  return jnp.asarray(rng.normal(size=shape).astype(np.float32), dtype)


@st.composite
def _batches(draw, dtypes=parity.REAL_DTYPES):
  """(num_microbatches, microbatch_size, axis, dtype, leaves with a batch axis at `axis`)."""
  num_microbatches = draw(st.integers(1, 4))
  microbatch_size = draw(st.integers(1, 3))
  axis = draw(st.integers(0, 1))
  dtype = draw(st.sampled_from(dtypes))
  rests = draw(st.lists(parity.shapes(max_rank=2, max_side=3, min_rank=1), min_size=2, max_size=2))
  rng = np.random.default_rng(draw(st.integers(0, 2**16)))
  batch = num_microbatches * microbatch_size
  leaves = [_random(rng, rest[:axis] + (batch,) + rest[axis:], dtype) for rest in rests]
  return num_microbatches, microbatch_size, axis, dtype, leaves


def _fun(axis):
  """A function of two batch arguments (a pytree, an array) and a non-batch scale."""

  def fun(scale, tree, y):
    x = jnp.moveaxis(tree["x"], axis, 0)
    y = jnp.moveaxis(y, axis, 0)
    rows = jnp.tanh(x) * scale
    return {
        "rows": rows,  # per example, batch axis 0
        "total": (rows.sum(0), jnp.sum(y * y)),
        "mean": jnp.mean(y, axis=0),
    }

  return fun


def _accumulator(module, kind_rows, kind_total, kind_mean):
  acc = module.AccumulationType
  return {"rows": acc[kind_rows], "total": acc[kind_total], "mean": acc[kind_mean]}


@given(
    batches=_batches(),
    kinds=st.tuples(
        st.sampled_from(["CONCAT"]),
        st.sampled_from(["SUM", "CONCAT"]),
        st.sampled_from(["MEAN", "RUNNING_MEAN", "SUM"]),
    ),
    real_fraction=st.sampled_from([None, 0.0, 0.5, 1.0]),
    as_kwarg=st.booleans(),
)
def test_microbatch(batches, kinds, real_fraction, as_kwarg):
  num_microbatches, microbatch_size, axis, dtype, (x, y) = batches
  num_real = None if real_fraction is None else int(real_fraction * num_microbatches)
  fun = _fun(axis)
  scale = jnp.asarray(1.5, dtype)

  def run(module):
    kwargs = dict(in_axes=axis, num_real_microbatches=num_real)
    if as_kwarg:
      kwargs["argnames"] = "y"
    mfun = module.microbatch(
        fun, (1,) if as_kwarg else (1, 2), microbatch_size, _accumulator(module, *kinds), **kwargs
    )
    if as_kwarg:
      return jax.jit(lambda s, t, y: mfun(s, t, y=y))(scale, {"x": x}, y)
    return jax.jit(mfun)(scale, {"x": x}, y)

  ours = run(fmb)
  parity.assert_trees_close(ours, run(omb), dtype, "against optax")
  if num_real is None and dtype == parity.FLOAT32:
    expected = fun(scale, {"x": x}, y)
    if kinds[1] == "SUM" and kinds[2] != "SUM":  # then every output is one of the batch's
      parity.assert_trees_close(ours, expected, dtype, "against no microbatching")
    else:
      parity.assert_trees_close(ours["rows"], expected["rows"], dtype, "rows")


@given(batches=_batches(), microbatch_size=st.sampled_from([None, 1]))
def test_microbatch_custom_accumulator(batches, microbatch_size):
  _, _, axis, dtype, (x, _) = batches

  def running_max(module):
    return module.Accumulator(
        init=lambda s: jnp.full(s.shape, -jnp.inf, s.dtype),
        update=lambda carry, value, index: jnp.maximum(carry, value),
        finalize=lambda carry: carry,
        aggregate=lambda values: values.max(axis=0),
    )

  fun = lambda x: jnp.max(x, axis=axis)
  ours = fo.microbatch(fun, 0, microbatch_size, running_max(fmb), in_axes=axis)(x)
  theirs = optax.microbatch(fun, 0, microbatch_size, running_max(omb), in_axes=axis)(x)
  parity.assert_trees_close(ours, theirs, dtype)
  parity.assert_trees_close(ours, fun(x), dtype)


@given(batches=_batches(), microbatch_size=st.integers(1, 3))
def test_reshape_batch_axis(batches, microbatch_size):
  *_, axis, _, leaves = batches
  leaves = [jnp.concatenate([leaf] * microbatch_size, axis) for leaf in leaves]
  ours = fmb.reshape_batch_axis(leaves, microbatch_size, axis)
  parity.assert_trees_close(ours, omb.reshape_batch_axis(leaves, microbatch_size, axis))
  for leaf, split in zip(leaves, ours):  # microbatch k holds rows k, k + n, k + 2n, ...
    n = leaf.shape[axis] // microbatch_size
    k = 1 % n
    rows = jnp.arange(k, leaf.shape[axis], n)
    np.testing.assert_array_equal(jnp.take(split, k, axis), jnp.take(leaf, rows, axis))


@given(
    batches=_batches(),
    kind=st.sampled_from(_TYPES),
    microbatch_size=st.sampled_from([None, 1, "all"]),
    real_fraction=st.sampled_from([None, 0.5]),
)
def test_micro_vmap(batches, kind, microbatch_size, real_fraction):
  num_microbatches, size, axis, dtype, (x, y) = batches
  microbatch_size = {None: None, 1: size, "all": num_microbatches * size}[microbatch_size]
  num_real = None if real_fraction is None else int(real_fraction * num_microbatches)
  fun = lambda a, *, b: (jnp.sin(a).sum(), {"b": b * 2})

  def run(module):
    mfun = module.micro_vmap(
        fun,
        in_axes=axis,
        microbatch_size=microbatch_size,
        accumulator=module.AccumulationType[kind],
        num_real_microbatches=num_real,
    )
    return jax.jit(mfun)(x, b=jnp.moveaxis(y, axis, 0))

  ours = run(fmb)
  parity.assert_trees_close(ours, run(omb), dtype)
  if kind == "CONCAT" and num_real is None:
    expected = jax.vmap(fun, in_axes=axis)(x, b=jnp.moveaxis(y, axis, 0))
    parity.assert_trees_close(ours, expected, dtype)


def _clip(max_norm):
  def clip(grads):
    norm = optax.tree.norm(grads)
    return jax.tree.map(lambda g: g * jnp.minimum(1.0, max_norm / (norm + 1e-12)), grads)

  return clip


@given(
    batches=_batches(dtypes=(parity.FLOAT32,)),
    kind=st.sampled_from(["SUM", "MEAN", "RUNNING_MEAN"]),
    keep_batch_dim=st.booleans(),
    has_aux=st.booleans(),
    max_norm=st.floats(0.1, 10.0),
    use_microbatches=st.booleans(),
)
def test_micro_grad(batches, kind, keep_batch_dim, has_aux, max_norm, use_microbatches):
  num_microbatches, size, axis, dtype, (x, _) = batches
  batch = num_microbatches * size
  x = jnp.moveaxis(x, axis, 0).reshape(batch, -1)  # a batch of feature vectors
  targets = jnp.asarray(np.linspace(-1.0, 1.0, batch), dtype)
  params = {"w": jnp.linspace(-0.5, 0.5, x.shape[1]), "b": jnp.asarray(0.1)}

  def loss(params, features, targets):
    assert features.ndim == 1 + keep_batch_dim
    diff = features @ params["w"] + params["b"] - targets
    value = 0.5 * jnp.mean(diff**2)
    return (value, {"diff": diff}) if has_aux else value

  def run(module):
    grad_fn = module.micro_grad(
        loss,
        has_aux,
        batch_argnums=(1, 2),
        keep_batch_dim=keep_batch_dim,
        microbatch_size=size if use_microbatches else None,
        accumulator=module.AccumulationType[kind],
        transform_fn=lambda g: (_clip(max_norm)(g), jax.tree.map(jnp.square, g)),
        metrics_fn=optax.tree.norm,
    )
    return jax.jit(grad_fn)(params, x, targets)

  ours = run(fmb)
  parity.assert_trees_close(ours, run(omb), dtype)
  (clipped, _), aux = ours
  assert aux.values.shape == (batch,) and aux.metrics.shape == (batch,)
  np.testing.assert_array_less(optax.tree.norm(clipped) / (max_norm * batch), 1.0 + 1e-5)


def test_micro_grad_with_trailing_unmapped_args():
  loss = lambda params, batch, weight: weight * jnp.sum(params * batch)
  grad_fn = fmb.micro_grad(loss, microbatch_size=2, keep_batch_dim=False)
  grads, aux = grad_fn(jnp.ones(3), jnp.ones((4, 3)), 2.0)
  np.testing.assert_allclose(grads, jnp.full(3, 8.0))
  assert aux.values.shape == (4,)
  if OPTAX_MICRO_GRAD_REJECTS_TRAILING_ARGS:
    with pytest.raises(ValueError, match="in_axes"):
      theirs = omb.micro_grad(loss, microbatch_size=2, keep_batch_dim=False)
      theirs(jnp.ones(3), jnp.ones((4, 3)), 2.0)


def test_micro_vmap_int_in_axes_maps_every_positional_arg():
  a, b = jnp.arange(6.0).reshape(3, 2), jnp.ones((3, 2))
  fun = lambda a, b: jnp.dot(a, b)
  np.testing.assert_allclose(fmb.micro_vmap(fun, microbatch_size=1)(a, b), jax.vmap(fun)(a, b))
  if OPTAX_MICRO_VMAP_INT_IN_AXES_MAPS_ONE_ARG:
    with pytest.raises(ValueError, match="in_axes"):
      omb.micro_vmap(fun, microbatch_size=1)(a, b)


def test_traced_num_real_microbatches_does_not_recompile():
  fun = jax.jit(lambda x, n: fo.microbatch(jnp.sum, 0, 4, num_real_microbatches=n)(x))
  x = jnp.arange(16.0)
  assert fun(x, 1) == x[::4].sum() and fun(x, 4) == x.sum()
  assert fun._cache_size() == 1


def test_concat_keeps_batch_order_and_dtype():
  x = jnp.arange(12, dtype=jnp.bfloat16).reshape(6, 2)
  out = fo.microbatch(lambda x: x * 2, 0, 3, fmb.AccumulationType.CONCAT)(x)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_array_equal(out, x * 2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fo.microbatch(jnp.sum, 0, 3)(jnp.ones(4)), ValueError, "divisible"),
        (lambda: fo.microbatch(lambda a, b: a.sum(), (0, 1), 2)(jnp.ones(4), jnp.ones(6)),
         ValueError, "equal-size"),
        (lambda: fo.microbatch(jnp.sum, 0, 2, fmb.AccumulationType.MEAN)(jnp.arange(4)),
         ValueError, "floating-point"),
        (lambda: fo.microbatch(jnp.sum, 0, 2, "sum")(jnp.ones(4)), ValueError, "Unknown"),
        (lambda: fmb.micro_vmap(jnp.sum, out_axes=1), NotImplementedError, "out_axis"),
    ],
)
def test_rejects_invalid(call, error, match):
  with pytest.raises(error, match=match):
    call()


def test_microbatch_size_none_returns_fun():
  assert fo.microbatch(jnp.sum, 0, None) is jnp.sum


def test_public_surface_matches_optax():
  assert sorted(fmb.__all__) == sorted(n for n in dir(omb) if not n.startswith("_"))
  assert fo.microbatch is fmb.microbatch
  assert [m.name for m in fmb.AccumulationType] == [m.name for m in omb.AccumulationType]


_SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    import functional_optim as fo
    mesh = jax.make_mesh((4,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
    with jax.set_mesh(mesh):
      x = jax.device_put(jnp.arange(32.0).reshape(8, 4), jax.P("x", None))
      acc = (fo.microbatching.AccumulationType.CONCAT, fo.microbatching.AccumulationType.SUM)
      rows, total = fo.microbatch(lambda a: (a * 2, a.sum(0)), 0, 4, acc)(x)
      assert jax.typeof(rows).sharding.spec == jax.P("x", None), jax.typeof(rows)
      np.testing.assert_array_equal(rows, 2 * np.arange(32.0).reshape(8, 4))
      np.testing.assert_array_equal(total, np.arange(32.0).reshape(8, 4).sum(0))
      try:
        fo.microbatch(jnp.sum, 0, 2)(x)
      except ValueError as e:
        assert "nshards" in str(e)
      else:
        raise AssertionError("a microbatch smaller than the number of shards was accepted")
      import optax
      try:
        optax.microbatch(lambda a: a * 2, 0, 4, optax.microbatching.AccumulationType.CONCAT)(x)
        print("optax works")
      except Exception:
        print("optax fails")
    print("ok")
    """
)


def test_explicit_sharding():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  root = os.path.dirname(os.path.dirname(fo.__file__))
  result = subprocess.run(
      [sys.executable, "-c", _SHARDED],
      env=env, cwd=root, capture_output=True, text=True, timeout=300,
  )
  assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
  assert ("optax fails" in result.stdout) == OPTAX_MICROBATCH_FAILS_ON_EXPLICIT_SHARDING
