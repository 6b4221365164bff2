"""Tables (terminal and markdown), the results file and the plot, from the measured cells."""

import json
import pathlib
from collections.abc import Sequence
from typing import Any, Optional

from .implementations import TORCH_REFERENCE_ORDER
from .timing import Cell

FOCUS_ALGORITHM = "adamw"  # first-step and memory tables: the algorithm the targets are set on


def attach_torch_ratios(cells: Sequence[Cell]) -> None:
  """Sets each cell's ratio to torch fused of the same workload and algorithm (foreach when fused is absent)."""
  by_key = {(c.workload, c.algorithm, c.impl): c for c in cells}
  for cell in cells:
    for reference in TORCH_REFERENCE_ORDER:
      ref = by_key.get((cell.workload, cell.algorithm, reference))
      if ref is not None:
        cell.ratio_torch, cell.reference_impl = cell.median_s / ref.median_s, reference
        break


def _layout(cells: Sequence[Cell], workloads: Sequence[str], algorithms: Sequence[str], impls: Sequence[str]):
  by_key = {(c.workload, c.algorithm, c.impl): c for c in cells}
  rows = [(w, a) for w in workloads for a in algorithms if any((w, a, i) in by_key for i in impls)]
  return by_key, rows


def _ms(seconds: float) -> str:
  ms = seconds * 1e3
  return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _ratio(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def _floor(by_key, workload, algorithm, impls) -> str:
  floors = [by_key[(workload, algorithm, i)].floor_s for i in impls if (workload, algorithm, i) in by_key]
  return _ms(sum(floors) / len(floors)) if floors else "-"


def _grid(header: list[str], body: list[list[str]]) -> str:
  """A fixed-width text table."""
  widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
  lines = ["  ".join(cell.rjust(width) if i >= 2 else cell.ljust(width)
                     for i, (cell, width) in enumerate(zip(row, widths))) for row in [header, *body]]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def _markdown(header: list[str], body: list[list[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(row) + " |" for row in body]
  return "\n".join(lines)


def _step_rows(cells, workloads, algorithms, impls):
  by_key, rows = _layout(cells, workloads, algorithms, impls)
  body = []
  for w, a in rows:
    row = [w, a, _floor(by_key, w, a, impls)]
    for i in impls:
      c = by_key.get((w, a, i))
      row.append("-" if c is None else f"{_ms(c.median_s)} ({_ratio(c.ratio_floor)})")
    body.append(row)
  return ["workload", "algorithm", "floor ms (mean)", *impls], body


def _torch_ratio_rows(cells, workloads, algorithms, impls):
  by_key, rows = _layout(cells, workloads, algorithms, impls)
  body = [[w, a, *(_ratio(by_key[(w, a, i)].ratio_torch) if (w, a, i) in by_key else "-" for i in impls)]
          for w, a in rows]
  return ["workload", "algorithm", *impls], body


def _spread_rows(cells, workloads, algorithms, impls):
  by_key, rows = _layout(cells, workloads, algorithms, impls)
  body = [[w, a, *(f"{by_key[(w, a, i)].max_over_median:.1f}" if (w, a, i) in by_key else "-" for i in impls)]
          for w, a in rows]
  return ["workload", "algorithm", *impls], body


def _first_step_rows(cells, workloads, impls):
  by_key = {(c.workload, c.algorithm, c.impl): c for c in cells}
  body = []
  for w in workloads:
    values = [by_key.get((w, FOCUS_ALGORITHM, i)) for i in impls]
    if any(values):
      body.append([w, *("-" if c is None else f"{c.first_step_s:.2f}" for c in values)])
  return ["workload", *impls], body


def _memory_rows(memory, workloads, impls):
  by_key = {(m["workload"], m["impl"]): m for m in memory}
  body = []
  for w in workloads:
    row = [w]
    for i in impls:
      m = by_key.get((w, i))
      if m is None:
        row.append("-")
      elif "error" in m:
        row.append("error")
      else:
        steady = "" if m["steady_ratio"] is None else f" ({m['steady_ratio']:.2f})"
        row.append(f"{m['peak_ratio']:.2f}{steady}")
    if len(row) > 1 and any(v != "-" for v in row[1:]):
      body.append(row)
  return ["workload", *impls], body


def _recompile_rows(recompiles):
  impls = list(dict.fromkeys(r["impl"] for r in recompiles))
  algorithms = list(dict.fromkeys(r["algorithm"] for r in recompiles))
  by_key = {(r["algorithm"], r["impl"]): r for r in recompiles}
  body = [[a, *(str(by_key[(a, i)]["compiles"]) if (a, i) in by_key else "-" for i in impls)] for a in algorithms]
  return ["algorithm", *impls], body


def _checkpoint_rows(checkpoints):
  body = []
  for c in checkpoints:
    for call in ("state_dict", "load_state_dict"):
      body.append([c["algorithm"], f"`{call}()`", _ms(c[f"torch_{call}_s"]), _ms(c[f"bridge_{call}_s"]),
                   f"{c[f'{call}_ratio']:.2f}x"])
  return ["algorithm", "call", "torch.optim ms", "bridge ms", "bridge / torch.optim"], body


def _sections(results: dict[str, Any], cells: Sequence[Cell], render) -> list[str]:
  """The report's sections, each rendered by `render(header, body)`."""
  settings = results["settings"]
  workloads, algorithms, impls = settings["workloads"], settings["algorithms"], settings["impls"]
  contention = settings.get("contention")
  under = f", with one core kept busy by another process ({contention})" if contention else ""
  out = [
      f"Step time, ms (median of {settings['repeats']} steps after {1 + settings['warmup']} warm-up{under}), "
      "and its ratio to the bandwidth floor",
      render(*_step_rows(cells, workloads, algorithms, impls)),
      "Step time / torch fused step time (same workload and algorithm)",
      render(*_torch_ratio_rows(cells, workloads, algorithms, impls)),
  ]
  if contention:
    out += ["Slowest timed step / median step", render(*_spread_rows(cells, workloads, algorithms, impls))]
  first = _first_step_rows(cells, workloads, impls)
  if first[1]:
    out += [f"First step, s (compilation included), {FOCUS_ALGORITHM}", render(*first)]
  memory = results.get("memory") or []
  if memory:
    algorithm = memory[0]["algorithm"]
    out += [f"Peak memory / (parameters + gradients + state), {algorithm}: whole run (steady state)",
            render(*_memory_rows(memory, workloads, impls))]
  recompiles = results.get("recompiles") or []
  if recompiles:
    out += ["XLA compilations after warm-up while lr, weight_decay (and, bridge only, which p.grad are None) "
            "change", render(*_recompile_rows(recompiles))]
  checkpoints = results.get("checkpoints") or []
  if checkpoints:
    c = checkpoints[0]
    out += [f"Checkpoints at {c['params']} parameters ({c['workload']}; median of {settings['repeats']} calls, "
            "loading torch.optim's own state_dict())", render(*_checkpoint_rows(checkpoints))]
  late = [c for c in cells if c.later_compiles]
  if late:
    out += ["Compiled again after the first step (should not): " +
            ", ".join(f"{c.impl} {c.workload} {c.algorithm} ({c.later_compiles}x)" for c in late)]
  return out


def _machine_line(results: dict[str, Any]) -> str:
  m = results["machine"]
  bandwidths = [b for c in results["cells"] for b in (c["bandwidth_before"][0], c["bandwidth_after"][0])]
  span = f"{min(bandwidths):.1f}-{max(bandwidths):.1f} GB/s" if bandwidths else "not probed"
  load = m["load_average_at_start"][0]
  return (f"{m['cpu_model']}, {m['cpus_usable']} CPUs ({m['device']}); torch {m['torch']}, jax {m['jax']}, "
          f"optax {m['optax']}; memory bandwidth probed {span}; load average {load:.1f} at the start; "
          f"run took {results['wall_s']:.0f} s")


def text_report(results: dict[str, Any], cells: Sequence[Cell]) -> str:
  parts = _sections(results, cells, _grid)
  return "\n\n".join([*parts, _machine_line(results)])


def markdown_report(results: dict[str, Any], cells: Sequence[Cell]) -> str:
  parts = _sections(results, cells, _markdown)
  titled = [f"**{p}**" if not p.startswith("|") else p for p in parts]
  floor_note = ("Floor: bytes one step must move (SGD-momentum 20 B/parameter, Adam/AdamW 28 B, "
                "clip + AdamW 32 B, fp32) / memory bandwidth probed just before and after each measurement.")
  return "\n\n".join([*titled, floor_note, _machine_line(results)]) + "\n"


def write_json(path: pathlib.Path, results: dict[str, Any]) -> None:
  path.write_text(json.dumps(results, indent=1) + "\n")


def plot(path: pathlib.Path, cells: Sequence[Cell], settings: dict[str, Any]) -> None:
  """Bars of step time / floor: one panel per workload, a group per algorithm, a bar per implementation."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  by_key = {(c.workload, c.algorithm, c.impl): c for c in cells}
  workloads = [w for w in settings["workloads"] if any(k[0] == w for k in by_key)]
  algorithms, impls = settings["algorithms"], settings["impls"]
  columns = min(3, len(workloads))
  rows = -(-len(workloads) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), sharey=True, squeeze=False)
  axes = axes.ravel()
  for ax in axes[len(workloads):]:
    ax.set_visible(False)
  width = 0.8 / len(impls)
  colors = plt.get_cmap("tab10").colors
  for ax, workload in zip(axes, workloads):
    for j, impl in enumerate(impls):
      xs, ys = [], []
      for k, algorithm in enumerate(algorithms):
        cell = by_key.get((workload, algorithm, impl))
        if cell is not None:
          xs.append(k + (j - (len(impls) - 1) / 2) * width)
          ys.append(cell.ratio_floor)
      ax.bar(xs, ys, width, label=impl, color=colors[j % len(colors)])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_title(workload)
    ax.set_xticks(range(len(algorithms)), algorithms, rotation=30, ha="right", fontsize=8)
  for ax in axes[::columns]:
    ax.set_ylabel("step time / bandwidth floor")
  axes[0].legend(fontsize=7, loc="upper left")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
