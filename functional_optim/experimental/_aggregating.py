"""Gradient transformations that aggregate per-example gradients (``optax.experimental``).

An `Aggregator` maps per-example updates, shaped `[*batch_shape, *params_shape]`, to one update
shaped like the parameters; `process(pre, aggregator, post)` runs a per-example preprocessor
(e.g. per-example clipping), the aggregator (mean, accumulation over microbatches, mean and
variance metrics) and an ordinary optimizer on the result. Ported from
`optax.experimental.aggregating` (Apache-2.0), same names, arguments and numbers.
"""

import math
from typing import Any, NamedTuple, Optional, Protocol, Sequence

import jax
import jax.numpy as jnp

import functional_optim as fo
from functional_optim import _base

__all__ = [
    "AccumulateAvgUpdatesState",
    "AggregatedUpdates",
    "Aggregator",
    "AggregatorUpdateFn",
    "MaybeAxis",
    "PerElementMeanAndSumSqDiffGradsState",
    "PerElementMeanAndVarianceEMAState",
    "PerElementUpdates",
    "accumulate_avg_updates",
    "add_mean_variance_to_opt",
    "average_incrementally_updates",
    "average_per_element_updates",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
    "get_unbiased_mean_and_variance_ema",
    "process",
    "track_per_element_mean_and_variance_with_ema",
]

PerElementUpdates = _base.ArrayTree
AggregatedUpdates = _base.ArrayTree
MaybeAxis = int | Sequence[int] | None


class AggregatorUpdateFn(Protocol):
  """Update function for aggregators: `(per_elt_updates, state, params) -> (updates, state)`.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> update: aggregating.AggregatorUpdateFn = (
    ...     aggregating.average_per_element_updates().update)
    >>> update(jnp.array([[1.0], [3.0]]), None)[0].tolist()
    [2.0]

  References:
    `optax.experimental.aggregating.AggregatorUpdateFn`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  def __call__(
      self,
      per_elt_updates: PerElementUpdates,
      state: _base.OptState,
      params: Optional[_base.Params] = None,
      **extra_args: Any,
  ) -> tuple[AggregatedUpdates, _base.OptState]:
    """Transforms per-element updates into aggregated update direction."""


class Aggregator(_base.GradientTransformationExtraArgs):
  """A pair of pure functions that implement stateful aggregation of gradients.

  Unlike a `GradientTransformation`, whose updates are shaped like the parameters, an aggregator
  takes per-example gradients of shape `[*batch_shape, *params_shape]` (e.g. from
  `jax.vmap(jax.grad(loss), in_axes=(None, 0))`) and returns an update of shape
  `[*params_shape]`. The signatures are identical; the type tells the user which gradients to
  feed it.

  Attributes:
    init: Initialization function that takes params and returns state.
    update: Update function that takes per-example gradients, state and params (optionally) and
      returns updates and updated state.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> import functional_optim as fo
    >>> from functional_optim.experimental import aggregating
    >>> mean = aggregating.Aggregator(
    ...     init=fo.init_empty_state,
    ...     update=lambda gs, s, p=None: (jax.tree.map(lambda g: g.mean(0), gs), s))
    >>> mean.update(jnp.array([[1.0, 2.0], [3.0, 4.0]]), mean.init(jnp.zeros(2)))[0].tolist()
    [2.0, 3.0]

  References:
    `optax.experimental.aggregating.Aggregator`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  init: _base.TransformInitFn
  update: AggregatorUpdateFn


def process(
    preprocessor: _base.GradientTransformation,
    aggregator: _base.GradientTransformation | Aggregator,
    postprocessor: _base.GradientTransformation,
    aggregator_has_aux: bool = False,
) -> _base.GradientTransformation | Aggregator:
  """Process gradients through a sequence of transformations.

  The postprocessor only runs when the aggregator's state says it is `ready` (when it has no
  `ready` field: always); otherwise the updates are zeros and the postprocessor's state is kept.

  Args:
    preprocessor: A transformation that maps per-example gradients to per-example updates.
    aggregator: A transformation that aggregates per-example updates into a single update.
    postprocessor: A transformation that maps aggregated updates to the final updates.
    aggregator_has_aux: Whether the aggregator returns more than just the average updates: then
      it returns `(updates, aux)` and the dict `aux` is passed to the postprocessor as extra
      keyword arguments.

  Returns:
    An `Aggregator` if ``aggregator`` is one, else a `GradientTransformationExtraArgs`.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import jax.random as jrd
    >>> import functional_optim as fo
    >>> from functional_optim.experimental import aggregating
    >>> clip_per_sample = jax.vmap(fo.projections.projection_l2_ball, 0)
    >>> average_grads = lambda gs: jax.tree.map(lambda g: jnp.mean(g, 0), gs)
    >>> opt = aggregating.process(
    ...     fo.stateless(lambda gs, _: clip_per_sample(gs)),  # clip per sample
    ...     aggregating.Aggregator(  # average
    ...         init=fo.init_empty_state,
    ...         update=lambda gs, s, _: (average_grads(gs), s)
    ...     ),
    ...     fo.adam(learning_rate=1e-1),  # usual optimizer there
    ... )
    >>> fun = lambda w, x, y: jnp.sum((x.dot(w)-y)**2)
    >>> n, k, d = 8, 2, 4
    >>> xs = jrd.normal(jrd.key(0), (n, d))
    >>> ys = jrd.normal(jrd.key(1), (n, k))
    >>> params = jrd.normal(jrd.key(2), (d, k))
    >>> state = opt.init(params)
    >>> value_and_grads = jax.vmap(jax.value_and_grad(fun), (None, 0, 0))
    >>> for i in range(3):
    ...   losses, grads = value_and_grads(params, xs, ys)
    ...   updates, state = opt.update(grads, state)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f'Step: {i} | Batch loss: {jnp.mean(losses):.2e}')
    Step: 0 | Batch loss: 7.47e+00
    Step: 1 | Batch loss: 6.20e+00
    Step: 2 | Batch loss: 5.08e+00

  References:
    `optax.experimental.aggregating.process`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  def init_fn(params):
    preprocess_state = preprocessor.init(params)
    aggregate_state = aggregator.init(params)
    postprocess_state = postprocessor.init(params)
    return preprocess_state, aggregate_state, postprocess_state

  def update_fn(indiv_grads, states, params=None, **extra_args):
    preprocess_state, aggregate_state, postprocess_state = states

    indiv_updates, new_preprocess_state = preprocessor.update(
        indiv_grads, preprocess_state, params, **extra_args
    )
    aggregated, new_aggregate_state = aggregator.update(
        indiv_updates, aggregate_state, params, **extra_args
    )
    if aggregator_has_aux:
      avg_updates, agg_aux = aggregated
      extra_args = extra_args | agg_aux
    else:
      avg_updates = aggregated

    ready_to_post_process = fo.tree.get(new_aggregate_state, "ready", True)
    updates, new_postprocess_state = jax.lax.cond(
        ready_to_post_process,
        lambda g, s, p, kw: postprocessor.update(g, s, p, **kw),
        lambda g, s, *_: (fo.tree.zeros_like(avg_updates), s),
        avg_updates,
        postprocess_state,
        params,
        extra_args,
    )
    return updates, (new_preprocess_state, new_aggregate_state, new_postprocess_state)

  if isinstance(aggregator, Aggregator):
    return Aggregator(init_fn, update_fn)
  return _base.GradientTransformationExtraArgs(init_fn, update_fn)


def average_per_element_updates(per_elt_axis: int | Sequence[int] = 0) -> Aggregator:
  """Average per-element updates over the axis (or axes) ``per_elt_axis``.

  Args:
    per_elt_axis: The axis to average over.

  Returns:
    An Aggregator that averages per-element updates.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> agg = aggregating.average_per_element_updates()
    >>> agg.update({"w": jnp.array([[1.0, 2.0], [3.0, 6.0]])}, agg.init(None))[0]["w"].tolist()
    [2.0, 4.0]

  References:
    `optax.experimental.aggregating.average_per_element_updates`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  def update_fn(per_elt_updates, state, params=None):
    del params
    avg_updates = jax.tree.map(lambda x: jnp.mean(x, axis=per_elt_axis), per_elt_updates)
    return avg_updates, state

  return Aggregator(_base.init_empty_state, update_fn)


class AccumulateAvgUpdatesState(NamedTuple):
  """State for the average gradient accumulator."""

  micro_step: jax.Array  # shape=(), int32: microbatches accumulated since the last output
  ready: jax.Array  # shape=(), bool: whether the last update emitted the average
  avg_grad: _base.Updates  # like params: running average of this cycle's updates


def accumulate_avg_updates(accumulation_steps: int) -> _base.GradientTransformation:
  """Accumulates average gradients for `accumulation_steps` microbatches.

  Emits zeros for the first `accumulation_steps - 1` microbatches and the average of all of
  them at the last one, with `ready=True` in the state; best used with `process`, whose
  postprocessor (the optimizer) then steps once per `accumulation_steps` microbatches.

  Args:
    accumulation_steps: The number of microbatches to accumulate over.

  Returns:
    A GradientTransformation that accumulates average gradients for `accumulation_steps`
    microbatches (`identity()` when `accumulation_steps == 1`).

  Raises:
    ValueError: if ``accumulation_steps < 1``.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import jax.random as jrd
    >>> import functional_optim as fo
    >>> from functional_optim.experimental import aggregating
    >>> xs = jrd.normal(jrd.key(0), (3, 4, 6))  # 3 microbatches of 4 examples
    >>> ys = jrd.normal(jrd.key(1), (3, 4, 2))
    >>> params = jrd.normal(jrd.key(2), (6, 2))
    >>> # The same as an effective batch size of accumulation_steps * 4.
    >>> opt = aggregating.process(
    ...     preprocessor=fo.identity(),
    ...     aggregator=aggregating.accumulate_avg_updates(accumulation_steps=2),
    ...     postprocessor=fo.adam(learning_rate=0.01),
    ... )
    >>> fun = lambda w, x, y: jnp.mean(jnp.sum((x.dot(w)-y)**2, axis=-1))
    >>> state = opt.init(params)
    >>> for i, (x, y) in enumerate(zip(xs, ys)):
    ...   full_loss = fun(params, xs, ys)
    ...   loss, grads = jax.value_and_grad(fun)(params, x, y)
    ...   updates, state = opt.update(grads, state)
    ...   params = fo.apply_updates(params, updates)
    ...   print(f'Step: {i}|Batch loss: {loss:.2e}|Full loss: {full_loss:.2e}')
    Step: 0|Batch loss: 2.51e+01|Full loss: 1.49e+01
    Step: 1|Batch loss: 1.16e+01|Full loss: 1.49e+01
    Step: 2|Batch loss: 7.93e+00|Full loss: 1.46e+01

  References:
    `optax.experimental.aggregating.accumulate_avg_updates`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """
  if accumulation_steps < 1:
    raise ValueError("accumulation_steps must be larger than or equal to 1.")
  if accumulation_steps == 1:
    return fo.identity()  # nothing to accumulate, no state to track

  def init_fn(params):
    return AccumulateAvgUpdatesState(
        micro_step=jnp.asarray(0),
        ready=jnp.asarray(False),
        avg_grad=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    new_micro_step = state.micro_step + 1
    new_avg_grad = jax.tree.map(
        lambda u, a: a + (u - a) / new_micro_step, updates, state.avg_grad
    )
    ready_state = AccumulateAvgUpdatesState(
        micro_step=jnp.asarray(0),
        ready=jnp.asarray(True),
        avg_grad=fo.tree.zeros_like(new_avg_grad),
    )
    not_ready_state = AccumulateAvgUpdatesState(
        micro_step=new_micro_step,
        ready=jnp.asarray(False),
        avg_grad=new_avg_grad,
    )
    return fo.tree.where(
        new_micro_step == accumulation_steps,
        (new_avg_grad, ready_state),
        (fo.tree.zeros_like(new_avg_grad), not_ready_state),
    )

  return _base.GradientTransformation(init_fn, update_fn)


def average_incrementally_updates(
    per_elt_axis: MaybeAxis, accumulation_steps: int
) -> Aggregator | _base.GradientTransformation:
  """Average per-element updates over ``per_elt_axis``, then accumulate over microbatches.

  Args:
    per_elt_axis: The axis to average over, or None if no averaging is desired.
    accumulation_steps: The number of microbatches to accumulate over.

  Returns:
    An Aggregator (averaging, then accumulating) or, when ``per_elt_axis`` is None, the
    `accumulate_avg_updates` GradientTransformation.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> agg = aggregating.average_incrementally_updates(per_elt_axis=0, accumulation_steps=2)
    >>> state = agg.init(jnp.zeros(1))
    >>> u, state = agg.update(jnp.array([[1.0], [3.0]]), state)
    >>> u.tolist()
    [0.0]
    >>> u, state = agg.update(jnp.array([[5.0], [7.0]]), state)
    >>> u.tolist()
    [4.0]

  References:
    `optax.experimental.aggregating.average_incrementally_updates`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """
  if per_elt_axis is None:
    return accumulate_avg_updates(accumulation_steps)
  agg = fo.chain(
      average_per_element_updates(per_elt_axis),
      accumulate_avg_updates(accumulation_steps),
  )
  return Aggregator(agg.init, agg.update)


def get_batch_size_from_per_elt_updates(
    per_elt_updates: _base.Updates, per_elt_axis: int | list[int]
) -> int:
  """Get batch size from per-element updates: the size of their ``per_elt_axis`` axes.

  Args:
    per_elt_updates: The per-element updates.
    per_elt_axis: The axis (or axes) holding the elements.

  Returns:
    The batch size.

  Raises:
    ValueError: if the leaves disagree on the batch size.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> aggregating.get_batch_size_from_per_elt_updates(
    ...     {"a": jnp.zeros((4, 3, 2)), "b": jnp.zeros((4, 3))}, [0, 1])
    12

  References:
    `optax.experimental.aggregating.get_batch_size_from_per_elt_updates`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  def get_batch_size(u):
    if isinstance(per_elt_axis, int):
      return u.shape[per_elt_axis]
    return math.prod(u.shape[i] for i in per_elt_axis)

  batch_sizes = jax.tree.leaves(jax.tree.map(get_batch_size, per_elt_updates))
  if not all(b == batch_sizes[0] for b in batch_sizes):
    raise ValueError(
        f"Per-element updates must have the same batch size. Got: {batch_sizes}"
    )
  return batch_sizes[0]


class PerElementMeanAndSumSqDiffGradsState(NamedTuple):
  """State for the per-element mean and variance accumulator."""

  micro_step: jax.Array  # shape=(), int32: microbatches accumulated since the last output
  ready: jax.Array  # shape=(), bool: whether the last update emitted the statistics
  mean_grads: _base.Updates  # like params: running mean of this cycle's gradients
  sum_sq_diff_grads: _base.Updates  # like params: running sum of squared deviations


def _mean_and_sum_sq_diff(per_elt_updates, per_elt_axis):
  """Per-leaf batch mean and sum of squared deviations from it, over ``per_elt_axis``."""
  mean_grads = jax.tree.map(
      lambda x: jnp.mean(x, axis=per_elt_axis, keepdims=True), per_elt_updates
  )
  sum_sq_diff_grads = jax.tree.map(
      lambda x, a: jnp.sum(jnp.square(x - a), axis=per_elt_axis),
      per_elt_updates,
      mean_grads,
  )
  mean_grads = jax.tree.map(lambda x: x.squeeze(axis=per_elt_axis), mean_grads)
  return mean_grads, sum_sq_diff_grads


def get_per_element_mean_and_sum_sq_diff_grads(
    per_elt_axis: int | Sequence[int] = 0,
    accumulation_steps: int = 1,
) -> Aggregator:
  """Collect per-element mean and sum of squared differences of gradients.

  The aggregator returns `(mean_grads, {"sum_sq_diff_grads": ..., "sample_size": n})`, to use
  with `process(..., aggregator_has_aux=True)`; over several microbatches it merges the
  statistics with Chan et al.'s parallel update, keeping the state's dtypes (optax 0.2.8
  promotes a bfloat16 `sum_sq_diff_grads` to float32 there). See `add_mean_variance_to_opt`.

  Args:
    per_elt_axis: The axis to average over.
    accumulation_steps: The number of microbatches to accumulate over.

  Returns:
    An Aggregator that collects per-element mean and sum square diff gradients.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> agg = aggregating.get_per_element_mean_and_sum_sq_diff_grads()
    >>> (mean, aux), _ = agg.update(jnp.array([[1.0], [3.0]]), agg.init(None), None)
    >>> mean.tolist(), aux["sum_sq_diff_grads"].tolist(), aux["sample_size"]
    ([2.0], [2.0], 2)

  References:
    Chan et al., `Updating Formulae and a Pairwise Algorithm for Computing Sample Variances
    <https://doi.org/10.1007/978-3-642-51461-6_3>`_, 1982;
    `optax.experimental.aggregating.get_per_element_mean_and_sum_sq_diff_grads`.
  """

  def compute_avg_and_sum_sq_diff(per_elt_updates, state, params):
    del params
    batch_size = get_batch_size_from_per_elt_updates(per_elt_updates, per_elt_axis)
    mean_grads, sum_sq_diff_grads = _mean_and_sum_sq_diff(per_elt_updates, per_elt_axis)
    aux_data = {"sum_sq_diff_grads": sum_sq_diff_grads, "sample_size": batch_size}
    return (mean_grads, aux_data), state

  if accumulation_steps == 1:
    return Aggregator(_base.init_empty_state, compute_avg_and_sum_sq_diff)

  def init_fn(params):
    return PerElementMeanAndSumSqDiffGradsState(
        micro_step=jnp.asarray(0, dtype=jnp.int32),
        ready=jnp.asarray(False),
        mean_grads=fo.tree.zeros_like(params),
        sum_sq_diff_grads=fo.tree.zeros_like(params),
    )

  def update_fn(per_elt_updates, state, params=None):
    del params
    batch_size = get_batch_size_from_per_elt_updates(per_elt_updates, per_elt_axis)
    new_micro_step = state.micro_step + 1
    batch_mean_grads, batch_sum_sq_diff_grads = _mean_and_sum_sq_diff(
        per_elt_updates, per_elt_axis
    )

    # Merge the batch statistics into the accumulated ones (equal batch sizes).
    delta = jax.tree.map(lambda u, a: u - a, batch_mean_grads, state.mean_grads)
    new_mean_grads = jax.tree.map(
        lambda a, d: a + d / new_micro_step, state.mean_grads, delta
    )
    size_factor = state.micro_step * batch_size / new_micro_step
    new_sum_sq_diff_grads = jax.tree.map(
        lambda a, s, d: a + s + d**2 * size_factor,
        state.sum_sq_diff_grads,
        batch_sum_sq_diff_grads,
        delta,
    )
    # `size_factor` is a float32 array: keep the state's dtype (optax promotes bfloat16).
    new_sum_sq_diff_grads = fo.tree.cast_like(new_sum_sq_diff_grads, state.sum_sq_diff_grads)
    maybe_outputs = (
        new_mean_grads,
        {
            "sum_sq_diff_grads": new_sum_sq_diff_grads,
            "sample_size": batch_size * new_micro_step,
        },
    )

    # Output the accumulated statistics (and reset) at the last microbatch, zeros before.
    ready_state = PerElementMeanAndSumSqDiffGradsState(
        micro_step=jnp.asarray(0, dtype=jnp.int32),
        ready=jnp.asarray(True),
        mean_grads=fo.tree.zeros_like(new_mean_grads),
        sum_sq_diff_grads=fo.tree.zeros_like(new_sum_sq_diff_grads),
    )
    not_ready_state = PerElementMeanAndSumSqDiffGradsState(
        micro_step=new_micro_step,
        ready=jnp.asarray(False),
        mean_grads=new_mean_grads,
        sum_sq_diff_grads=new_sum_sq_diff_grads,
    )
    return fo.tree.where(
        new_micro_step == accumulation_steps,
        (maybe_outputs, ready_state),
        (fo.tree.zeros_like(maybe_outputs), not_ready_state),
    )

  return Aggregator(init_fn, update_fn)


class PerElementMeanAndVarianceEMAState(NamedTuple):
  """State for the per-element mean and variance EMA tracker."""

  count: jax.Array  # shape=(), int32: number of updates so far
  ema_decay: jax.Array  # shape=(), float32: the EMA decay, for bias correction
  mean_grads_ema: _base.Updates  # like params: EMA of the mean gradient
  variance_grads_ema: _base.Updates  # like params: EMA of the per-element gradient variance


def track_per_element_mean_and_variance_with_ema(
    ema_decay: jax.typing.ArrayLike = 0.9,
) -> _base.GradientTransformation:
  """Track variance metrics with an EMA over time.

  Its `update` takes the keyword arguments `sum_sq_diff_grads` and `sample_size` that the
  `get_per_element_mean_and_sum_sq_diff_grads` aggregator provides through `process`; it
  returns the updates unchanged. The EMAs keep the parameters' dtypes (optax 0.2.8 promotes
  bfloat16 EMAs to float32 when the statistics are accumulated over microbatches, and `process`
  then fails). See `add_mean_variance_to_opt` for a complete example.

  Args:
    ema_decay: The EMA decay factor.

  Returns:
    A GradientTransformationExtraArgs that tracks per-element mean and (unbiased sample)
    variance with an EMA over time.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> tx = aggregating.track_per_element_mean_and_variance_with_ema(ema_decay=0.5)
    >>> _, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)),
    ...                      sum_sq_diff_grads=jnp.array([2.0]), sample_size=2)
    >>> state.mean_grads_ema.tolist(), state.variance_grads_ema.tolist()
    ([1.0], [1.0])

  References:
    `optax.experimental.aggregating.track_per_element_mean_and_variance_with_ema`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """

  def init_fn(params):
    return PerElementMeanAndVarianceEMAState(
        count=jnp.zeros([], jnp.int32),
        ema_decay=jnp.asarray(ema_decay),
        mean_grads_ema=fo.tree.zeros_like(params),
        variance_grads_ema=fo.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None, *, sum_sq_diff_grads, sample_size):
    del params
    mean_grads_ema = jax.tree.map(
        lambda x, y: (1.0 - ema_decay) * x + ema_decay * y, updates, state.mean_grads_ema
    )
    variance_step = fo.tree.scale(1 / (sample_size - 1), sum_sq_diff_grads)
    variance_grads_ema = jax.tree.map(
        lambda x, y: (1.0 - ema_decay) * x + ema_decay * y,
        variance_step,
        state.variance_grads_ema,
    )
    # Keep the state's dtypes: with accumulation, `sample_size` is an int32 array and
    # `1 / (sample_size - 1)` a float32 one, which would promote bfloat16 EMAs (optax does).
    new_state = state._replace(
        count=fo.safe_int32_increment(state.count),
        mean_grads_ema=fo.tree.cast_like(mean_grads_ema, state.mean_grads_ema),
        variance_grads_ema=fo.tree.cast_like(variance_grads_ema, state.variance_grads_ema),
    )
    return updates, new_state

  return _base.GradientTransformationExtraArgs(init_fn, update_fn)


def get_unbiased_mean_and_variance_ema(
    state: _base.OptState,
) -> tuple[_base.Updates, _base.Updates]:
  """Retrieve the bias-corrected mean and variance EMAs from an optimizer state.

  Args:
    state: The state of the optimizer; it must hold one `PerElementMeanAndVarianceEMAState`.

  Returns:
    A tuple of unbiased mean and variance EMA.

  Raises:
    ValueError: if the state holds no `PerElementMeanAndVarianceEMAState`.

  Example:
    >>> import jax.numpy as jnp
    >>> from functional_optim.experimental import aggregating
    >>> tx = aggregating.track_per_element_mean_and_variance_with_ema(ema_decay=0.5)
    >>> _, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)),
    ...                      sum_sq_diff_grads=jnp.array([2.0]), sample_size=2)
    >>> mean, var = aggregating.get_unbiased_mean_and_variance_ema(state)
    >>> mean.tolist(), var.tolist()
    ([2.0], [2.0])

  References:
    `optax.experimental.aggregating.get_unbiased_mean_and_variance_ema`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """
  ema_state = fo.tree.get(state, "PerElementMeanAndVarianceEMAState", None)
  if ema_state is None:
    raise ValueError(
        "State must have PerElementMeanAndVarianceEMAState to compute unbiased"
        " mean and variance EMA."
    )
  correction = 1 - ema_state.ema_decay**ema_state.count
  unbiased_mean_grads_ema = jax.tree.map(lambda x: x / correction, ema_state.mean_grads_ema)
  unbiased_variance_grads_ema = jax.tree.map(
      lambda x: x / correction, ema_state.variance_grads_ema
  )
  return unbiased_mean_grads_ema, unbiased_variance_grads_ema


def add_mean_variance_to_opt(
    opt: _base.GradientTransformation,
    ema_decay: jax.typing.ArrayLike = 0.9,
    per_elt_axis: int | list[int] = 0,
    accumulation_steps: int = 1,
):
  r"""Add per-element gradient mean and variance tracking to an optimizer.

  The returned transformation takes per-example gradients, averages them (over
  `accumulation_steps` microbatches), feeds the average to ``opt`` and tracks EMAs of the mean
  and variance of the gradients in its state (read them with
  `get_unbiased_mean_and_variance_ema`).

  Args:
    opt: The optimizer to add mean and variance to.
    ema_decay: The EMA decay factor.
    per_elt_axis: The axis to average over.
    accumulation_steps: The number of microbatches to accumulate over.

  Returns:
    A GradientTransformation that adds mean and variance to an optimizer.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import jax.random as jrd
    >>> import functional_optim as fo
    >>> from functional_optim.experimental import aggregating
    >>> xs = jrd.normal(jrd.key(0), (3, 4, 2))  # 3 microbatches of 4 examples
    >>> ys = jrd.normal(jrd.key(1), (3, 4, 2))
    >>> params = jrd.normal(jrd.key(2), (2, 2))
    >>> opt = aggregating.add_mean_variance_to_opt(fo.adam(learning_rate=0.01), ema_decay=0.9)
    >>> fun = lambda w, x, y: jnp.mean(jnp.sum((x.dot(w)-y)**2, axis=-1))
    >>> values_and_grads = jax.vmap(jax.value_and_grad(fun), (None, 0, 0))
    >>> state = opt.init(params)
    >>> for i, (x, y) in enumerate(zip(xs, ys)):
    ...   losses, grads = values_and_grads(params, x, y)
    ...   updates, state = opt.update(grads, state)
    ...   params = fo.apply_updates(params, updates)
    ...   mean_ema, var_ema = aggregating.get_unbiased_mean_and_variance_ema(state)
    ...   print(f'Step: {i}|Batch loss: {jnp.mean(losses):.2e}')
    Step: 0|Batch loss: 7.46e+00
    Step: 1|Batch loss: 5.52e+00
    Step: 2|Batch loss: 5.15e+00
    >>> print(jnp.round(mean_ema, 2))
    [[ 1.24  2.21]
     [-2.72  3.03]]

  References:
    `optax.experimental.aggregating.add_mean_variance_to_opt`,
    https://optax.readthedocs.io/en/latest/api/experimental.html
  """
  return process(
      preprocessor=fo.identity(),
      aggregator=get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis, accumulation_steps),
      postprocessor=fo.chain(track_per_element_mean_and_variance_with_ema(ema_decay), opt),
      aggregator_has_aux=True,
  )
