"""Schedules (`schedules/_schedule.py`, `schedules/_join.py`) against optax: same values at many step counts, eager, jitted and vmapped.

Each test draws valid arguments, builds our schedule and optax's, and compares them
at Python-int counts (eager: same value, same type, same dtype and weak type), at
traced int32 scalars under `jit`, and over a batch of int32 counts under
`jit(vmap(...))`, including counts near the int32 maximum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, strategies as st

import functional_optim as fo
import parity

# Deliberate deviations from optax, each a ValueError where optax returns something
# meaningless or fails with another exception. Where optax documents a fallback
# (non-positive `transition_steps` or `decay_rate == 0` -> the constant `init_value`,
# negative `transition_begin` -> 0) we keep optax's behaviour: see
# `test_documented_fallbacks_match_optax`.
RAISES_ON_NEGATIVE_WARMUP = True  # optax: constant or shifted schedule
RAISES_ON_MISMATCHED_BOUNDARIES = True  # optax: zip() silently drops the extras
RAISES_ON_BAD_ONECYCLE_FRACTIONS = True  # optax: pct outside [0, 1] or pct_final <= pct_start
RAISES_ON_ZERO_DIV_FACTOR = True  # optax: ZeroDivisionError

GRID = tuple(range(0, 400)) + (511, 1000, 4096, 10**6, 2**31 - 2, 2**31 - 1)
EAGER_GRID = tuple(range(0, 400, 37)) + (1000, 10**6, 2**31 - 1)

values = st.floats(0.0, 2.0)
positive_values = st.floats(1e-3, 2.0)
optional_values = st.none() | values
steps = st.integers(0, 300)
begins = st.integers(-5, 100)
scales_dicts = st.dictionaries(st.integers(0, 300), st.floats(0.0, 2.0), max_size=4)
drawn_counts = st.lists(st.integers(0, 700), max_size=8)


def _assert_same_value(ours, theirs, where):
  assert isinstance(ours, jax.Array) == isinstance(theirs, jax.Array), where
  if isinstance(theirs, jax.Array):
    assert ours.dtype == theirs.dtype, f"{where}: {ours.dtype} vs {theirs.dtype}"
    assert ours.weak_type == theirs.weak_type, f"{where}: weak_type"
  else:
    assert type(ours) is type(theirs), f"{where}: {type(ours)} vs {type(theirs)}"
  parity.assert_trees_close(ours, theirs, parity.FLOAT32, where)


def assert_same_schedule(ours, theirs, extra_counts=()):
  """Compares the two schedules eagerly, jitted and vmapped at many counts."""
  for count in EAGER_GRID + tuple(extra_counts):
    _assert_same_value(ours(count), theirs(count), f"count={count}")

  # One compilation per schedule: traced int32 scalars (lax.map) and a vmapped batch.
  batch = jnp.asarray(GRID + tuple(extra_counts), jnp.int32)
  scalars = jnp.asarray([0, 1, 7, 299, 2**31 - 1, *extra_counts], jnp.int32)
  run = lambda sched: jax.jit(lambda b, s: (jax.vmap(sched)(b), jax.lax.map(sched, s)))(
      batch, scalars
  )
  parity.assert_trees_close(run(ours), run(theirs), parity.FLOAT32, "jit(vmap), jit(map)")


@given(value=values)
def test_constant_schedule(value):
  assert_same_schedule(fo.constant_schedule(value), optax.constant_schedule(value))


@given(
    init_value=values,
    end_value=values,
    power=st.floats(0.1, 4.0),
    transition_steps=st.integers(-3, 300),
    transition_begin=begins,
    counts=drawn_counts,
)
def test_polynomial_schedule(
    init_value, end_value, power, transition_steps, transition_begin, counts
):
  args = (init_value, end_value, power, transition_steps, transition_begin)
  assert_same_schedule(fo.polynomial_schedule(*args), optax.polynomial_schedule(*args), counts)


@given(
    init_value=values,
    end_value=values,
    transition_steps=st.integers(-3, 300),
    transition_begin=begins,
    counts=drawn_counts,
)
def test_linear_schedule(init_value, end_value, transition_steps, transition_begin, counts):
  kwargs = dict(
      init_value=init_value,
      end_value=end_value,
      transition_steps=transition_steps,
      transition_begin=transition_begin,
  )
  assert_same_schedule(fo.linear_schedule(**kwargs), optax.linear_schedule(**kwargs), counts)


@given(init_value=values, boundaries_and_scales=st.none() | scales_dicts, counts=drawn_counts)
def test_piecewise_constant_schedule(init_value, boundaries_and_scales, counts):
  counts = list(counts) + list(boundaries_and_scales or ())
  assert_same_schedule(
      fo.piecewise_constant_schedule(init_value, boundaries_and_scales),
      optax.piecewise_constant_schedule(init_value, boundaries_and_scales),
      counts,
  )


@given(
    init_value=positive_values,
    transition_steps=st.integers(-3, 100),
    decay_rate=st.just(0.0) | st.floats(0.05, 1.5),
    transition_begin=begins,
    staircase=st.booleans(),
    end_value=st.none() | st.floats(1e-3, 3.0),
    counts=drawn_counts,
)
def test_exponential_decay(
    init_value, transition_steps, decay_rate, transition_begin, staircase, end_value, counts
):
  args = (init_value, transition_steps, decay_rate, transition_begin, staircase, end_value)
  assert_same_schedule(fo.exponential_decay(*args), optax.exponential_decay(*args), counts)


@given(
    init_value=values,
    decay_steps=st.integers(1, 300),
    alpha=st.floats(0.0, 1.0),
    exponent=st.floats(0.25, 4.0),
    counts=drawn_counts,
)
def test_cosine_decay_schedule(init_value, decay_steps, alpha, exponent, counts):
  args = (init_value, decay_steps, alpha, exponent)
  assert_same_schedule(fo.cosine_decay_schedule(*args), optax.cosine_decay_schedule(*args), counts)


@given(
    interpolate_type=st.sampled_from(["linear", "cosine"]),
    init_value=values,
    boundaries_and_scales=st.none() | scales_dicts,
    counts=drawn_counts,
)
def test_piecewise_interpolate_schedule(
    interpolate_type, init_value, boundaries_and_scales, counts
):
  counts = list(counts) + list(boundaries_and_scales or ())
  assert_same_schedule(
      fo.piecewise_interpolate_schedule(interpolate_type, init_value, boundaries_and_scales),
      optax.piecewise_interpolate_schedule(interpolate_type, init_value, boundaries_and_scales),
      counts,
  )


onecycle_common = dict(
    transition_steps=st.integers(1, 300),
    peak_value=positive_values,
    pct_start=st.floats(0.0, 0.5),
    div_factor=st.floats(1.0, 50.0),
    final_div_factor=st.floats(1.0, 1e4),
    counts=drawn_counts,
)


@given(pct_final=st.floats(0.55, 1.0), **onecycle_common)
def test_linear_onecycle_schedule(
    transition_steps, peak_value, pct_start, pct_final, div_factor, final_div_factor, counts
):
  args = (transition_steps, peak_value, pct_start, pct_final, div_factor, final_div_factor)
  assert_same_schedule(
      fo.linear_onecycle_schedule(*args), optax.linear_onecycle_schedule(*args), counts
  )


@given(**onecycle_common)
def test_cosine_onecycle_schedule(
    transition_steps, peak_value, pct_start, div_factor, final_div_factor, counts
):
  args = (transition_steps, peak_value, pct_start, div_factor, final_div_factor)
  assert_same_schedule(
      fo.cosine_onecycle_schedule(*args), optax.cosine_onecycle_schedule(*args), counts
  )


@given(init_value=values, peak_value=values, warmup_steps=steps, counts=drawn_counts)
def test_warmup_constant_schedule(init_value, peak_value, warmup_steps, counts):
  args = (init_value, peak_value, warmup_steps)
  assert_same_schedule(
      fo.warmup_constant_schedule(*args), optax.warmup_constant_schedule(*args), counts
  )


@given(
    init_value=values,
    peak_value=st.just(0.0) | positive_values,
    warmup_steps=steps,
    cosine_steps=st.integers(1, 300),
    end_value=values,
    exponent=st.floats(0.25, 4.0),
    counts=drawn_counts,
)
def test_warmup_cosine_decay_schedule(
    init_value, peak_value, warmup_steps, cosine_steps, end_value, exponent, counts
):
  kwargs = dict(
      init_value=init_value,
      peak_value=peak_value,
      warmup_steps=warmup_steps,
      decay_steps=warmup_steps + cosine_steps,
      end_value=end_value,
      exponent=exponent,
  )
  assert_same_schedule(
      fo.warmup_cosine_decay_schedule(**kwargs),
      optax.warmup_cosine_decay_schedule(**kwargs),
      counts,
  )


@given(
    init_value=values,
    peak_value=positive_values,
    warmup_steps=steps,
    transition_steps=st.integers(-3, 100),
    decay_rate=st.just(0.0) | st.floats(0.05, 1.5),
    transition_begin=begins,
    staircase=st.booleans(),
    end_value=st.none() | st.floats(1e-3, 3.0),
    counts=drawn_counts,
)
def test_warmup_exponential_decay_schedule(
    init_value,
    peak_value,
    warmup_steps,
    transition_steps,
    decay_rate,
    transition_begin,
    staircase,
    end_value,
    counts,
):
  args = (
      init_value, peak_value, warmup_steps, transition_steps, decay_rate,
      transition_begin, staircase, end_value,
  )
  assert_same_schedule(
      fo.warmup_exponential_decay_schedule(*args),
      optax.warmup_exponential_decay_schedule(*args),
      counts,
  )


cycles = st.fixed_dictionaries({
    "init_value": values,
    "peak_value": positive_values,
    "warmup_steps": st.integers(0, 50),
    "decay_steps": st.integers(51, 200),
    "end_value": values,
    "exponent": st.floats(0.5, 2.0),
})


@given(cosine_kwargs=st.lists(cycles, min_size=1, max_size=4), counts=drawn_counts)
def test_sgdr_schedule(cosine_kwargs, counts):
  # A generator, as optax allows any iterable.
  assert_same_schedule(
      fo.sgdr_schedule(kwargs for kwargs in cosine_kwargs),
      optax.sgdr_schedule(kwargs for kwargs in cosine_kwargs),
      counts,
  )


@given(
    gaps=st.lists(st.integers(0, 150), min_size=0, max_size=3),
    init_values=st.lists(positive_values, min_size=4, max_size=4),
    counts=drawn_counts,
)
def test_join_schedules(gaps, init_values, counts):
  boundaries = list(np.cumsum(gaps).tolist())

  def pieces(lib):
    return [
        lib.linear_schedule(init_values[0], 0.0, transition_steps=40),
        lib.constant_schedule(init_values[1]),
        lib.exponential_decay(init_values[2], transition_steps=10, decay_rate=0.9),
        lib.cosine_decay_schedule(init_values[3], decay_steps=100),
    ][: len(boundaries) + 1]

  assert_same_schedule(
      fo.join_schedules(pieces(fo), boundaries),
      optax.join_schedules(pieces(optax), boundaries),
      list(counts) + boundaries,
  )


def test_names_match_optax():
  names = [n for n in dir(optax.schedules) if not n.startswith("_")]
  for name in names:
    assert hasattr(fo.schedules, name), name
    assert hasattr(fo, name) == hasattr(optax, name), name


def test_schedules_as_learning_rate_match_optax():
  spec = parity.TreeSpec(shapes=((3,), (2, 2)), dtype=parity.FLOAT32, seed=0)
  kwargs = dict(init_value=0.0, peak_value=0.5, warmup_steps=3, decay_steps=8, end_value=0.05)
  parity.assert_same_trajectory(
      fo.scale_by_learning_rate(fo.warmup_cosine_decay_schedule(**kwargs)),
      optax.scale_by_learning_rate(optax.warmup_cosine_decay_schedule(**kwargs)),
      spec,
  )


def test_documented_fallbacks_match_optax():
  # Kept from optax: these give a constant (or a clamped `transition_begin`).
  for lib in (fo, optax):
    assert lib.polynomial_schedule(1.0, 0.0, 2, transition_steps=0)(10) == 1.0
    assert lib.linear_schedule(1.0, 0.0, transition_steps=-5)(10) == 1.0
    assert lib.exponential_decay(1.0, transition_steps=0, decay_rate=0.5)(10) == 1.0
    assert lib.exponential_decay(1.0, transition_steps=10, decay_rate=0.0)(10) == 1.0
  assert_same_schedule(
      fo.linear_schedule(1.0, 0.0, 10, transition_begin=-4),
      optax.linear_schedule(1.0, 0.0, 10, transition_begin=-4),
  )


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda lib: lib.cosine_decay_schedule(1.0, decay_steps=0), "decay_steps"),
        (lambda lib: lib.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10), "decay_steps"),
        (lambda lib: lib.piecewise_constant_schedule(1.0, {10: -0.1}), "boundaries_and_scales"),
        (lambda lib: lib.piecewise_interpolate_schedule("linear", 1.0, {10: -1.0}),
         "boundaries_and_scales"),
        (lambda lib: lib.piecewise_interpolate_schedule("cubic", 1.0), "interpolate_type"),
        (lambda lib: lib.linear_onecycle_schedule(0, 1.0), "transition_steps"),
        (lambda lib: lib.cosine_onecycle_schedule(-3, 1.0), "transition_steps"),
        (lambda lib: lib.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, warmup_steps=5,
                                             decay_steps=5)]),
         "decay_steps"),
    ],
)
def test_invalid_arguments_raise_like_optax(make, match):
  with pytest.raises(ValueError, match=match):
    make(fo)
  with pytest.raises(ValueError):
    make(optax)


@pytest.mark.parametrize(
    "make, match, flag",
    [
        (lambda lib: lib.warmup_constant_schedule(0.0, 1.0, warmup_steps=-1), "warmup_steps",
         RAISES_ON_NEGATIVE_WARMUP),
        (lambda lib: lib.warmup_cosine_decay_schedule(0.0, 1.0, -1, 10), "warmup_steps",
         RAISES_ON_NEGATIVE_WARMUP),
        (lambda lib: lib.warmup_exponential_decay_schedule(0.0, 1.0, -1, 10, 0.5), "warmup_steps",
         RAISES_ON_NEGATIVE_WARMUP),
        (lambda lib: lib.join_schedules([lib.constant_schedule(1.0)] * 2, [5, 10]), "boundaries",
         RAISES_ON_MISMATCHED_BOUNDARIES),
        (lambda lib: lib.join_schedules([lib.constant_schedule(1.0)] * 3, [5]), "boundaries",
         RAISES_ON_MISMATCHED_BOUNDARIES),
        (lambda lib: lib.join_schedules([], []), "schedules", RAISES_ON_MISMATCHED_BOUNDARIES),
        (lambda lib: lib.linear_onecycle_schedule(100, 1.0, pct_start=1.5), "pct_start",
         RAISES_ON_BAD_ONECYCLE_FRACTIONS),
        (lambda lib: lib.linear_onecycle_schedule(100, 1.0, pct_start=0.5, pct_final=0.4),
         "pct_final", RAISES_ON_BAD_ONECYCLE_FRACTIONS),
        (lambda lib: lib.cosine_onecycle_schedule(100, 1.0, pct_start=-0.1), "pct_start",
         RAISES_ON_BAD_ONECYCLE_FRACTIONS),
        (lambda lib: lib.linear_onecycle_schedule(100, 1.0, div_factor=0.0), "div_factor",
         RAISES_ON_ZERO_DIV_FACTOR),
        (lambda lib: lib.cosine_onecycle_schedule(100, 1.0, final_div_factor=0.0),
         "final_div_factor", RAISES_ON_ZERO_DIV_FACTOR),
    ],
)
def test_invalid_arguments_raise_where_optax_does_not(make, match, flag):
  assert flag
  with pytest.raises(ValueError, match=match):
    make(fo)
  try:
    make(optax)
  except ValueError:
    pytest.fail("optax raises ValueError too: not a deviation")
  except ZeroDivisionError:
    pass
