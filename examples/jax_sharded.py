"""Sharded training in JAX: a 2-D (data x model) mesh of 8 host devices, no code change.

    .venv/bin/python examples/jax_sharded.py --steps 50

functional_optim's transformations are pure functions of arrays, so `jax.jit` shards them
like any other code: put the parameters and the batch on a mesh, and the optimizer state
that `init` makes follows the parameters (its moments sharded like them, its step counts
replicated). The batch is split over the `data` axis, the hidden layer over `model`. The
same training runs unsharded on one device, and the two must agree.

On a CPU, 8 host devices are simulated with
`XLA_FLAGS=--xla_force_host_platform_device_count=8`, which this script sets itself when
it is not set (it must be set before jax starts).
"""

import argparse
import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # pylint: disable=g-import-not-at-top

import functional_optim as fo  # pylint: disable=g-import-not-at-top


def loss_fn(params, x, y):
  hidden = jax.nn.gelu(x @ params["w1"] + params["b1"])
  return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)


def train(optimizer, params, batches):
  """Runs one jitted step per batch; shardings come from the arrays (propagated)."""
  @jax.jit
  def step(params, state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, state = optimizer.update(grads, state, params)
    return fo.apply_updates(params, updates), state, loss

  # Eagerly: each moment is made like its parameter, so it is sharded like it. (Under jax.jit,
  # init reads no parameter value, jit drops them, and the state would land on one device.)
  state = optimizer.init(params)
  losses = []
  for x, y in batches:
    params, state, loss = step(params, state, x, y)
    losses.append(float(loss))
  return params, state, losses


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=50, help="training steps (default 50)")
  args = parser.parse_args(argv)
  assert jax.device_count() == 8, f"{jax.device_count()} devices: set XLA_FLAGS before jax starts"

  keys = jax.random.split(jax.random.key(0), 4)
  params = {
      "w1": jax.random.normal(keys[0], (16, 64)) / 4, "b1": jnp.zeros(64),
      "w2": jax.random.normal(keys[1], (64, 4)) / 8, "b2": jnp.zeros(4),
  }
  true_w = jax.random.normal(keys[2], (16, 4))
  xs = jax.random.normal(keys[3], (args.steps, 32, 16))
  batches = [(x, jnp.sin(x @ true_w)) for x in xs]
  optimizer = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(fo.cosine_decay_schedule(3e-2, args.steps)))

  mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto, AxisType.Auto))
  shard = lambda spec: NamedSharding(mesh, spec)
  param_shardings = {"w1": shard(P(None, "model")), "b1": shard(P("model")),
                     "w2": shard(P("model", None)), "b2": shard(P())}
  sharded_params = jax.device_put(params, param_shardings)
  sharded_batches = jax.device_put(batches, [(shard(P("data")), shard(P("data")))] * len(batches))

  adam_state = optimizer.init(sharded_params)[1][0]  # chain -> adamw's chain -> scale_by_adam
  print(f"after init: w1 {sharded_params['w1'].sharding.spec}, its first moment "
        f"{adam_state.mu['w1'].sharding.spec}")
  assert adam_state.mu["w1"].sharding.is_equivalent_to(param_shardings["w1"], 2), "moments follow params"
  sharded, state, losses = train(optimizer, sharded_params, sharded_batches)
  adam_state = state[1][0]
  print(f"8 devices, mesh {dict(mesh.shape)}; loss {losses[0]:.4f} -> {losses[-1]:.4f}")
  print(f"after training: w1 {sharded['w1'].sharding.spec}, its first moment "
        f"{adam_state.mu['w1'].sharding.spec}, step count {adam_state.count.sharding.spec}")

  unsharded, _, unsharded_losses = train(optimizer, jax.device_put(params, jax.devices()[0]),
                                         jax.device_put(batches, jax.devices()[0]))
  difference = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))  # gathered to the host
                   for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(unsharded)))
  print(f"max |param difference| sharded vs unsharded: {difference:.3g}")
  assert adam_state.mu["w1"].sharding.is_equivalent_to(param_shardings["w1"], 2), "moments follow params"
  assert losses[-1] < 0.8 * losses[0], "the loss should fall"
  assert difference < 1e-5, "the sharded run computes what the unsharded one does (up to float32 rounding)"
  assert max(abs(a - b) for a, b in zip(losses, unsharded_losses)) < 1e-5


if __name__ == "__main__":
  main()
