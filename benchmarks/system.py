"""The machine under the benchmark: allocator priming, memory bandwidth, facts, compiles.

Nothing here imports torch or jax at module level, so `prime_allocator` can run
before either library allocates anything.
"""

import ctypes
import os
import platform
import sys
import time
from typing import Any, Optional

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_PRIMED_BYTES = 2**30


def prime_allocator() -> dict[str, Any]:
  """Makes glibc keep and reuse freed memory, as it ends up doing in a long training run.

  By default glibc serves every allocation above its mmap threshold (128 KiB at
  start, raised dynamically up to 32 MiB) with a fresh `mmap` and returns it with
  `munmap` on free; the heap top is trimmed back to the OS above 128 KiB. A
  benchmark that allocates and frees a 64 MB temporary every step then pays ~16K
  page faults per step for memory a real training process would have recycled:
  after many steps of big, steady allocations, its heap holds that memory. Raising
  both thresholds to 1 GiB gives every implementation that steady state from the
  first step (torch's for-loop optimizers look ~2x slower without it). Applied once,
  before torch or jax allocate, and to every implementation alike.

  Returns:
    What was set, for the results file; `{"applied": False, ...}` off glibc.
  """
  try:
    libc = ctypes.CDLL("libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError) as error:
    return {"applied": False, "reason": f"no glibc mallopt: {error}"}
  ok_mmap = bool(mallopt(_M_MMAP_THRESHOLD, _PRIMED_BYTES))
  ok_trim = bool(mallopt(_M_TRIM_THRESHOLD, _PRIMED_BYTES))
  return {"applied": ok_mmap and ok_trim, "M_MMAP_THRESHOLD": _PRIMED_BYTES, "M_TRIM_THRESHOLD": _PRIMED_BYTES}


class Device:
  """Where the benchmark runs: `cpu` or `cuda`, for torch and jax alike."""

  def __init__(self, kind: str):
    if kind not in ("cpu", "cuda"):
      raise ValueError(f"device must be 'cpu' or 'cuda', got {kind!r}")
    self.kind = kind

  @property
  def torch(self):
    import torch
    return torch.device(self.kind)

  @property
  def jax(self):
    import jax
    return jax.devices("gpu" if self.kind == "cuda" else "cpu")[0]

  def sync_torch(self) -> None:
    if self.kind == "cuda":
      import torch
      torch.cuda.synchronize()


def cuda_unavailable_reason() -> Optional[str]:
  """Why `--device cuda` cannot run here, or None when torch and jax both see a GPU."""
  import torch
  if not torch.cuda.is_available():
    return f"torch {torch.__version__} sees no CUDA device"
  import jax
  try:
    jax.devices("gpu")
  except RuntimeError as error:
    return f"jax {jax.__version__} has no GPU backend ({error})"
  return None


class BandwidthProbe:
  """Memory bandwidth as an optimizer step sees it: in-place passes over two big buffers.

  An optimizer step writes only memory it has just read (p, m, v), so the probe
  does the same: `b += a` (reads a and b, writes b: 3 x size bytes) and `b *= s`
  (2 x size). A plain copy would understate the bandwidth: the CPU reads each
  destination line before writing it (write-allocate), so `copy_` moves three
  buffers' worth of bytes while counting two. Each `measure()` runs `samples`
  passes of each kernel; the floor uses the best, the least-disturbed pass on a
  shared machine (a step faster than the floor means the probe still understated).
  """

  def __init__(self, device: Device, megabytes: int = 256, samples: int = 2):
    import torch
    n = megabytes * 2**20 // 4
    self._device = device
    self._a = torch.full((n,), 1e-7, device=device.torch)
    self._b = torch.ones(n, device=device.torch)
    self._samples = samples
    self.measure()  # first touch of both buffers, not counted

  def _rate(self, kernel, bytes_moved: int) -> float:
    self._device.sync_torch()
    start = time.perf_counter()
    kernel()
    self._device.sync_torch()
    return bytes_moved / (time.perf_counter() - start) / 1e9

  def measure(self) -> list[float]:
    """GB/s of each pass, best first."""
    size = self._a.nbytes
    rates = []
    for _ in range(self._samples):
      rates.append(self._rate(lambda: self._b.add_(self._a), 3 * size))
      rates.append(self._rate(lambda: self._b.mul_(0.9999999), 2 * size))
    return sorted(rates, reverse=True)


class CompileCounter:
  """Counts XLA backend compilations through jax's public monitoring listeners.

  jax 0.10 records '/jax/core/compile/backend_compile_duration' once per program
  it compiles (a cache hit records nothing). Listeners cannot be removed, so one
  counter is registered per process and read as differences.
  """

  EVENT = "/jax/core/compile/backend_compile_duration"
  _instance: Optional["CompileCounter"] = None

  def __init__(self):
    self.count = 0

  @classmethod
  def get(cls) -> "CompileCounter":
    if cls._instance is None:
      import jax
      cls._instance = cls()
      jax.monitoring.register_event_duration_secs_listener(cls._instance._on_event)
    return cls._instance

  def _on_event(self, event: str, duration: float, **kwargs) -> None:
    del duration, kwargs
    if event == self.EVENT:
      self.count += 1


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def machine_facts(device: Device) -> dict[str, Any]:
  """CPU, versions and thread counts: what a reader needs to compare two results files."""
  import jax
  import jaxlib
  import numpy
  import torch
  facts = {
      "cpu_model": _cpu_model(),
      "cpu_count": os.cpu_count(),
      "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
      "torch_threads": torch.get_num_threads(),
      "platform": platform.platform(),
      "python": sys.version.split()[0],
      "libc": "-".join(platform.libc_ver()),
      "torch": torch.__version__,
      "jax": jax.__version__,
      "jaxlib": jaxlib.__version__,
      "numpy": numpy.__version__,
      "jax_devices": [str(d) for d in jax.devices()],
      "device": device.kind,
      "load_average": os.getloadavg(),
  }
  try:
    import optax
    facts["optax"] = optax.__version__
  except ImportError:
    facts["optax"] = None
  if device.kind == "cuda":
    facts["cuda_device"] = torch.cuda.get_device_name()
  return facts


class BusyCore:
  """Another process that keeps one CPU core busy, as DataLoader workers do.

  A context manager: the busy loop (a Python `while True: pass`) starts on entry
  and is killed on exit. `pinned=True` pins it to the last CPU this process may
  use, so it always competes with the same core; otherwise the OS moves it.
  `contention=None` makes it do nothing, so callers need no branch.
  """

  LOOP = "while True:\n  pass\n"

  def __init__(self, contention: Optional[str]):
    if contention not in (None, "free", "pinned"):
      raise ValueError(f"contention must be None, 'free' or 'pinned', got {contention!r}")
    self.contention = contention
    self._process = None

  def __enter__(self) -> "BusyCore":
    if self.contention is None:
      return self
    import subprocess
    code = self.LOOP
    if self.contention == "pinned" and hasattr(os, "sched_getaffinity"):
      cpu = max(os.sched_getaffinity(0))
      code = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n" + code
    self._process = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.2)  # until it runs: the loop must be competing before the first timed step
    if self._process.poll() is not None:
      raise RuntimeError(f"the busy-core process exited at once (code {self._process.returncode})")
    return self

  def __exit__(self, *exc_info) -> None:
    if self._process is not None:
      self._process.kill()
      self._process.wait()
      self._process = None
