"""torch_bridge on CUDA tensors: parity with torch.optim, stream ordering, memory kept in place.

Marked `gpu`: they run where torch sees a CUDA device and jax has a GPU backend
(`pip install 'functional-optim[cuda12]'` next to a CUDA torch; `bash scripts/gpu_check.sh`)
and are skipped elsewhere.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import torch_bridge


def _cuda_unavailable_reason():
  if not torch.cuda.is_available():
    return f"torch {torch.__version__} sees no CUDA device"
  import jax
  try:
    jax.devices("cuda")
  except RuntimeError as error:
    return f"jax {jax.__version__} has no CUDA backend ({error})"
  return None


_REASON = _cuda_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=str(_REASON))]

SHAPES = ((7, 5), (3,), (2, 3, 4), (), (1000,))
# XLA:GPU and torch's CUDA kernels may contract a*b+c into one FMA differently: a few ulps.
RTOL, ATOL = 1e-5, 1e-6


def _params(seed, device="cuda"):
  g = torch.Generator().manual_seed(seed)
  return [torch.nn.Parameter(torch.randn(s, generator=g).to(device)) for s in SHAPES]


def _grads(seed, steps):
  g = torch.Generator().manual_seed(seed)
  return [[torch.randn(s, generator=g).cuda() for s in SHAPES] for _ in range(steps)]


def _run_pair(ours_cls, theirs_cls, kwargs, seed, steps=4):
  ours_params, theirs_params = _params(seed), _params(seed)
  ours = ours_cls(ours_params, **kwargs)
  theirs = theirs_cls(theirs_params, foreach=False, **kwargs)
  pointers = [p.data_ptr() for p in ours_params]
  for grads in _grads(seed + 1, steps):
    for opt, params in ((ours, ours_params), (theirs, theirs_params)):
      for p, g in zip(params, grads):
        p.grad = g.clone()
      opt.step()
  torch.cuda.synchronize()
  return ours, ours_params, theirs, theirs_params, pointers


@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 1e-1), weight_decay=st.floats(0.0, 0.1),
       amsgrad=st.booleans())
def test_adamw_matches_torch_on_cuda(seed, lr, weight_decay, amsgrad):
  kwargs = dict(lr=lr, weight_decay=weight_decay, amsgrad=amsgrad)
  ours, ours_params, theirs, theirs_params, pointers = _run_pair(
      torch_bridge.AdamW, torch.optim.AdamW, kwargs, seed)
  for a, b in zip(ours_params, theirs_params):
    torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
  for p_ours, p_theirs in zip(ours_params, theirs_params):
    for name, value in theirs.state[p_theirs].items():
      torch.testing.assert_close(ours.state[p_ours][name].cpu().to(value.dtype), value.cpu(), rtol=RTOL, atol=ATOL)
  assert [p.data_ptr() for p in ours_params] == pointers


@given(seed=st.integers(0, 2**16), lr=st.floats(1e-4, 1e-1), momentum=st.floats(0.0, 0.99),
       nesterov=st.booleans())
def test_sgd_matches_torch_on_cuda(seed, lr, momentum, nesterov):
  kwargs = dict(lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
  _, ours_params, _, theirs_params, pointers = _run_pair(torch_bridge.SGD, torch.optim.SGD, kwargs, seed)
  for a, b in zip(ours_params, theirs_params):
    torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)
  assert [p.data_ptr() for p in ours_params] == pointers


def test_steps_on_a_non_default_stream_see_its_gradients_and_leave_results_for_it():
  """Gradients are written on a side stream right before the step, with a long kernel in front.

  If JAX did not wait for torch's current stream, it would read the gradients
  before they were written; if torch did not wait for JAX, the reads right after
  the step on the same stream would see old values.
  """
  stream = torch.cuda.Stream()
  ours_params, theirs_params = _params(0), _params(0)
  ours = torch_bridge.AdamW(ours_params, lr=0.01, weight_decay=0.01)
  theirs = torch.optim.AdamW(theirs_params, lr=0.01, weight_decay=0.01, foreach=False)
  big = torch.randn(4096, 4096, device="cuda")
  for step in range(3):
    grads = _grads(10 + step, 1)[0]
    torch.cuda.synchronize()
    with torch.cuda.stream(stream):
      slow = big
      for _ in range(20):  # keeps the stream busy before the gradients are written
        slow = slow @ big / 4096
      for p, g in zip(ours_params, grads):
        p.grad = torch.empty_like(p)
        p.grad.copy_(g + 0 * slow[0, 0])  # written only after the long kernels
      ours.step()
      seen = [p.detach().clone() for p in ours_params]  # on the stream, right after the step
    for p, g in zip(theirs_params, grads):
      p.grad = g.clone()
    theirs.step()
    torch.cuda.synchronize()
    for a, b in zip(seen, theirs_params):
      torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


def test_parameters_and_state_stay_in_place_across_steps_and_checkpoints():
  params = _params(3)
  pointers = [p.data_ptr() for p in params]
  opt = torch_bridge.AdamW(params, lr=0.01)
  for grads in _grads(4, 2):
    for p, g in zip(params, grads):
      p.grad = g
    opt.step()
  state_pointers = {name: t.data_ptr() for name, t in opt.state[params[0]].items()}
  opt.load_state_dict(opt.state_dict())
  for p, g in zip(params, _grads(5, 1)[0]):
    p.grad = g
  opt.step()
  torch.cuda.synchronize()
  assert [p.data_ptr() for p in params] == pointers
  assert all(p.device.type == "cuda" for p in params)
  assert {name: t.data_ptr() for name, t in opt.state[params[0]].items()} == state_pointers
  assert opt.state[params[0]]["exp_avg"].device.type == "cuda"
