"""transforms/_monitoring (snapshot, monitor, measure_with_ema) against optax."""

import jax
import jax.numpy as jnp
import optax
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# optax's monitor starts with `measurements={}` and fills it at the first update, so its
# state changes structure (a `lax.scan` over steps cannot carry it). Ours starts with
# zeros shaped like each measurement.
OPTAX_MONITOR_INIT_HAS_NO_MEASUREMENTS = True
# optax's measure_with_ema starts its average in the measurement's dtype: a boolean
# measurement's average is bool at init and float32 after the first update.
OPTAX_MEASURE_WITH_EMA_STATE_CHANGES_DTYPE = True


def _monitored(lib, decay, debias):
  return lib.chain(
      lib.sgd(learning_rate=0.1, momentum=0.9),
      lib.snapshot("norm_snapshot", lib.tree.norm),
      lib.monitor({
          "norm": lib.tree.norm,
          "sum_abs": lambda u: lib.tree.sum(jax.tree.map(jnp.abs, u)),
          "norm_ema": lib.measure_with_ema(lib.tree.norm, decay, debias),
          "is_large_ema": lib.measure_with_ema(lambda u: lib.tree.norm(u) > 1.0, decay),
      }),
      lib.clip_by_global_norm(0.5),
  )


@given(spec=parity.pytrees(parity.REAL_DTYPES), decay=st.floats(0.0, 0.99), debias=st.booleans())
def test_measurements_match_optax(spec, decay, debias):
  # Both run the same trajectory; the measurements found with tree.get match at
  # every step (compared after the first update: optax's init has none).
  ours, theirs = _monitored(fo, decay, debias), _monitored(optax, decay, debias)
  params = spec.build()
  noise = spec.noise(3)

  def run(lib, opt):
    @jax.jit
    def step(params, state, g):
      updates, state = opt.update(parity.quadratic_grad(params, g), state, params)
      names = ("norm_snapshot", "norm", "sum_abs", "norm_ema", "is_large_ema")
      return lib.apply_updates(params, updates), state, [lib.tree.get(state, n) for n in names]

    state, p, measured = opt.init(params), params, []
    for i in range(3):
      p, state, values = step(p, state, jax.tree.map(lambda n: n[i], noise))
      measured.append(values)
    return measured

  parity.assert_trees_close(run(fo, ours), run(optax, theirs), spec.dtype)


def test_state_structure_is_stable_and_scannable():
  tx = _monitored(fo, 0.9, True)
  params = {"w": jnp.ones((2, 3)), "b": jnp.ones(2)}
  state = tx.init(params)
  _, new_state = tx.update(params, state, params)
  assert jax.tree.structure(state) == jax.tree.structure(new_state)
  assert [x.dtype for x in jax.tree.leaves(state)] == [x.dtype for x in jax.tree.leaves(new_state)]
  final, _ = jax.lax.scan(lambda s, _: (tx.update(params, s, params)[1], None), state, length=3)
  assert float(fo.tree.get(final, "norm")) > 0
  if OPTAX_MONITOR_INIT_HAS_NO_MEASUREMENTS:
    opt = optax.monitor({"norm": optax.tree.norm})
    assert opt.init(params).measurements == {}
  if OPTAX_MEASURE_WITH_EMA_STATE_CHANGES_DTYPE:
    opt = optax.measure_with_ema(lambda u: optax.tree.norm(u) > 1.0, 0.9)
    before = opt.init(params)
    after = opt.update(params, before, params)[1]
    assert before[1].ema.dtype == jnp.bool_ and after[1].ema.dtype == jnp.float32


def test_names_and_namespaces():
  for name in ("monitor", "snapshot", "measure_with_ema", "MonitorState", "SnapshotState"):
    assert getattr(fo, name) is getattr(fo.transforms, name)
  public = lambda module: {n for n in dir(module) if not n.startswith("_")}
  assert public(optax.transforms) <= public(fo.transforms)
  assert set(fo.transforms.__all__) == set(optax.transforms.__all__)
