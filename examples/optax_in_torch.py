"""An optax transformation, unchanged, in a PyTorch training loop.

    .venv/bin/python examples/optax_in_torch.py --steps 40

`torch_bridge.FunctionalOptimizer` takes any `(init, update)` pair, so an optax chain
runs as a `torch.optim.Optimizer`. The example trains a linear model in torch with
`optax.chain(optax.clip_by_global_norm(1.0), optax.adabelief(...))` (AdaBelief is not
in torch.optim) and replays the same training in pure JAX with optax itself: the
parameters agree to float32 rounding.
Needs optax: `pip install "functional-optim[examples]"` (or `pip install optax==0.2.8`).
"""

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch

try:
  import optax
except ImportError:
  sys.exit('optax_in_torch.py needs optax, which is not installed: '
           'pip install "functional-optim[examples]" (or pip install optax==0.2.8)')

import torch_bridge


def make_optimizer():
  return optax.chain(optax.clip_by_global_norm(1.0), optax.adabelief(learning_rate=1e-2))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
  args = parser.parse_args(argv)

  rng = np.random.default_rng(0)
  xs = rng.normal(size=(args.steps, 32, 5)).astype(np.float32)
  ys = rng.normal(size=(args.steps, 32, 3)).astype(np.float32)
  model = torch.nn.Linear(5, 3)
  w0, b0 = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()

  # PyTorch loop, optax optimizer.
  optimizer = torch_bridge.FunctionalOptimizer(model.parameters(), make_optimizer())
  for x, y in zip(xs, ys):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    optimizer.step()

  # The same training in pure JAX with optax.
  tx = make_optimizer()
  params = (jnp.asarray(w0), jnp.asarray(b0))
  state = tx.init(params)

  @jax.jit
  def step(params, state, x, y):
    grads = jax.grad(lambda p: jnp.mean((x @ p[0].T + p[1] - y) ** 2))(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for x, y in zip(xs, ys):
    params, state = step(params, state, x, y)

  diff = max(float(np.max(np.abs(t.detach().numpy() - np.asarray(j))))
             for t, j in zip((model.weight, model.bias), params))
  print(f"optax chain in torch: final loss {loss.item():.5f} after {args.steps} steps")
  print(f"max |param difference| torch+bridge vs pure optax: {diff:.3g}")
  print(f"optimizer state as torch tensors: {sorted(optimizer.state_dict()['state'][0])}")
  assert diff < 1e-5, diff


if __name__ == "__main__":
  main()
