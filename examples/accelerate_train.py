"""Bridge optimizers under Hugging Face Accelerate: prepare, gradient accumulation, save/load state.

    .venv/bin/python examples/accelerate_train.py --steps 8 --accumulation 4

`Accelerator.prepare` wraps the optimizer (an `AcceleratedOptimizer` that calls
`step()`/`zero_grad()` only on the micro-batch that ends an accumulation window) and
round-trips its `state_dict()` once; `accelerator.save_state` / `load_state` write and
read the model, the optimizer's `state_dict()` and the data position. The example
trains one small MLP three ways in the same Accelerate loop, from the same weights on
the same micro-batches:

  1. torch.optim.AdamW
  2. torch_bridge.AdamW                                   (the drop-in)
  3. torch_bridge.FunctionalOptimizer(fo.adamw, ...)      (a functional transformation)

and checks that 2 and 3 end where 1 does (float32 rounding), that each took exactly
`--steps` optimizer steps, and that for each, stopping halfway with
`accelerator.save_state`, loading the checkpoint into a fresh model, optimizer and
Accelerator with `load_state` and finishing gives parameters bit-identical to never
stopping. Runs on the CPU.
Needs accelerate: `pip install "functional-optim[examples]"` (or `pip install accelerate`).
"""

import argparse
import pathlib
import sys
import tempfile

import numpy as np
import torch

try:
  import accelerate
except ImportError:
  sys.exit('accelerate_train.py needs Hugging Face accelerate, which is not installed: '
           'pip install "functional-optim[examples]" (or pip install accelerate)')

import functional_optim as fo
import torch_bridge

LR = 1e-2
WEIGHT_DECAY = 1e-2  # torch.optim.AdamW's default; fo.adamw's is 1e-4, so it is passed explicitly
OPTIMIZERS = {
    "torch.optim.AdamW": lambda params: torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY),
    "torch_bridge.AdamW": lambda params: torch_bridge.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY),
    "FunctionalOptimizer(fo.adamw)": lambda params: torch_bridge.FunctionalOptimizer(
        params, fo.adamw, learning_rate=LR, weight_decay=WEIGHT_DECAY),
}


def make_data(micro_batches, micro_batch_size):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(micro_batches * micro_batch_size, 8)).astype(np.float32)
  y = np.tanh(x @ rng.normal(size=(8, 2))).astype(np.float32)
  return torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def make_model():
  torch.manual_seed(0)
  return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def run(make_optimizer, data, args, save_halfway_to=None, resume_from=None):
  """Trains in a fresh Accelerate loop, from the start or from a `save_state` checkpoint.

  With `save_halfway_to`, stops after half the micro-batches and saves the state there.
  Returns the model's parameters, the optimizer's `state_dict()` and the last loss.
  """
  halfway = args.steps // 2 * args.accumulation  # micro-batches: the end of a window
  accelerator = accelerate.Accelerator(cpu=True, gradient_accumulation_steps=args.accumulation)
  model = make_model()
  optimizer = make_optimizer(model.parameters())
  loader = torch.utils.data.DataLoader(data, batch_size=args.micro_batch_size, shuffle=False)
  model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
  batches = loader
  if resume_from is not None:
    accelerator.load_state(resume_from)
    batches = accelerator.skip_first_batches(loader, halfway)
  for index, (x, y) in enumerate(batches):
    with accelerator.accumulate(model):
      loss = torch.nn.functional.mse_loss(model(x), y)
      accelerator.backward(loss)
      optimizer.step()  # only at the end of each accumulation window
      optimizer.zero_grad()
    if save_halfway_to is not None and index + 1 == halfway:
      accelerator.save_state(save_halfway_to)
      break
  params = [p.detach().clone() for p in accelerator.unwrap_model(model).parameters()]
  return params, optimizer.state_dict(), loss.item()


def optimizer_steps(state_dict):
  """The step counts in a `state_dict()`: torch's per-parameter `step`, or optax's `count`."""
  return {int(entry["step"] if "step" in entry else entry["scale_by_adam.count"]) for entry in state_dict["state"].values()}


def max_difference(a, b):
  return max(float((x - y).abs().max()) for x, y in zip(a, b))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=8, help="optimizer steps, even (default 8)")
  parser.add_argument("--accumulation", type=int, default=4, help="micro-batches per optimizer step (default 4)")
  parser.add_argument("--micro-batch-size", type=int, default=8, help="examples per micro-batch (default 8)")
  args = parser.parse_args(argv)
  if args.steps < 2 or args.steps % 2 or args.accumulation < 1 or args.micro_batch_size < 1:
    parser.error("--steps must be an even number >= 2; --accumulation and --micro-batch-size >= 1")
  data = make_data(args.steps * args.accumulation, args.micro_batch_size)

  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    for name, make_optimizer in OPTIMIZERS.items():
      params, state, loss = run(make_optimizer, data, args)
      checkpoint = str(pathlib.Path(tmp) / name)
      run(make_optimizer, data, args, save_halfway_to=checkpoint)
      resumed, _, _ = run(make_optimizer, data, args, resume_from=checkpoint)
      results[name] = params
      steps = optimizer_steps(state)
      bit_identical = all(torch.equal(a, b) for a, b in zip(params, resumed))
      print(f"{name}: final loss {loss:.5f}, optimizer steps {sorted(steps)}, "
            f"save_state/load_state halfway then resumed: "
            f"{'bit-identical' if bit_identical else 'DIFFERENT'} to the uninterrupted run")
      assert steps == {args.steps}, (name, steps)
      assert bit_identical, name

  reference = results["torch.optim.AdamW"]
  for name in ["torch_bridge.AdamW", "FunctionalOptimizer(fo.adamw)"]:
    diff = max_difference(reference, results[name])
    print(f"max |param difference| torch.optim.AdamW vs {name}: {diff:.3g}")
    assert diff < 1e-5, (name, diff)


if __name__ == "__main__":
  main()
