"""One large AdamW step, bridge vs torch fused: achieved bandwidth and XLA's kernels per step.

    python -m benchmarks.big_step --device cuda                  # 1B parameters in 16 tensors
    python -m benchmarks.big_step --device cpu --params 4e6      # a small smoke run

AdamW must read p, g, m, v and write p, m, v: 28 bytes per fp32 parameter, so
`28 * params / step time` is the bandwidth a step achieves; the GPU's peak is the
ceiling. The bridge's compiled program is read back as optimized HLO, and the
instructions of its entry computation that launch work (fusions, copies, custom
calls, ...) are counted: on GPU each is about one kernel per step.
Steps of both optimizers alternate, so a disturbance hits both alike. Writes JSON
to --out (default: stdout only).
"""

import argparse
import json
import pathlib
import re
import statistics
import sys
import time

BYTES_PER_PARAM = 28  # AdamW, fp32: read p, g, m, v; write p, m, v
# Entry-computation instructions that move no data and launch nothing.
_FREE_OPS = {"parameter", "tuple", "get-tuple-element", "bitcast", "constant", "after-all", "partition-id",
             "replica-id"}


def launched_ops(hlo_text: str) -> dict[str, int]:
  """`{opcode: count}` of the work-launching instructions in an optimized HLO module's ENTRY."""
  entry = re.search(r"^ENTRY .*?\{\n(.*?)^\}", hlo_text, re.S | re.M)
  if entry is None:
    return {}
  counts: dict[str, int] = {}
  for line in entry.group(1).splitlines():
    match = re.search(r"=\s*\S+\s+([a-z][a-z0-9-]*)\(", line)
    if match and match.group(1) not in _FREE_OPS:
      counts[match.group(1)] = counts.get(match.group(1), 0) + 1
  return counts


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
  parser.add_argument("--params", type=float, default=1e9, help="total parameters (default 1e9)")
  parser.add_argument("--tensors", type=int, default=16, help="how many equal tensors hold them (default 16)")
  parser.add_argument("--repeats", type=int, default=10)
  parser.add_argument("--out", type=pathlib.Path, default=None, help="JSON file to write")
  args = parser.parse_args(argv)
  import torch

  import torch_bridge
  if args.device == "cuda":
    from .system import cuda_unavailable_reason
    reason = cuda_unavailable_reason()
    if reason is not None:
      print(f"big_step --device cuda cannot run: {reason}", file=sys.stderr)
      return 2
  device = torch.device(args.device)
  size = int(args.params) // args.tensors
  total = size * args.tensors

  def sync():
    if device.type == "cuda":
      torch.cuda.synchronize()

  def build(kind):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(size, device=device)) for _ in range(args.tensors)]
    grads = [torch.randn(size, device=device) * 1e-3 for _ in range(args.tensors)]
    if kind == "torch-fused":
      opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=True)
    else:
      opt = torch_bridge.AdamW(params, lr=1e-3, weight_decay=0.01)
    for p, g in zip(params, grads):
      p.grad = g
    sync()
    start = time.perf_counter()
    opt.step()
    sync()
    return opt, time.perf_counter() - start

  results = {"device": args.device, "params": total, "tensors": args.tensors, "bytes_per_param": BYTES_PER_PARAM}
  if device.type == "cuda":
    results["gpu"] = torch.cuda.get_device_name()
  runs = {}
  for kind in ("torch-fused", "bridge"):
    opt, first = build(kind)
    runs[kind] = {"opt": opt, "first_step_s": first, "step_s": []}
  for _ in range(args.repeats):
    for kind, run in runs.items():
      sync()
      start = time.perf_counter()
      run["opt"].step()
      sync()
      run["step_s"].append(time.perf_counter() - start)
  for kind, run in runs.items():
    median = statistics.median(run["step_s"])
    results[kind] = {"median_s": median, "min_s": min(run["step_s"]), "first_step_s": run["first_step_s"],
                     "achieved_gbs": BYTES_PER_PARAM * total / median / 1e9}
  compiled = [c for c, _ in runs["bridge"]["opt"]._compiled.values()]
  common = compiled[0]  # compiled first: the all-common variant (every parameter has a gradient and state)
  ops = launched_ops(common.as_text())
  results["bridge"]["xla_launched_ops"] = ops
  results["bridge"]["xla_launched_ops_total"] = sum(ops.values())
  if device.type == "cuda":
    results["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
  results["bridge_over_torch_fused"] = results["bridge"]["median_s"] / results["torch-fused"]["median_s"]
  text = json.dumps(results, indent=2)
  print(text)
  if args.out is not None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
