"""The four algorithms, spelled for torch.optim, torch_bridge, optax and functional_optim.

optax and functional_optim share names and arguments, so one function builds the
transformation from either module.
"""

import dataclasses
from types import ModuleType
from typing import Any, Callable, Optional

LR = 1e-3
SGD_LR = 1e-2
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-2
MAX_NORM = 1.0


@dataclasses.dataclass(frozen=True)
class Algorithm:
  """One optimizer algorithm, in every spelling the suite runs.

  Attributes:
    name: the key used on the command line and in results.
    bytes_per_param: fp32 memory traffic one step needs at the least: each value
      it must read plus each it must write, per parameter.
    state_per_param: optimizer state values per parameter (for the ideal memory).
    torch_class: the class name in torch.optim and in torch_bridge.
    torch_kwargs: its hyperparameters.
    clip_norm: the max norm of a global gradient clip before the step (torch:
      `clip_grad_norm_`), or None.
    functional: `module -> GradientTransformation`, module being optax or
      functional_optim; the same hyperparameters as torch_kwargs.
    factory: `module -> (learning_rate, weight_decay) -> GradientTransformation`,
      for `inject_hyperparams` and the bridge's factory form in the recompile check.
  """

  name: str
  bytes_per_param: int
  state_per_param: int
  torch_class: str
  torch_kwargs: dict[str, Any]
  clip_norm: Optional[float]
  functional: Callable[[ModuleType], Any]
  factory: Callable[[ModuleType], Callable[..., Any]]

  @property
  def traffic_note(self) -> str:
    return {
        20: "read p, g, buf; write p, buf",
        28: "read p, g, m, v; write p, m, v",
        32: "read g for the norm, then p, g, m, v; write p, m, v",
    }[self.bytes_per_param]


def _sgd_factory(m):
  return lambda learning_rate, weight_decay: m.chain(
      m.add_decayed_weights(weight_decay), m.sgd(learning_rate, momentum=MOMENTUM))


def _adam_factory(m):  # torch.optim.Adam's weight decay is L2: added to the gradient first
  return lambda learning_rate, weight_decay: m.chain(m.add_decayed_weights(weight_decay), m.adam(learning_rate))


def _adamw_factory(m):
  return lambda learning_rate, weight_decay: m.adamw(learning_rate, weight_decay=weight_decay)


def _clip_adamw_factory(m):
  return lambda learning_rate, weight_decay: m.chain(
      m.clip_by_global_norm(MAX_NORM), m.adamw(learning_rate, weight_decay=weight_decay))


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("sgd_momentum", 20, 1, "SGD", {"lr": SGD_LR, "momentum": MOMENTUM}, None,
                  lambda m: m.sgd(SGD_LR, momentum=MOMENTUM), _sgd_factory),
        Algorithm("adam", 28, 2, "Adam", {"lr": LR}, None, lambda m: m.adam(LR), _adam_factory),
        Algorithm("adamw", 28, 2, "AdamW", {"lr": LR, "weight_decay": WEIGHT_DECAY}, None,
                  lambda m: m.adamw(LR, weight_decay=WEIGHT_DECAY), _adamw_factory),
        Algorithm("clip_adamw", 32, 2, "AdamW", {"lr": LR, "weight_decay": WEIGHT_DECAY}, MAX_NORM,
                  lambda m: m.chain(m.clip_by_global_norm(MAX_NORM), m.adamw(LR, weight_decay=WEIGHT_DECAY)),
                  _clip_adamw_factory),
    )
}
