"""Four ways to train one MLP on scikit-learn's bundled handwritten digits.

    bash scripts/demo.sh                      # AdamW, defaults below
    bash scripts/demo.sh --optimizer sgd --epochs 10 --out /tmp/demo

Every run starts from the same initial weights and sees the batches in the same order:

  1. PyTorch + torch.optim.<Optimizer>                     (constant learning rate)
  2. PyTorch + torch_bridge.<Optimizer>                    (the drop-in: same numbers as 1)
  3. PyTorch + torch_bridge.FunctionalOptimizer driving
     fo.chain(fo.clip_by_global_norm(1.0), fo.<optimizer>(warmup-cosine schedule))
  4. pure JAX (jax.jit) with that same chain

Runs 1 and 2 agree to float32 rounding; so do runs 3 and 4 (up to the rounding of
torch's and JAX's own forward/backward passes). Runs 1/2 and 3/4 differ on purpose:
3/4 clip the gradient norm and follow a warmup-cosine schedule.

Prints a table (final training loss, test accuracy, mean step time, parameter
differences) and writes loss_curves.png into --out. Nothing is downloaded.
"""

import argparse
import dataclasses
import math
import pathlib
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch
from sklearn.datasets import load_digits

import functional_optim as fo
import torch_bridge

# Hidden layers use tanh, not ReLU: with ReLU, a unit sitting at its kink turns a float32
# rounding difference into a different gradient, and runs 1 and 2 drift apart chaotically
# (from 3e-7 to 5e-3 within 65 steps of AdamW here). tanh keeps the difference at rounding level.
LAYER_SIZES = (64, 128, 64, 10)
BATCH_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Recipe:
  """One optimizer, spelled for torch.optim / torch_bridge and as a functional alias."""
  torch_name: str  # class name in torch.optim and torch_bridge
  torch_kwargs: dict
  functional: Callable  # learning rate (schedule) -> GradientTransformation, same hyperparameters
  lr: float


RECIPES = {
    "adamw": Recipe("AdamW", {"weight_decay": 1e-2}, lambda lr: fo.adamw(lr, weight_decay=1e-2), 3e-3),
    "adam": Recipe("Adam", {}, fo.adam, 3e-3),
    "sgd": Recipe("SGD", {"momentum": 0.9, "nesterov": True},
                  lambda lr: fo.sgd(lr, momentum=0.9, nesterov=True), 5e-2),
    # torch adds eps outside the square root and decays by alpha=0.99; optax's defaults differ.
    "rmsprop": Recipe("RMSprop", {"alpha": 0.99},
                      lambda lr: fo.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False), 1e-3),
}


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
  parser.add_argument("--optimizer", choices=sorted(RECIPES), default="adamw",
                      help="runs 1/2 use the torch.optim / torch_bridge class of this name, runs 3/4 "
                           "the functional_optim alias of the same name (default adamw)")
  parser.add_argument("--lr", type=float, default=None,
                      help="learning rate of runs 1/2 and peak of the schedule in runs 3/4 (default: per optimizer)")
  parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("demo_output"),
                      help="folder for loss_curves.png (default ./demo_output)")
  parser.add_argument("--seed", type=int, default=0, help="initial weights, train/test split and batch order (default 0)")
  args = parser.parse_args(argv)
  if args.epochs < 1:
    parser.error("--epochs must be at least 1")
  if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
    parser.error(f"--lr must be a positive number, got {args.lr}")
  return args


# ---- data and model ---------------------------------------------------------------


def load_data(seed):
  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int64)
  order = np.random.default_rng(seed).permutation(len(x))
  split = int(0.8 * len(x))
  train, test = order[:split], order[split:]
  return (x[train], y[train]), (x[test], y[test])


def initial_weights(seed):
  """torch.nn.Linear's default initialization, drawn once with NumPy: [(w (out, in), b (out,)), ...]."""
  rng = np.random.default_rng(seed)
  layers = []
  for fan_in, fan_out in zip(LAYER_SIZES[:-1], LAYER_SIZES[1:]):
    bound = 1.0 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
    b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    layers.append((w, b))
  return layers


def batch_order(seed, n_train, epochs):
  rng = np.random.default_rng(seed + 1)
  steps = n_train // BATCH_SIZE
  return [rng.permutation(n_train)[i * BATCH_SIZE:(i + 1) * BATCH_SIZE] for _ in range(epochs) for i in range(steps)]


def torch_model(weights):
  layers = []
  for w, b in weights:
    linear = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
      linear.weight.copy_(torch.from_numpy(w))
      linear.bias.copy_(torch.from_numpy(b))
    layers += [linear, torch.nn.Tanh()]
  return torch.nn.Sequential(*layers[:-1])


def jax_forward(params, x):
  for w, b in params[:-1]:
    x = jnp.tanh(x @ w.T + b)
  w, b = params[-1]
  return x @ w.T + b


def jax_loss(params, x, y):
  logits = jax_forward(params, x)
  return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


# ---- progress ---------------------------------------------------------------------


class Progress:
  """A one-line progress bar on stderr, redrawn at most ten times a second."""

  def __init__(self, label, total):
    self.label, self.total, self.start, self.last_draw = label, total, time.perf_counter(), 0.0
    self.interactive = sys.stderr.isatty()

  def update(self, done, loss):
    now = time.perf_counter()
    if done == self.total or (self.interactive and now - self.last_draw > 0.1):
      self.last_draw = now
      filled = int(30 * done / self.total)
      bar = "#" * filled + "-" * (30 - filled)
      line = f"{self.label:<44} [{bar}] {done:>5}/{self.total} loss {loss:.4f} {now - self.start:5.1f}s"
      sys.stderr.write(("\r" if self.interactive else "") + line + ("\n" if done == self.total else ""))
      sys.stderr.flush()


# ---- the four runs ----------------------------------------------------------------


@dataclasses.dataclass
class Result:
  label: str
  losses: list  # training loss of every step
  step_seconds: list
  weights: list  # final [(w, b), ...] as NumPy
  train_loss: float
  test_accuracy: float


def train_torch(label, weights, make_optimizer, data, batches):
  (x_train, y_train), (x_test, y_test) = data
  model = torch_model(weights)
  optimizer = make_optimizer(model.parameters())
  x_train_t, y_train_t = torch.from_numpy(x_train), torch.from_numpy(y_train)
  losses, seconds = [], []
  progress = Progress(label, len(batches))
  for i, batch in enumerate(batches):
    index = torch.from_numpy(batch)
    start = time.perf_counter()
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x_train_t[index]), y_train_t[index])
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    seconds.append(time.perf_counter() - start)
    progress.update(i + 1, losses[-1])
  with torch.no_grad():
    train_loss = torch.nn.functional.cross_entropy(model(x_train_t), y_train_t).item()
    accuracy = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
  linears = [m for m in model if isinstance(m, torch.nn.Linear)]
  final = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears]
  return Result(label, losses, seconds, final, train_loss, float(accuracy))


def train_jax(label, weights, optimizer, data, batches):
  (x_train, y_train), (x_test, y_test) = data
  params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
  state = optimizer.init(params)

  @jax.jit
  def step(params, state, x, y):
    loss, grads = jax.value_and_grad(jax_loss)(params, x, y)
    updates, state = optimizer.update(grads, state, params)
    return fo.apply_updates(params, updates), state, loss

  losses, seconds = [], []
  progress = Progress(label, len(batches))
  for i, batch in enumerate(batches):
    start = time.perf_counter()
    params, state, loss = step(params, state, x_train[batch], y_train[batch])
    losses.append(float(loss))
    seconds.append(time.perf_counter() - start)
    progress.update(i + 1, losses[-1])
  train_loss = float(jax_loss(params, x_train, y_train))
  accuracy = float(jnp.mean(jnp.argmax(jax_forward(params, x_test), 1) == y_test))
  final = [(np.asarray(w), np.asarray(b)) for w, b in params]
  return Result(label, losses, seconds, final, train_loss, accuracy)


def max_difference(a, b):
  return max(float(np.max(np.abs(x - y))) for pa, pb in zip(a.weights, b.weights) for x, y in zip(pa, pb))


# ---- report -----------------------------------------------------------------------


def print_table(results):
  header = f"{'run':<46} {'final train loss':>16} {'test accuracy':>13} {'mean step':>10}"
  print(header)
  print("-" * len(header))
  for r in results:
    # The first step compiles (JAX, bridge) or warms caches (torch): left out of the mean.
    mean_ms = 1e3 * float(np.mean(r.step_seconds[1:] if len(r.step_seconds) > 1 else r.step_seconds))
    print(f"{r.label:<46} {r.train_loss:>16.5f} {r.test_accuracy:>13.4f} {mean_ms:>8.3f}ms")
  print("mean step = forward + backward + optimizer step, without the first (compiling) step; "
        "one run on this machine, not a benchmark")


def plot(results, steps_per_epoch, path):
  import matplotlib
  import matplotlib.ticker
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt

  figure, axes = plt.subplots(figsize=(8, 5))
  styles = ["-", "--", "-", ":"]  # 2 is drawn over 1, and 4 over 3: dashed and dotted show both
  for r, style in zip(results, styles):
    losses = np.asarray(r.losses)
    epochs = len(losses) // steps_per_epoch
    per_epoch = losses[:epochs * steps_per_epoch].reshape(epochs, steps_per_epoch).mean(1)
    axes.plot(np.arange(1, epochs + 1), per_epoch, style, linewidth=2, marker="o", markersize=3, label=r.label)
  axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  axes.set_yscale("log")
  axes.set_xlabel("epoch")
  axes.set_ylabel("mean training loss (cross-entropy)")
  axes.set_title("load_digits MLP: four runs from the same initialization and batch order")
  axes.grid(True, which="both", alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)


def main(argv=None):
  args = parse_args(argv)
  # One thread: the model is tiny, and on a busy machine torch's spinning worker threads
  # cost more than they save.
  torch.set_num_threads(1)
  recipe = RECIPES[args.optimizer]
  lr = args.lr if args.lr is not None else recipe.lr
  data = load_data(args.seed)
  weights = initial_weights(args.seed)
  batches = batch_order(args.seed, len(data[0][0]), args.epochs)
  steps_per_epoch = len(data[0][0]) // BATCH_SIZE
  total_steps = len(batches)
  schedule = fo.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=lr, warmup_steps=max(1, total_steps // 10), decay_steps=total_steps)
  chain = fo.chain(fo.clip_by_global_norm(1.0), recipe.functional(schedule))
  chain_text = f"chain(clip_by_global_norm(1.0), {args.optimizer}(warmup-cosine, peak {lr:g}))"
  print(f"load_digits: {len(data[0][0])} train / {len(data[1][0])} test images, MLP {LAYER_SIZES}, "
        f"batch {BATCH_SIZE}, {args.epochs} epochs = {total_steps} steps, seed {args.seed}")
  print(f"torch {torch.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"{torch.get_num_threads()} torch threads")

  torch_class = getattr(torch.optim, recipe.torch_name)
  bridge_class = getattr(torch_bridge, recipe.torch_name)
  results = [
      train_torch(f"1 torch.optim.{recipe.torch_name}(lr={lr:g})", weights,
                  lambda p: torch_class(p, lr=lr, **recipe.torch_kwargs), data, batches),
      train_torch(f"2 torch_bridge.{recipe.torch_name}(lr={lr:g})", weights,
                  lambda p: bridge_class(p, lr=lr, **recipe.torch_kwargs), data, batches),
      train_torch("3 torch + FunctionalOptimizer(chain)", weights,
                  lambda p: torch_bridge.FunctionalOptimizer(p, chain), data, batches),
      train_jax("4 pure JAX + chain, jax.jit", weights, chain, data, batches),
  ]
  print()
  print_table(results)
  print()
  print(f"runs 3 and 4 use {chain_text}")
  diff_12 = max_difference(results[0], results[1])
  diff_34 = max_difference(results[2], results[3])
  diff_13 = max_difference(results[0], results[2])
  largest = max(float(np.max(np.abs(x))) for layer in results[0].weights for x in layer)
  print(f"max |param difference| runs 1 vs 2: {diff_12:.3g}  "
        "(same optimizer in torch and through the bridge: float32 rounding only)")
  print(f"max |param difference| runs 3 vs 4: {diff_34:.3g}  "
        "(same chain; torch's and JAX's forward/backward round differently)")
  print(f"max |param difference| runs 1 vs 3: {diff_13:.3g}  "
        "(different on purpose: 3/4 clip gradients and follow a warmup-cosine schedule)")
  print(f"(largest |param| is {largest:.3g}; float32 rounding of one step is ~{largest * 6e-8:.1g} at that size)")

  args.out.mkdir(parents=True, exist_ok=True)
  path = args.out / "loss_curves.png"
  plot(results, steps_per_epoch, path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
