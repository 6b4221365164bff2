"""The public surface: every optax core name the project promises exists, with
optax's argument names, kinds and defaults."""

import inspect

import optax
import pytest

import functional_optim as fo

BASE = [
    "GradientTransformation", "GradientTransformationExtraArgs", "EmptyState", "identity",
    "stateless", "stateless_with_tree_map", "chain", "named_chain", "apply_updates",
    "incremental_update", "periodic_update", "with_extra_args_support", "global_norm",
    "set_to_zero", "init_empty_state", "safe_norm", "safe_root_mean_squares", "safe_increment",
    "safe_int32_increment", "bias_correction", "update_moment", "update_infinity_moment",
    "update_moment_per_elem_norm",
]
TRANSFORMS = [
    "scale", "scale_by_learning_rate", "scale_by_schedule", "add_decayed_weights", "add_noise",
    "trace", "ema", "centralize", "clip", "clip_by_global_norm", "clip_by_block_rms",
    "adaptive_grad_clip", "keep_params_nonnegative", "zero_nans", "scale_gradient",
    "normalize_by_update_norm", "scale_by_adam", "scale_by_amsgrad", "scale_by_adamax",
    "scale_by_adan", "scale_by_adadelta", "scale_by_belief", "scale_by_distance_over_gradients",
    "scale_by_factored_rms", "scale_by_lion", "scale_by_novograd", "scale_by_optimistic_gradient",
    "scale_by_param_block_norm", "scale_by_param_block_rms", "scale_by_polyak", "scale_by_radam",
    "scale_by_rms", "scale_by_rprop", "scale_by_rss", "scale_by_sign", "scale_by_sm3",
    "scale_by_stddev", "scale_by_trust_ratio", "scale_by_yogi", "scale_by_lbfgs",
    "scale_by_zoom_linesearch", "scale_by_backtracking_linesearch",
]
WRAPPERS = [
    "masked", "multi_transform", "partition", "inject_hyperparams", "inject_stateful_hyperparams",
    "apply_if_finite", "skip_not_finite", "skip_large_updates", "MultiSteps", "apply_every",
    "lookahead", "flatten", "freeze", "set_to_zero", "conditionally_mask",
    "conditionally_transform", "selective_transform",
]
ALIASES = [
    "adabelief", "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamaxw", "adamw", "adan",
    "amsgrad", "fromage", "lamb", "lars", "lbfgs", "lion", "nadam", "nadamw", "noisy_sgd",
    "novograd", "optimistic_adam_v2", "optimistic_gradient_descent", "polyak_sgd", "radam",
    "rmsprop", "rprop", "sgd", "sign_sgd", "signum", "sm3", "yogi",
]
SCHEDULES = [
    "constant_schedule", "linear_schedule", "cosine_decay_schedule",
    "warmup_cosine_decay_schedule", "exponential_decay", "warmup_exponential_decay_schedule",
    "warmup_constant_schedule", "piecewise_constant_schedule", "piecewise_interpolate_schedule",
    "polynomial_schedule", "join_schedules", "cosine_onecycle_schedule",
    "linear_onecycle_schedule", "sgdr_schedule",
]
STATES = [
    "ScaleByAdamState", "ScaleByAmsgradState", "ScaleByAdanState", "ScaleByAdaDeltaState",
    "ScaleByBeliefState", "ScaleByLBFGSState", "ScaleByLionState", "ScaleByNovogradState",
    "ScaleByRmsState", "ScaleByRpropState", "ScaleByRssState", "ScaleByRStdDevState",
    "ScaleByScheduleState", "ScaleBySM3State", "FactoredState", "MaskedState", "MaskedNode",
    "MultiStepsState", "LookaheadState", "LookaheadParams", "ApplyEvery", "TraceState", "EmaState",
    "AddNoiseState", "InjectHyperparamsState", "ScaleByZoomLinesearchState",
    "ScaleByBacktrackingLinesearchState",
]
CALLABLES = BASE + TRANSFORMS + WRAPPERS + ALIASES + SCHEDULES


def _comparable_default(value):
  if isinstance(value, tuple) and hasattr(value, "init") and hasattr(value, "update"):
    return "a GradientTransformation"  # e.g. lbfgs's default line search: compare its kind
  if value is inspect.Parameter.empty or isinstance(value, (int, float, str, bool, type(None), tuple)):
    return value
  return type(value).__name__


@pytest.mark.parametrize("name", sorted(set(CALLABLES + STATES)))
def test_name_exists(name):
  assert hasattr(fo, name), f"functional_optim.{name} is missing"


@pytest.mark.parametrize("name", sorted(set(CALLABLES) - {"GradientTransformation", "GradientTransformationExtraArgs", "EmptyState"}))
def test_signature_matches_optax(name):
  ours = inspect.signature(getattr(fo, name)).parameters
  theirs = inspect.signature(getattr(optax, name)).parameters
  assert list(ours) == list(theirs), f"{name}: argument names differ"
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, f"{name}({arg}): positional/keyword kind differs"
    assert _comparable_default(ours[arg].default) == _comparable_default(theirs[arg].default), (
        f"{name}({arg}): default differs"
    )


@pytest.mark.parametrize("name", SCHEDULES + ["inject_hyperparams", "inject_stateful_hyperparams"])
def test_schedules_namespace(name):
  assert getattr(fo.schedules, name) is getattr(fo, name)


def test_never_imports_optax():
  import pathlib
  import re
  for path in pathlib.Path(fo.__file__).parent.rglob("*.py"):
    assert not re.search(r"^\s*(import|from)\s+optax\b", path.read_text(), re.MULTILINE), path
