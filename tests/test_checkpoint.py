"""Functional-side checkpoints: flat dicts and .npz files of optimizer states."""

import functools
import io
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
from functional_optim import torchlike

DTYPES = {"f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16, "c64": jnp.complex64}
REAL = ("f32", "bf16", "f16")
WITH_COMPLEX = REAL + ("c64",)


def _quadratic(params):
  return sum(jnp.sum(jnp.abs(p.astype(jnp.float32)) ** 2 * (1 + i)) for i, p in enumerate(jax.tree.leaves(params)))


def _labels(params):
  return jax.tree.map(lambda p: "vector" if p.ndim >= 1 else "scalar", params)


def _mask(params):
  return jax.tree.map(lambda p: p.ndim >= 1, params)


# name -> (make the optimizer, the parameter dtypes it supports, needs lbfgs's extra args)
OPTIMIZERS = {
    "adam": (lambda: fo.adam(1e-2), WITH_COMPLEX, False),
    "chain(clip, adamw) with schedule": (
        lambda: fo.chain(fo.clip_by_global_norm(1.0),
                         fo.adamw(fo.warmup_cosine_decay_schedule(0.0, 1e-2, 2, 10), weight_decay=0.1)),
        WITH_COMPLEX, False),
    "MultiSteps(adam)": (lambda: fo.MultiSteps(fo.adam(1e-2), every_k_schedule=2), WITH_COMPLEX, False),
    "inject_hyperparams(adamw)": (lambda: fo.inject_hyperparams(fo.adamw, hyperparam_dtype=jnp.float32)(learning_rate=1e-2), ("f32",), False),
    "noisy_sgd (PRNG key)": (lambda: fo.noisy_sgd(1e-2, key=jax.random.key(3)), REAL, False),
    "lbfgs": (lambda: fo.lbfgs(), ("f32",), True),
    "masked(adam)": (lambda: fo.masked(fo.adam(1e-2), _mask), WITH_COMPLEX, False),
    "multi_transform": (
        lambda: fo.multi_transform({"vector": fo.adam(1e-2), "scalar": fo.sgd(0.1, momentum=0.9)}, _labels),
        WITH_COMPLEX, False),
    "apply_if_finite(sgd)": (lambda: fo.apply_if_finite(fo.sgd(0.1, momentum=0.9), 3), REAL, False),
    "adafactor": (lambda: fo.adafactor(1e-2), ("f32", "bf16"), False),
    "rprop": (lambda: fo.rprop(1e-2), REAL, False),
    "torchlike.adamw": (lambda: torchlike.adamw(lr=1e-2, amsgrad=True), WITH_COMPLEX, False),
    "optax.chain(clip, adam)": (lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2)),
                                WITH_COMPLEX, False),
}


@st.composite
def param_trees(draw, dtypes):
  """A dict/tuple tree of 0-d to 3-d leaves with dtypes drawn from `dtypes` (mixed)."""
  num = draw(st.integers(1, 4))
  rng = np.random.default_rng(draw(st.integers(0, 2**16)))
  leaves = []
  for _ in range(num):
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    dtype = DTYPES[draw(st.sampled_from(dtypes))]
    value = rng.normal(size=shape) + (1j * rng.normal(size=shape) if dtype == jnp.complex64 else 0)
    leaves.append(jnp.asarray(value, dtype))
  return {"w": {f"{i}": leaf for i, leaf in enumerate(leaves[:2])}, "rest": tuple(leaves[2:])}


@functools.lru_cache(maxsize=None)
def _step_fn(name):
  """The optimizer and a jitted step, made once per optimizer so each compiles once per tree."""
  optimizer = OPTIMIZERS[name][0]()
  lbfgs_args = OPTIMIZERS[name][2]

  @jax.jit
  def step(params, state, noise):
    grads = jax.tree.map(lambda p, n: p + n, params, noise)
    extra = {}
    if lbfgs_args:
      value, grads = jax.value_and_grad(_quadratic)(params)
      extra = dict(value=value, grad=grads, value_fn=_quadratic)
    updates, state = optimizer.update(grads, state, params, **extra)
    return fo.apply_updates(params, updates), state

  return optimizer, step


def _fixed_params(dtypes, seed):
  """One tree per dtype set (so the step compiles once): 0-d to 2-d leaves, mixed dtypes."""
  rng = np.random.default_rng(seed)
  shapes = [(), (3,), (2, 3), (4,)]
  leaves = []
  for i, shape in enumerate(shapes):
    dtype = DTYPES[dtypes[i % len(dtypes)]]
    value = rng.normal(size=shape) + (1j * rng.normal(size=shape) if dtype == jnp.complex64 else 0)
    leaves.append(jnp.asarray(value, dtype))
  return {"w": {"0": leaves[0], "1": leaves[1]}, "rest": tuple(leaves[2:])}


def _random_bits(leaf, rng):
  """An array like `leaf` holding random bit patterns (NaN payloads, infinities, subnormals)."""
  if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    data = jax.random.key_data(leaf)
    bits = rng.integers(0, 2**32, size=data.shape, dtype=np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(bits), impl=jax.random.key_impl(leaf))
  dtype = np.dtype(leaf.dtype)
  if dtype == np.bool_:
    return jnp.asarray(rng.integers(0, 2, size=leaf.shape).astype(bool))
  raw = rng.integers(0, 256, size=(*leaf.shape, dtype.itemsize), dtype=np.uint8)
  return jnp.asarray(raw.view(dtype).reshape(leaf.shape))


def _noise(params, seed):
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)


def _run(step, params, state, num_steps, seed):
  for t in range(num_steps):
    params, state = step(params, state, _noise(params, seed + t))
  return params, state


def _bytes(leaf):
  if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    return str(jax.random.key_impl(leaf)), np.asarray(jax.random.key_data(leaf)).tobytes()
  return str(leaf.dtype), tuple(leaf.shape), np.asarray(leaf).tobytes()


def assert_bit_identical(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
    assert _bytes(x) == _bytes(y)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@given(data=st.data())
def test_round_trip_is_exact(name, data):
  """Every leaf of a real optimizer's state, filled with random bits, comes back bit for bit."""
  make, dtypes, _ = OPTIMIZERS[name]
  params = data.draw(param_trees(dtypes), label="params")
  optimizer = make()
  rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
  state = jax.tree.map(lambda leaf: _random_bits(leaf, rng), optimizer.init(params))

  flat = fo.state_to_dict(state)
  assert all(isinstance(v, np.ndarray) for v in flat.values())
  assert_bit_identical(fo.state_from_dict(flat, like=optimizer.init(params)), state)

  file = io.BytesIO()
  fo.save_state(file, state)
  file.seek(0)
  assert_bit_identical(fo.load_state(file, like=optimizer.init(params)), state)


@pytest.mark.parametrize("name", ["adam", "chain(clip, adamw) with schedule", "MultiSteps(adam)",
                                  "inject_hyperparams(adamw)", "noisy_sgd (PRNG key)", "lbfgs",
                                  "torchlike.adamw", "multi_transform"])
@given(data=st.data())
def test_training_continues_bit_identically(name, data):
  _, dtypes, _ = OPTIMIZERS[name]
  params = _fixed_params(dtypes, data.draw(st.integers(0, 2**16), label="seed"))
  k = data.draw(st.integers(1, 4), label="steps before saving")
  optimizer, step = _step_fn(name)

  straight = _run(step, params, optimizer.init(params), 6, seed=10)

  mid_params, mid_state = _run(step, params, optimizer.init(params), k, seed=10)
  file = io.BytesIO()
  fo.save_state(file, mid_state)
  file.seek(0)
  restored = fo.load_state(file, like=optimizer.init(params))
  params_after, state_after = mid_params, restored
  for t in range(k, 6):
    params_after, state_after = step(params_after, state_after, _noise(params_after, 10 + t))
  assert_bit_identical((params_after, state_after), straight)


def test_paths_name_namedtuple_fields():
  params = {"w": jnp.zeros((2, 2), jnp.bfloat16), "b": jnp.zeros(2)}
  state = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(1e-3)).init(params)
  flat = fo.state_to_dict(state)
  assert sorted(flat) == ["1.0.count", "1.0.mu.b", "1.0.mu.w", "1.0.nu.b", "1.0.nu.w"]
  assert flat["1.0.mu.w"].dtype == jnp.bfloat16 and flat["1.0.count"].dtype == np.int32


def test_optax_checkpoint_loads_into_functional_optim_state():
  params = {"w": jnp.arange(4.0).reshape(2, 2)}
  grads = {"w": jnp.ones((2, 2))}
  theirs = optax.adamw(1e-2)
  _, their_state = theirs.update(grads, theirs.init(params), params)
  ours = fo.adamw(1e-2).init(params)
  loaded = fo.state_from_dict(fo.state_to_dict(their_state), like=ours)
  assert jax.tree.structure(loaded) == jax.tree.structure(ours)
  assert_bit_identical(jax.tree.leaves(loaded), jax.tree.leaves(their_state))


def test_file_round_trip_with_every_dtype(tmp_path):
  state = {
      "bf16": jnp.asarray([1.5, -0.0, jnp.inf, jnp.nan], jnp.bfloat16),
      "f16": jnp.asarray([65504.0, 1e-7], jnp.float16),
      "f64ish": jnp.asarray([1.0 / 3.0], jnp.float32),
      "c64": jnp.asarray([1 + 2j], jnp.complex64),
      "count": jnp.asarray(7, jnp.int32),
      "flag": jnp.asarray([True, False]),
      "u8": jnp.asarray([255], jnp.uint8),
      "f8": jnp.asarray([0.5, 448.0], jnp.float8_e4m3fn),
      "key": jax.random.split(jax.random.key(1), 3),
      "none": None,
      "empty": (),
  }
  path = tmp_path / "state.npz"
  fo.save_state(path, state)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["state.npz"]  # no stray temporary file
  like = jax.tree.map(jnp.zeros_like, {k: v for k, v in state.items() if k != "key"})
  like["key"] = jax.random.split(jax.random.key(0), 3)
  assert_bit_identical(fo.load_state(path, like=like), state)
  with np.load(path, allow_pickle=False) as archive:  # a plain npz, readable without pickle
    paths = list(archive["__paths__"])
    bf16 = archive[f"leaf_{paths.index('bf16')}"]
    assert bf16.dtype == np.uint16
    assert archive["__dtypes__"][paths.index("bf16")] == "bfloat16"
    assert archive[f"leaf_{paths.index('count')}"].dtype == np.int32


def test_template_may_be_an_eval_shape_result():
  params = {"w": jnp.ones((3,), jnp.bfloat16)}
  optimizer = fo.adam(1e-2)
  _, state = optimizer.update(params, optimizer.init(params), params)
  like = jax.eval_shape(optimizer.init, params)
  assert_bit_identical(fo.state_from_dict(fo.state_to_dict(state), like=like), state)


# ---- corruption: each raises ValueError naming the path and the problem -----------------

def _saved_adam():
  params = {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.ones(3)}
  optimizer = fo.chain(fo.clip_by_global_norm(1.0), fo.adam(1e-2))
  _, state = optimizer.update(params, optimizer.init(params), params)
  return fo.state_to_dict(state), optimizer.init(params)


CORRUPTIONS = {
    "missing": (lambda flat: flat.pop("1.0.mu.w"), r"missing '1\.0\.mu\.w'"),
    "extra": (lambda flat: flat.update({"1.0.mu.x": np.zeros(3, np.float32)}), r"unexpected '1\.0\.mu\.x'"),
    "shape": (lambda flat: flat.update({"1.0.nu.b": np.zeros(4, np.float32)}),
              r"'1\.0\.nu\.b': expected shape \(3,\), got \(4,\)"),
    "dtype": (lambda flat: flat.update({"1.0.mu.w": flat["1.0.mu.w"].astype(np.float32)}),
              r"'1\.0\.mu\.w': expected dtype bfloat16, got float32"),
    "count dtype": (lambda flat: flat.update({"1.0.count": np.asarray(1, np.int64)}),
                    r"'1\.0\.count': expected dtype int32, got int64"),
    "not an array": (lambda flat: flat.update({"1.0.count": 1}), r"'1\.0\.count': expected an array, got int"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_dict_raises_naming_the_path(kind):
  flat, like = _saved_adam()
  before = jax.tree.map(lambda x: np.asarray(x).copy(), like)
  corrupt, message = CORRUPTIONS[kind]
  corrupt(flat)
  with pytest.raises(ValueError, match=message):
    fo.state_from_dict(flat, like=like)
  for x, y in zip(jax.tree.leaves(like), jax.tree.leaves(before)):
    assert np.asarray(x).tobytes() == y.tobytes()  # the template is untouched


@pytest.mark.parametrize("kind", sorted(set(CORRUPTIONS) - {"not an array"}))  # a file holds only arrays
def test_corrupt_file_raises_naming_the_path(kind):
  flat, like = _saved_adam()
  corrupt, message = CORRUPTIONS[kind]
  corrupt(flat)
  file = io.BytesIO()
  fo.save_state(file, flat)  # a dict of arrays is a pytree too; paths are its keys
  file.seek(0)
  with pytest.raises(ValueError, match=message):
    fo.load_state(file, like=like)


def test_several_problems_are_all_named():
  flat, like = _saved_adam()
  flat.pop("1.0.count")
  flat["1.0.nu.b"] = np.zeros(5, np.float32)
  with pytest.raises(ValueError, match=r"missing '1\.0\.count'.*'1\.0\.nu\.b': expected shape"):
    fo.state_from_dict(flat, like=like)


def test_key_with_wrong_data_shape_raises():
  state = fo.noisy_sgd(0.1, key=jax.random.key(0)).init({"w": jnp.ones(2)})
  flat = fo.state_to_dict(state)
  flat["0.rng_key"] = np.zeros(3, np.uint32)
  with pytest.raises(ValueError, match=r"'0\.rng_key': expected shape \(2,\), got \(3,\)"):
    fo.state_from_dict(flat, like=state)


def test_template_of_another_algorithm_raises():
  flat, _ = _saved_adam()
  like = fo.chain(fo.clip_by_global_norm(1.0), fo.sgd(0.1, momentum=0.9)).init(
      {"w": jnp.ones((2, 3), jnp.bfloat16), "b": jnp.ones(3)})
  with pytest.raises(ValueError, match=r"missing '1\.0\.trace\.w'.*unexpected '1\.0\.mu\.w'"):
    fo.state_from_dict(flat, like=like)


def test_colliding_paths_raise():
  with pytest.raises(ValueError, match=r"two leaves at path 'a\.b'"):
    fo.state_to_dict({"a.b": jnp.zeros(1), "a": {"b": jnp.zeros(1)}})


def test_non_array_leaf_raises():
  with pytest.raises(TypeError, match=r"state leaf 'x': expected an array, got str"):
    fo.state_to_dict({"x": "text"})


def test_file_that_is_not_a_state_checkpoint_raises():
  file = io.BytesIO()
  np.savez(file, w=np.zeros(2))
  file.seek(0)
  with pytest.raises(ValueError, match="not a functional_optim state checkpoint"):
    fo.load_state(file, like={"w": jnp.zeros(2)})


def test_manifest_that_disagrees_with_the_data_raises():
  file = io.BytesIO()
  fo.save_state(file, {"w": jnp.zeros(2, jnp.bfloat16)})
  members = {}
  with zipfile.ZipFile(io.BytesIO(file.getvalue())) as archive:
    for name in archive.namelist():
      members[name[:-4]] = np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
  members["__dtypes__"] = np.array(["float32"])
  tampered = io.BytesIO()
  np.savez(tampered, **members)
  tampered.seek(0)
  with pytest.raises(ValueError, match=r"'w' is stored as uint16, its manifest says float32"):
    fo.load_state(tampered, like={"w": jnp.zeros(2)})


def test_pickle_is_never_needed(tmp_path):
  path = tmp_path / "opt"
  fo.save_state(path, fo.adam(1e-2).init({"w": jnp.ones(2, jnp.bfloat16)}))
  assert path.exists()  # written under exactly the given name (numpy.savez would add .npz)
  with np.load(path, allow_pickle=False) as archive:
    assert all(archive[name].dtype != object for name in archive.files)


def test_truncated_or_foreign_files_raise_value_error():
  file = io.BytesIO()
  fo.save_state(file, {"w": jnp.zeros(3)})
  truncated = io.BytesIO(file.getvalue()[: len(file.getvalue()) // 2])
  with pytest.raises(ValueError, match="not a readable state checkpoint"):
    fo.load_state(truncated, like={"w": jnp.zeros(3)})
  single = io.BytesIO()
  np.save(single, np.zeros(3))
  single.seek(0)
  with pytest.raises(ValueError, match="not an .npz archive"):
    fo.load_state(single, like={"w": jnp.zeros(3)})


def test_key_array_in_the_dict_instead_of_key_data_raises():
  state = fo.noisy_sgd(0.1, key=jax.random.key(0)).init({"w": jnp.ones(2)})
  flat = fo.state_to_dict(state)
  flat["0.rng_key"] = jax.random.key(1)
  with pytest.raises(ValueError, match=r"'0\.rng_key': expected key data"):
    fo.state_from_dict(flat, like=state)
