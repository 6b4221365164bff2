"""Runs cases of distributed_cases in 2 spawned gloo processes, bounded in time."""

import multiprocessing
import queue
import socket
import sys
import time

WORLD_SIZE = 2


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_cases(names, timeout=600.0, *, swap_state=False) -> dict:
  """`{case: result}` from rank 0; a hang or crash kills both processes and raises.

  `swap_state`: every state buffer takes the step's output memory (see torch_bridge._store).
  """
  import distributed_cases

  context = multiprocessing.get_context("spawn")
  results = context.Queue()
  port = free_port()
  processes = [
      context.Process(target=distributed_cases.run_group, args=(rank, WORLD_SIZE, port, list(names), results, swap_state))
      for rank in range(WORLD_SIZE)
  ]
  for p in processes:
    p.start()
  report, deadline = None, time.monotonic() + timeout
  while report is None and time.monotonic() < deadline:
    try:
      report = results.get(timeout=1.0)
    except queue.Empty:
      if any(p.exitcode not in (None, 0) for p in processes):  # a crashed rank: stop waiting
        break
  for p in processes:
    p.join(timeout=30 if report is not None else 0)  # (no report in time: kill them now)
  for p in processes:
    if p.is_alive():
      p.kill()
      p.join()
  codes = [p.exitcode for p in processes]
  if report is None or any(codes):
    raise RuntimeError(f"distributed cases {names} did not finish: exit codes {codes}, report {report}")
  return report


if __name__ == "__main__":
  import os
  sys.path[:0] = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
  for name, result in run_cases(sys.argv[1:]).items():
    print(name, result[:2] if result[0] == "error" else result)
    if result[0] == "error" and "-v" in os.environ.get("DIST_VERBOSE", ""):
      print(result[2])
