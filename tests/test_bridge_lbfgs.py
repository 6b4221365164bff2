"""The LBFGS drop-in against torch.optim.LBFGS: the same bits, the same checkpoints.

The drop-in does torch's arithmetic in torch's order, so parameters, losses and
the whole state (including which scalars are Python numbers and which are 0-d
tensors) must be *equal* to torch's, not just close.
"""

import inspect
import io

import pytest
import torch
from hypothesis import given, strategies as st

from dropin_harness import TinyNet, batches
from torch_bridge._lbfgs import LBFGS

NUM_STEPS = 10


def _saved(optimizer):
  buffer = io.BytesIO()
  torch.save(optimizer.state_dict(), buffer)
  buffer.seek(0)
  return torch.load(buffer, weights_only=True)


def assert_identical(ours, theirs, where="state_dict"):
  """Equal values of equal types, recursively (tensors: equal dtype, shape and bits)."""
  assert type(ours) is type(theirs), (where, type(ours), type(theirs))
  if isinstance(theirs, torch.Tensor):
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
    assert torch.equal(ours, theirs), where
  elif isinstance(theirs, dict):
    assert list(ours) == list(theirs), (where, list(ours), list(theirs))
    for key in theirs:
      assert_identical(ours[key], theirs[key], f"{where}[{key!r}]")
  elif isinstance(theirs, (list, tuple)):
    assert len(ours) == len(theirs), where
    for i, (a, b) in enumerate(zip(ours, theirs)):
      assert_identical(a, b, f"{where}[{i}]")
  else:
    assert ours == theirs, (where, ours, theirs)


def _closure(model, optimizer, x, y):
  def closure():
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    return loss

  return closure


options = st.fixed_dictionaries(
    dict(
        lr=st.sampled_from([1, 0.5, 0.1]),
        max_iter=st.integers(1, 6),
        history_size=st.integers(1, 8),
        line_search_fn=st.sampled_from([None, "strong_wolfe"]),
        tolerance_change=st.sampled_from([1e-9, 1e-5]),
    ),
    optional=dict(max_eval=st.integers(1, 10), tolerance_grad=st.sampled_from([1e-7, 1e-3])),
)


@given(kwargs=options, seed=st.integers(0, 100), swap_at=st.sampled_from([None, 3, 6]),
       full_batch=st.booleans())
def test_matches_torch_with_checkpoint_interchange(kwargs, seed, swap_at, full_batch):
  theirs_model, ours_model = TinyNet(seed), TinyNet(seed)
  theirs = torch.optim.LBFGS(theirs_model.parameters(), **kwargs)
  ours = LBFGS(ours_model.parameters(), **kwargs)
  data = batches(seed + 1, NUM_STEPS)
  for t in range(NUM_STEPS):
    if t == swap_at:  # each continues from the other's checkpoint
      assert_identical(ours.state_dict(), theirs.state_dict())
      our_checkpoint, their_checkpoint = _saved(ours), _saved(theirs)
      ours.load_state_dict(their_checkpoint)
      theirs.load_state_dict(our_checkpoint)
    x, y = data[0 if full_batch else t]
    their_loss = theirs.step(_closure(theirs_model, theirs, x, y))
    our_loss = ours.step(_closure(ours_model, ours, x, y))
    assert_identical(our_loss, their_loss, f"loss at step {t}")
    for (name, a), b in zip(ours_model.named_parameters(), theirs_model.parameters()):
      assert torch.equal(a, b), f"step {t} {name}"
  assert_identical(ours.state_dict(), theirs.state_dict())
  assert_identical(dict(ours.state[ours_model.kernel]), dict(theirs.state[theirs_model.kernel]), "state")


def test_complex_and_sparse_gradients():
  g = torch.Generator().manual_seed(0)
  target = torch.randn(3, generator=g, dtype=torch.complex64)
  indices = torch.tensor([0, 2, 2])
  runs = []
  for cls in (torch.optim.LBFGS, LBFGS):
    z = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    embedding = torch.nn.Embedding(4, 2, sparse=True)
    with torch.no_grad():
      embedding.weight.copy_(torch.arange(8.0).reshape(4, 2) / 8)
    optimizer = cls([z, embedding.weight], line_search_fn="strong_wolfe", max_iter=5)

    def closure():
      optimizer.zero_grad()
      loss = (z - target).abs().pow(2).sum() + (embedding(indices) - 1).pow(2).sum()
      loss.backward()
      return loss

    for _ in range(3):
      optimizer.step(closure)
    runs.append((z.detach().clone(), embedding.weight.detach().clone(), optimizer.state_dict()))
  assert_identical(runs[1], runs[0], "complex and sparse")


def test_parameters_keep_their_storage():
  model = TinyNet(0)
  optimizer = LBFGS(model.parameters(), max_iter=3)
  pointers = [p.data_ptr() for p in model.parameters()]
  x, y = batches(1, 1)[0]
  optimizer.step(_closure(model, optimizer, x, y))
  assert [p.data_ptr() for p in model.parameters()] == pointers


def test_is_a_torch_optimizer_with_torchs_param_group():
  model = TinyNet(0)
  ours = LBFGS(model.parameters(), lr=0.5, history_size=7)
  theirs = torch.optim.LBFGS(model.parameters(), lr=0.5, history_size=7)
  assert isinstance(ours, torch.optim.Optimizer)
  assert_identical(ours.state_dict(), theirs.state_dict())


@pytest.mark.parametrize("make, error, message", [
    (lambda cls, ps: cls(ps, lr=-1.0), ValueError, "Invalid learning rate"),
    (lambda cls, ps: cls(ps, lr=torch.tensor([1.0, 2.0])), ValueError, "Tensor lr must be 1-element"),
    (lambda cls, ps: cls([{"params": ps[:1]}, {"params": ps[1:]}]), ValueError, "parameter groups"),
])
def test_invalid_arguments_raise_torchs_errors(make, error, message):
  for cls in (torch.optim.LBFGS, LBFGS):
    with pytest.raises(error, match=message):
      make(cls, list(TinyNet(0).parameters()))


def test_unknown_line_search_raises_torchs_error_at_step():
  for cls in (torch.optim.LBFGS, LBFGS):
    model = TinyNet(0)
    optimizer = cls(model.parameters(), line_search_fn="backtracking")
    x, y = batches(1, 1)[0]
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
      optimizer.step(_closure(model, optimizer, x, y))


def test_signature_and_defaults_match_torch():
  ours = inspect.signature(LBFGS.__init__).parameters
  theirs = inspect.signature(torch.optim.LBFGS.__init__).parameters
  assert list(ours) == list(theirs)
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, arg
    assert ours[arg].default == theirs[arg].default, arg
  assert list(inspect.signature(LBFGS.step).parameters) == ["self", "closure"]
