"""Demo: train a small MLP on scikit-learn's bundled handwritten digits with a
composed functional optimizer, in pure JAX.

    bash scripts/demo.sh --epochs 30 --optimizer adamw

The optimizer is `chain(clip_by_global_norm, <optimizer>)` with a warmup-cosine
learning-rate schedule; everything runs under `jax.jit`.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits

import functional_optim as fo

# name -> (optimizer from a learning-rate schedule, default peak learning rate)
OPTIMIZERS = {
    "adamw": (lambda lr: fo.adamw(lr, weight_decay=1e-4), 3e-3),
    "adam": (fo.adam, 3e-3),
    "sgd": (lambda lr: fo.sgd(lr, momentum=0.9, nesterov=True), 0.1),
    "lion": (fo.lion, 1e-3),
    "rmsprop": (fo.rmsprop, 1e-3),
}


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--epochs", type=int, default=30, help="passes over the training set (default 30)")
  parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adamw", help="default adamw")
  parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: per optimizer)")
  parser.add_argument("--batch-size", type=int, default=64, help="default 64")
  parser.add_argument("--seed", type=int, default=0, help="initialization and shuffling seed (default 0)")
  return parser.parse_args()


def load_data(seed):
  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  order = np.random.default_rng(seed).permutation(len(x))
  x, y = x[order], y[order]
  split = int(0.8 * len(x))
  return (x[:split], y[:split]), (x[split:], y[split:])


def init_mlp(key, sizes=(64, 128, 10)):
  params = []
  for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    key, sub = jax.random.split(key)
    bound = 1.0 / np.sqrt(fan_in)
    params.append({
        "w": jax.random.uniform(sub, (fan_in, fan_out), minval=-bound, maxval=bound),
        "b": jnp.zeros(fan_out),
    })
  return params


def forward(params, x):
  for layer in params[:-1]:
    x = jax.nn.relu(x @ layer["w"] + layer["b"])
  return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
  logits = forward(params, x)
  return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def accuracy(params, x, y):
  return float(jnp.mean(jnp.argmax(forward(params, x), axis=1) == y))


def main():
  args = parse_args()
  (x_train, y_train), (x_test, y_test) = load_data(args.seed)
  steps_per_epoch = len(x_train) // args.batch_size
  total_steps = args.epochs * steps_per_epoch
  make_optimizer, default_lr = OPTIMIZERS[args.optimizer]
  peak_lr = args.lr or default_lr
  schedule = fo.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=peak_lr, warmup_steps=max(1, total_steps // 10),
      decay_steps=total_steps,
  )
  optimizer = fo.chain(fo.clip_by_global_norm(1.0), make_optimizer(schedule))

  params = init_mlp(jax.random.key(args.seed))
  opt_state = optimizer.init(params)

  @jax.jit
  def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return fo.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(args.seed)
  print(f"{args.optimizer} + clip_by_global_norm, warmup-cosine lr {peak_lr}: "
        f"{len(x_train)} train / {len(x_test)} test digits, {total_steps} steps")
  start = time.perf_counter()
  for epoch in range(1, args.epochs + 1):
    order = rng.permutation(len(x_train))
    losses = []
    for i in range(steps_per_epoch):
      batch = order[i * args.batch_size:(i + 1) * args.batch_size]
      params, opt_state, loss = train_step(params, opt_state, x_train[batch], y_train[batch])
      losses.append(loss)
    if epoch == 1 or epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
      print(f"epoch {epoch:3d}  train loss {float(np.mean(losses)):.4f}  "
            f"test accuracy {accuracy(params, x_test, y_test):.3f}")
  print(f"done in {time.perf_counter() - start:.1f} s; "
        f"final test accuracy {accuracy(params, x_test, y_test):.3f}")


if __name__ == "__main__":
  main()
