"""How many of torch's CPU threads the bridge's own copies use.

The bridge's host work is memory copies: gathering gradients (`torch.cat`),
writing new values back (`_foreach_copy_`), the state copy-back. On CPU, torch
runs each copy above 32K elements as an OpenMP parallel region with a static split
over all its threads, and the copy ends when the slowest thread's share does. When
another process keeps a core busy (DataLoader workers, XLA's pool spinning down),
one thread waits for a time slice in every region: measured on 2 cores with one
kept busy, 200 copies of 80K values took 150-4500 ms with 2 threads and 26-73 ms
with 1. Memory bandwidth saturates with few threads, so half of them lose little.

`fewer_copy_threads()` lowers torch's thread count for the calling thread while the
bridge copies and restores it afterwards (~1.5 us a switch). OpenMP's count is
per thread, so other threads running torch meanwhile keep theirs. One lasting
effect: `torch.set_num_threads` also calls `mkl_set_dynamic(false)`, as it does
whenever a program sets torch's thread count.
"""

import contextlib

import torch


@contextlib.contextmanager
def fewer_copy_threads():
  """Half of torch's CPU threads (at least one) for the copies inside the block."""
  threads = torch.get_num_threads()
  fewer = max(1, threads // 2)
  if fewer == threads:
    yield
    return
  torch.set_num_threads(fewer)
  try:
    yield
  finally:
    torch.set_num_threads(threads)
