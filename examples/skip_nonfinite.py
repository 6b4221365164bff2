"""Skipping non-finite steps: `fo.apply_if_finite` and `fo.skip_not_finite` in torch.

    .venv/bin/python examples/skip_nonfinite.py --steps 12

One batch of the training data is corrupted so that its loss and gradients are NaN.
`torch.optim.Adam` writes NaN into the parameters. Through the bridge,
  * `apply_if_finite(adam, max_consecutive_errors=3)` leaves parameters and Adam's
    state untouched on that step and counts it (`total_notfinite`), and
  * `MultiSteps(adam, 1, should_skip_update_fn=skip_not_finite)` does the same,
so both end where a run that never saw the bad batch ends (to float32 rounding).
"""

import argparse
import copy

import torch

import functional_optim as fo
import torch_bridge


def train(model, optimizer, batches):
  for x, y in batches:
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.step()


def max_diff(a, b):
  return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--steps", type=int, default=12, help="training steps, one of them NaN (default 12)")
  args = parser.parse_args(argv)
  if args.steps < 2:
    parser.error("--steps must be at least 2")

  torch.manual_seed(0)
  model = torch.nn.Linear(4, 2)
  batches = [(torch.randn(8, 4), torch.randn(8, 2)) for _ in range(args.steps)]
  bad = args.steps // 2
  corrupted = list(batches)
  corrupted[bad] = (torch.full((8, 4), float("nan")), batches[bad][1])
  clean = batches[:bad] + batches[bad + 1:]  # the same data without the bad batch

  plain = copy.deepcopy(model)
  train(plain, torch.optim.Adam(plain.parameters(), lr=1e-2), corrupted)
  print(f"torch.optim.Adam with the NaN batch: parameters finite? "
        f"{all(torch.isfinite(p).all().item() for p in plain.parameters())}")

  expected = copy.deepcopy(model)
  train(expected, torch_bridge.FunctionalOptimizer(expected.parameters(), fo.adam(1e-2)), clean)

  guarded = copy.deepcopy(model)
  optimizer = torch_bridge.FunctionalOptimizer(
      guarded.parameters(), fo.apply_if_finite(fo.adam(1e-2), max_consecutive_errors=3))
  train(guarded, optimizer, corrupted)
  counters = optimizer.state[next(guarded.parameters())]  # the group's counters sit in every parameter's state
  skipped = int(counters["total_notfinite"])
  inner_steps = int(counters["inner_state.scale_by_adam.count"])
  print(f"apply_if_finite(adam): skipped {skipped} step(s); adam ran {inner_steps} of {args.steps} steps; "
        f"max |param difference| vs a run without the bad batch: {max_diff(guarded, expected):.3g}")

  multi = copy.deepcopy(model)
  optimizer = torch_bridge.FunctionalOptimizer(
      multi.parameters(), fo.MultiSteps(fo.adam(1e-2), every_k_schedule=1, should_skip_update_fn=fo.skip_not_finite))
  train(multi, optimizer, corrupted)
  print(f"MultiSteps(adam, 1, skip_not_finite): max |param difference| vs a run without the bad batch: "
        f"{max_diff(multi, expected):.3g}")

  assert not all(torch.isfinite(p).all().item() for p in plain.parameters())
  assert skipped == 1 and inner_steps == args.steps - 1, counters
  assert max_diff(guarded, expected) < 1e-6 and max_diff(multi, expected) < 1e-6


if __name__ == "__main__":
  main()
