"""JAX quickstart: compose a functional optimizer, jit the training step, train.

    .venv/bin/python examples/jax_quickstart.py --steps 300

Fits a linear model to noisy synthetic data with
`chain(clip_by_global_norm(1.0), adamw(warmup-cosine schedule))` and checks that it
recovers the true weights.
"""

import argparse

import jax
import jax.numpy as jnp

import functional_optim as fo


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
  args = parser.parse_args(argv)

  key_x, key_w, key_noise = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(key_x, (256, 8))
  true_w = jax.random.normal(key_w, (8, 1))
  y = x @ true_w + 0.01 * jax.random.normal(key_noise, (256, 1))

  schedule = fo.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=0.1, warmup_steps=max(1, args.steps // 10), decay_steps=args.steps)
  optimizer = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(schedule, weight_decay=1e-4))
  params = {"w": jnp.zeros((8, 1)), "b": jnp.zeros(1)}
  state = optimizer.init(params)

  def loss_fn(params):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)

  @jax.jit
  def step(params, state):
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, state = optimizer.update(grads, state, params)
    return fo.apply_updates(params, updates), state, loss

  first_loss = float(loss_fn(params))
  for i in range(args.steps):
    params, state, loss = step(params, state)
    if i % max(1, args.steps // 5) == 0:
      print(f"step {i:4d}  loss {float(loss):.5f}")
  final_loss = float(loss_fn(params))
  error = float(jnp.max(jnp.abs(params["w"] - true_w)))
  print(f"loss {first_loss:.4f} -> {final_loss:.6f}; max |w - true w| = {error:.4f}")
  assert final_loss < 0.1 * first_loss, "the loss should fall at least tenfold"


if __name__ == "__main__":
  main()
