"""Runs a torch_bridge drop-in beside its torch.optim twin and compares them.

`assert_matches_torch` trains two copies of a small model with several parameter
shapes on the same batches, comparing parameters after every step and the whole
`state_dict()` at the end; at `swap_at` it saves each optimizer's state with
`torch.save`, loads it with `torch.load(weights_only=True)` into the *other*
one, and both continue, so checkpoint interchange is exercised both ways.
"""

import copy
import io
from typing import Optional

import jax
import torch

import torch_bridge

RTOL, ATOL = 2e-5, 2e-6


class TinyNet(torch.nn.Module):
  """Parameters of rank 0 to 3: a scale, a bias, a matrix and a 3-d kernel."""

  def __init__(self, seed: int, dtype=torch.float32):
    super().__init__()
    g = torch.Generator().manual_seed(seed)
    self.kernel = torch.nn.Parameter(torch.randn(2, 5, 4, generator=g, dtype=dtype) * 0.5)
    self.matrix = torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=dtype) * 0.5)
    self.bias = torch.nn.Parameter(torch.randn(3, generator=g, dtype=dtype) * 0.1)
    self.scale = torch.nn.Parameter(torch.tensor(1.0, dtype=dtype))

  def forward(self, x):
    h = torch.tanh(torch.einsum("bi,kji->bkj", x, self.kernel)).sum(1)
    return self.scale * (h @ self.matrix + self.bias)


def batches(seed: int, num_steps: int, dtype=torch.float32):
  g = torch.Generator().manual_seed(seed)
  return [(torch.randn(5, 4, generator=g, dtype=dtype), torch.randn(5, 3, generator=g, dtype=dtype))
          for _ in range(num_steps)]


def _step(model, optimizer, x, y, drop_grad: Optional[str] = None):
  optimizer.zero_grad()
  ((model(x) - y) ** 2).mean().backward()
  if drop_grad is not None:
    getattr(model, drop_grad).grad = None
  optimizer.step()


def _saved(optimizer):
  buffer = io.BytesIO()
  torch.save(optimizer.state_dict(), buffer)
  buffer.seek(0)
  return torch.load(buffer, weights_only=True)


def assert_state_dicts_close(ours, theirs, rtol=RTOL, atol=ATOL):
  assert ours["param_groups"] == theirs["param_groups"]
  assert set(ours["state"]) == set(theirs["state"]), (set(ours["state"]), set(theirs["state"]))
  for index, their_entry in theirs["state"].items():
    our_entry = ours["state"][index]
    assert set(our_entry) == set(their_entry), (index, sorted(our_entry), sorted(their_entry))
    for key, their_value in their_entry.items():
      our_value = our_entry[key]
      if isinstance(their_value, torch.Tensor):
        assert our_value.dtype == their_value.dtype, (index, key, our_value.dtype, their_value.dtype)
        torch.testing.assert_close(our_value, their_value, rtol=rtol, atol=atol, msg=f"state[{index}][{key}]")
      else:
        assert our_value == their_value, (index, key)


def assert_matches_torch(
    name: str,
    kwargs: dict,
    *,
    seed: int = 0,
    num_steps: int = 10,
    swap_at: Optional[int] = None,
    drop_grad_at: Optional[int] = None,
    dtype=torch.float32,
    rtol: float = RTOL,
    atol: float = ATOL,
    state_tolerance: Optional[dict] = None,
):
  """Trains `torch.optim.<name>` and `torch_bridge.<name>` side by side and compares.

  Parameters are compared at `rtol`/`atol` after every step; the state dicts at
  `state_tolerance` (a named flag of the caller's) when given, else at the same.
  """
  state_tolerance = state_tolerance or dict(rtol=rtol, atol=atol)
  theirs_model, ours_model = TinyNet(seed, dtype), TinyNet(seed, dtype)
  theirs = getattr(torch.optim, name)(theirs_model.parameters(), **kwargs)
  ours = getattr(torch_bridge, name)(ours_model.parameters(), **kwargs)
  for t, (x, y) in enumerate(batches(seed + 1, num_steps, dtype)):
    if t == swap_at:  # each continues from the other's checkpoint
      assert_state_dicts_close(ours.state_dict(), theirs.state_dict(), **state_tolerance)
      our_checkpoint, their_checkpoint = _saved(ours), _saved(theirs)
      ours.load_state_dict(their_checkpoint)
      theirs.load_state_dict(our_checkpoint)
    drop = "bias" if t == drop_grad_at else None
    _step(theirs_model, theirs, x, y, drop)
    _step(ours_model, ours, x, y, drop)
    for (pname, a), b in zip(ours_model.named_parameters(), theirs_model.parameters()):
      torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=f"{name} step {t} {pname}")
  assert_state_dicts_close(ours.state_dict(), theirs.state_dict(), **state_tolerance)


class CompileCounter:
  """Counts XLA compilations while active: `with CompileCounter() as c: ...; c.count`."""

  EVENT = "/jax/core/compile/backend_compile_duration"

  def __init__(self):
    self.count = 0

  def _listener(self, event, duration, **kwargs):
    del duration, kwargs
    if event == self.EVENT:
      self.count += 1

  def __enter__(self):
    jax.monitoring.register_event_duration_secs_listener(self._listener)
    return self

  def __exit__(self, *exc):
    jax.monitoring.unregister_event_duration_listener(self._listener)


# Exact comparisons, for tests that assert nothing changed (errors, faults).

def state_dict_copy(opt):
  return copy.deepcopy(opt.state_dict())


def assert_state_dicts_equal(a, b):
  assert set(a) == set(b)
  assert len(a["param_groups"]) == len(b["param_groups"])
  for ga, gb in zip(a["param_groups"], b["param_groups"]):
    assert set(ga) == set(gb)
    for key in ga:
      assert ga[key] == gb[key], key
  assert set(a["state"]) == set(b["state"])
  for index in a["state"]:
    assert_entries_equal(a["state"][index], b["state"][index])


def assert_entries_equal(a, b):
  assert set(a) == set(b)
  for key, value in a.items():
    if isinstance(value, torch.Tensor):
      assert value.dtype == b[key].dtype and torch.equal(value, b[key]), key
    else:
      assert value == b[key], key
