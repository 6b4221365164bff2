"""Checkpoints of optimizer state: a flat `{path: numpy array}` dict, and `.npz` files.

Any state pytree (from functional_optim or optax) flattens to a dict that maps
each leaf's path to a NumPy array: NamedTuple fields by name, sequence entries
by index, dict entries by key, joined with dots (`"1.0.mu.w"` is the `mu` field
of the first state of the second member of a chain, at parameter `"w"`).
Loading rebuilds the state on the structure of a template, typically
`optimizer.init(params)`, after checking that the dict has exactly the
template's paths, shapes and dtypes. Values are copied bit for bit: every dtype
(bfloat16, float16, complex, int32 counts, bool flags), NaN payloads included.
PRNG key arrays are stored as their key data (`jax.random.key_data`) and
rewrapped with the template's implementation. `None` and empty nodes (`()`,
`EmptyState()`, `MaskedNode()`) hold no arrays and come from the template.

Files are plain `numpy.savez` archives that `numpy.load(path, allow_pickle=False)`
reads: arrays of NumPy's own dtypes are stored as they are; the others
(bfloat16, float8, ...) as their raw bits in an unsigned integer array of the
same width, with every leaf's dtype named in a manifest.
"""

import io
import os
import tempfile
import zipfile
from typing import Any, Union

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["load_state", "save_state", "state_from_dict", "state_to_dict"]

_FORMAT = "functional_optim.state/1"
_FORMAT_KEY = "__format__"
_PATHS_KEY = "__paths__"
_DTYPES_KEY = "__dtypes__"
_NATIVE_KINDS = "biufc"  # dtypes numpy.savez stores and numpy.load reads back without pickle

PathLike = Union[str, os.PathLike]


def _key_name(key) -> str:
  if isinstance(key, jax.tree_util.GetAttrKey):
    return key.name
  if isinstance(key, jax.tree_util.SequenceKey):
    return str(key.idx)
  if isinstance(key, jax.tree_util.DictKey):
    return str(key.key)
  if isinstance(key, jax.tree_util.FlattenedIndexKey):
    return str(key.key)
  return str(key)


def path_name(path) -> str:
  """A pytree path as a dotted name: NamedTuple fields, indices and dict keys (`1.0.mu.w`)."""
  return ".".join(_key_name(k) for k in path)


def _leaves_with_paths(tree, what: str) -> tuple[list[tuple[str, Any]], Any]:
  """`([(path, leaf), ...], treedef)`; raises ValueError if two leaves share a path."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
  named = [(path_name(path), leaf) for path, leaf in leaves]
  seen = set()
  for path, _ in named:
    if path in seen:
      raise ValueError(f"{what} has two leaves at path {path!r} (a dict key containing '.'?)")
    seen.add(path)
  return named, treedef


def _is_key(leaf) -> bool:
  return jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _stored_spec(leaf) -> tuple[tuple[int, ...], np.dtype]:
  """The shape and dtype a leaf has in the flat dict (a key's are its key data's)."""
  if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
    raise TypeError(f"expected an array, got {type(leaf).__name__}")
  if _is_key(leaf):
    if not isinstance(leaf, jax.Array):
      raise TypeError("a PRNG key leaf of the template must be a key array (not a shape/dtype struct)")
    data = jax.random.key_data(leaf)
    return tuple(data.shape), np.dtype(data.dtype)
  return tuple(leaf.shape), np.dtype(leaf.dtype)


def state_to_dict(state: Any) -> dict[str, np.ndarray]:
  """Flattens an optimizer state into `{path: numpy array}`, copying each leaf exactly.

  Args:
    state: any pytree of arrays, e.g. `optimizer.init(params)` or a state after
      some updates. PRNG key arrays become their key data.

  Returns:
    A dict from each leaf's dotted path to a NumPy array with the leaf's shape and
    dtype (bfloat16 arrays use `ml_dtypes.bfloat16`, as `numpy.asarray` gives).

  Raises:
    ValueError: two leaves would have the same path.
    TypeError: a leaf is not an array.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> state = fo.adam(1e-3).init({"w": jnp.zeros(2)})
    >>> sorted(fo.state_to_dict(state))
    ['0.count', '0.mu.w', '0.nu.w']

  References:
    `jax.tree_util` key paths, https://docs.jax.dev/en/latest/working-with-pytrees.html
  """
  named, _ = _leaves_with_paths(state, "the state")
  flat = {}
  for path, leaf in named:
    try:
      _stored_spec(leaf)
    except TypeError as error:
      raise TypeError(f"state leaf {path!r}: {error}") from None
    value = jax.random.key_data(leaf) if _is_key(leaf) else leaf
    flat[path] = np.array(value, copy=True)
  return flat


def _check_entry(path: str, value, like) -> str | None:
  """What is wrong with `value` as the leaf at `path` of the template, or None."""
  if not isinstance(value, (np.ndarray, np.generic, jax.Array)):
    return f"{path!r}: expected an array, got {type(value).__name__}"
  if _is_key(value):
    return f"{path!r}: expected key data (jax.random.key_data), got a PRNG key array"
  shape, dtype = _stored_spec(like)
  if tuple(value.shape) != shape:
    return f"{path!r}: expected shape {shape}, got {tuple(value.shape)}"
  if np.dtype(value.dtype) != dtype:
    return f"{path!r}: expected dtype {dtype}, got {np.dtype(value.dtype)}"
  return None


def _to_leaf(value, like) -> jax.Array:
  if _is_key(like):
    return jax.random.wrap_key_data(jnp.array(value, copy=True), impl=jax.random.key_impl(like))
  sharding = getattr(like, "sharding", None)
  if isinstance(like, jax.Array) and sharding is not None:
    return jax.device_put(np.array(value, copy=True), sharding)
  return jnp.array(value, copy=True)


def state_from_dict(flat: dict[str, Any], like: Any) -> Any:
  """Rebuilds a state from `state_to_dict`'s output, on the structure of `like`.

  Everything is checked before anything is built: the dict must have exactly the
  template's paths, and each array the template leaf's shape and dtype (for a PRNG
  key, those of its key data). Each new leaf is placed like the template's leaf
  (its sharding) when the template holds arrays.

  Args:
    flat: `{path: array}`, as `state_to_dict` or `load_state` returns.
    like: a template state with the wanted structure, shapes and dtypes, e.g.
      `optimizer.init(params)`, or `jax.eval_shape(optimizer.init, params)` for a
      state without PRNG keys.

  Returns:
    A new state with `like`'s structure holding the dict's values, bit for bit.

  Raises:
    ValueError: a path of the template is missing, a path is not in the template,
      or an array has the wrong shape or dtype; the message names every such path.

  Example:
    >>> import jax.numpy as jnp
    >>> import functional_optim as fo
    >>> optimizer = fo.adam(1e-3)
    >>> state = optimizer.init({"w": jnp.ones(2)})
    >>> restored = fo.state_from_dict(fo.state_to_dict(state), like=state)
    >>> restored[0].mu["w"]
    Array([0., 0.], dtype=float32)

  References:
    `jax.tree_util` key paths, https://docs.jax.dev/en/latest/working-with-pytrees.html
  """
  if not isinstance(flat, dict):
    raise TypeError(f"expected a dict of arrays, got {type(flat).__name__}")
  named, treedef = _leaves_with_paths(like, "the template state")
  expected = dict(named)
  problems = [f"missing {path!r}" for path in expected if path not in flat]
  problems += [f"unexpected {path!r} (not in the template)" for path in flat if path not in expected]
  for path, like_leaf in named:
    if path in flat:
      problem = _check_entry(path, flat[path], like_leaf)
      if problem is not None:
        problems.append(problem)
  if problems:
    raise ValueError("state does not match the template: " + "; ".join(problems))
  return jax.tree.unflatten(treedef, [_to_leaf(flat[path], leaf) for path, leaf in named])


def _encode(value: np.ndarray) -> np.ndarray:
  if value.dtype.kind in _NATIVE_KINDS:
    return value
  return value.view(np.dtype(f"u{value.dtype.itemsize}"))


def _decode(path: str, stored: np.ndarray, dtype_name: str) -> np.ndarray:
  try:
    dtype = np.dtype(jnp.dtype(dtype_name))
  except TypeError:
    raise ValueError(f"checkpoint entry {path!r} has an unknown dtype {dtype_name!r}") from None
  if dtype.kind in _NATIVE_KINDS:
    if stored.dtype != dtype:
      raise ValueError(f"checkpoint entry {path!r} is stored as {stored.dtype}, its manifest says {dtype}")
    return stored
  if stored.dtype != np.dtype(f"u{dtype.itemsize}"):
    raise ValueError(f"checkpoint entry {path!r}: raw bits of {dtype} stored as {stored.dtype}")
  return stored.view(dtype)


def save_state(path: Union[PathLike, io.IOBase], state: Any) -> None:
  """Writes `state_to_dict(state)` as a `numpy.savez` archive.

  A file path is written atomically (to a temporary file in the same folder,
  then renamed), and under exactly the name given (numpy would append `.npz`).

  Args:
    path: a file name, or a binary file object open for writing.
    state: an optimizer state, as for `state_to_dict`.

  Example:
    >>> import os, tempfile, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> optimizer = fo.adam(1e-3)
    >>> state = optimizer.init({"w": jnp.ones(2)})
    >>> file = os.path.join(tempfile.mkdtemp(), "opt.npz")
    >>> fo.save_state(file, state)
    >>> restored = fo.load_state(file, like=optimizer.init({"w": jnp.ones(2)}))
    >>> int(restored[0].count), restored[0].nu["w"].tolist()
    (0, [0.0, 0.0])

  References:
    `numpy.savez`, https://numpy.org/doc/stable/reference/generated/numpy.savez.html
  """
  flat = state_to_dict(state)
  arrays = {
      _FORMAT_KEY: np.array(_FORMAT),
      _PATHS_KEY: np.array(list(flat), dtype=str),
      _DTYPES_KEY: np.array([str(v.dtype) for v in flat.values()], dtype=str),
  }
  for i, value in enumerate(flat.values()):
    arrays[f"leaf_{i}"] = _encode(value)
  if not isinstance(path, (str, os.PathLike)):
    np.savez(path, **arrays)
    return
  folder = os.path.dirname(os.path.abspath(path))
  handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
  try:
    with os.fdopen(handle, "wb") as file:
      np.savez(file, **arrays)
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def _read_flat(path: Union[PathLike, io.IOBase]) -> dict[str, np.ndarray]:
  """Reads a file written by `save_state` as `{path: numpy array}` (no template check)."""
  try:
    archive = np.load(path, allow_pickle=False)
  except (zipfile.BadZipFile, EOFError) as error:
    raise ValueError(f"not a readable state checkpoint: {error}") from error
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise ValueError("not a functional_optim state checkpoint (a single array, not an .npz archive)")
  with archive:
    members = set(archive.files)
    if not {_FORMAT_KEY, _PATHS_KEY, _DTYPES_KEY} <= members or str(archive[_FORMAT_KEY]) != _FORMAT:
      raise ValueError(f"not a functional_optim state checkpoint (expected format {_FORMAT!r})")
    paths, dtypes = archive[_PATHS_KEY], archive[_DTYPES_KEY]
    if paths.ndim != 1 or paths.shape != dtypes.shape:
      raise ValueError("corrupt checkpoint manifest: paths and dtypes differ in length")
    leaves = {f"leaf_{i}" for i in range(len(paths))}
    if members - {_FORMAT_KEY, _PATHS_KEY, _DTYPES_KEY} != leaves:
      raise ValueError(f"corrupt checkpoint: expected {len(paths)} arrays, found {sorted(members)}")
    return {
        str(p): _decode(str(p), archive[f"leaf_{i}"], str(d)) for i, (p, d) in enumerate(zip(paths, dtypes))
    }


def load_state(path: Union[PathLike, io.IOBase], like: Any) -> Any:
  """Reads a file written by `save_state` into a state shaped like `like`.

  The file is read with `numpy.load(..., allow_pickle=False)` and checked as by
  `state_from_dict`; on any error nothing is returned.

  Args:
    path: a file name, or a binary file object open for reading.
    like: a template state, e.g. `optimizer.init(params)`.

  Returns:
    The saved state, bit for bit, with `like`'s structure.

  Raises:
    ValueError: the file is not a state checkpoint, or does not match `like`
      (missing or extra paths, wrong shapes or dtypes; each is named).

  Example:
    >>> import io, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> optimizer, params = fo.sgd(0.1, momentum=0.9), {"w": jnp.ones(2)}
    >>> _, state = optimizer.update({"w": jnp.ones(2)}, optimizer.init(params), params)
    >>> buffer = io.BytesIO()
    >>> fo.save_state(buffer, state)
    >>> _ = buffer.seek(0)
    >>> restored = fo.load_state(buffer, like=optimizer.init(params))
    >>> restored[0].trace["w"].tolist()
    [1.0, 1.0]

  References:
    `numpy.load`, https://numpy.org/doc/stable/reference/generated/numpy.load.html
  """
  return state_from_dict(_read_flat(path), like)
