"""The SparseAdam drop-in against torch.optim.SparseAdam, with nn.Embedding(sparse=True)."""

import inspect
import io

import pytest
import torch
from hypothesis import given, strategies as st

from dropin_harness import ATOL, RTOL, assert_state_dicts_close
from torch_bridge._sparse_adam import SparseAdam

NUM_STEPS = 10


class Embeddings(torch.nn.Module):
  """Two sparse embeddings feeding a fixed projection."""

  def __init__(self, seed: int):
    super().__init__()
    g = torch.Generator().manual_seed(seed)
    self.words = torch.nn.Embedding(7, 3, sparse=True)
    self.tags = torch.nn.Embedding(5, 3, sparse=True)
    with torch.no_grad():
      self.words.weight.copy_(torch.randn(7, 3, generator=g))
      self.tags.weight.copy_(torch.randn(5, 3, generator=g))
    self.register_buffer("projection", torch.randn(3, 2, generator=g))

  def forward(self, words, tags):
    hidden = torch.tanh(self.words(words).sum(1))
    if tags is not None:
      hidden = hidden + self.tags(tags)
    return hidden @ self.projection


def _batches(seed: int):
  """Index batches with repeated indices; some steps leave an embedding without a gradient
  (tags unused) or with an empty sparse gradient (no words)."""
  g = torch.Generator().manual_seed(seed)
  batches = []
  for t in range(NUM_STEPS):
    words = torch.randint(0, 7, (4, 3 if t != 4 else 0), generator=g)
    tags = None if t in (2, 7) else torch.randint(0, 3, (4,), generator=g)  # tags 3, 4 never appear
    batches.append((words, tags, torch.randn(4, 2, generator=g)))
  return batches


def _saved(optimizer):
  buffer = io.BytesIO()
  torch.save(optimizer.state_dict(), buffer)
  buffer.seek(0)
  return torch.load(buffer, weights_only=True)


def _step(model, optimizer, words, tags, target):
  optimizer.zero_grad()
  ((model(words, tags) - target) ** 2).mean().backward()
  optimizer.step()


@given(seed=st.integers(0, 100), lr=st.floats(1e-3, 0.1),
       betas=st.tuples(st.floats(0.0, 0.95), st.floats(0.9, 0.999)), eps=st.floats(1e-8, 1e-3),
       maximize=st.booleans(), two_groups=st.booleans(), swap_at=st.sampled_from([None, 3, 6]))
def test_matches_torch_with_checkpoint_interchange(seed, lr, betas, eps, maximize, two_groups, swap_at):
  theirs_model, ours_model = Embeddings(seed), Embeddings(seed)

  def groups(model):
    if two_groups:
      return [{"params": [model.words.weight]}, {"params": [model.tags.weight], "lr": lr / 2}]
    return model.parameters()

  kwargs = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
  theirs = torch.optim.SparseAdam(groups(theirs_model), **kwargs)
  ours = SparseAdam(groups(ours_model), **kwargs)
  for t, batch in enumerate(_batches(seed + 1)):
    if t == swap_at:
      assert_state_dicts_close(ours.state_dict(), theirs.state_dict())
      our_checkpoint, their_checkpoint = _saved(ours), _saved(theirs)
      ours.load_state_dict(their_checkpoint)
      theirs.load_state_dict(our_checkpoint)
    if t == 5:  # a scheduler's change of lr takes effect at the next step
      for optimizer in (ours, theirs):
        optimizer.param_groups[0]["lr"] *= 0.5
    _step(theirs_model, theirs, *batch)
    _step(ours_model, ours, *batch)
    for (name, a), b in zip(ours_model.named_parameters(), theirs_model.parameters()):
      torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=f"step {t} {name}")
  assert_state_dicts_close(ours.state_dict(), theirs.state_dict())
  assert isinstance(ours.state[ours_model.words.weight]["step"], int)


def test_scalar_parameter_with_empty_and_full_sparse_gradients():
  states = []
  for cls in (torch.optim.SparseAdam, SparseAdam):
    param = torch.nn.Parameter(torch.tensor(1.0))
    optimizer = cls([param], lr=0.1)
    for nnz in (0, 1, 0, 1):  # a 0-d sparse tensor holds its one entry or none
      indices = torch.zeros((0, nnz), dtype=torch.long)
      param.grad = torch.sparse_coo_tensor(indices, torch.full((nnz,), 0.5), (), check_invariants=True)
      optimizer.step()
    states.append((param.detach().clone(), optimizer.state_dict()))
  torch.testing.assert_close(states[1][0], states[0][0], rtol=RTOL, atol=ATOL)
  assert_state_dicts_close(states[1][1], states[0][1])


def test_parameters_keep_their_storage():
  model = Embeddings(0)
  optimizer = SparseAdam(model.parameters())
  pointer = model.words.weight.data_ptr()
  _step(model, optimizer, *_batches(0)[0])
  assert model.words.weight.data_ptr() == pointer


def test_dense_gradient_raises_torchs_error():
  for cls in (torch.optim.SparseAdam, SparseAdam):
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = cls([param])
    param.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam instead"):
      optimizer.step()


@pytest.mark.parametrize("param, message", [
    (torch.zeros(2, dtype=torch.complex64), r"Complex params at indices \[\[0, 1\]\]"),
    (torch.zeros(2).to_sparse(), r"Sparse params at indices \[\[0, 1\]\]"),
])
def test_invalid_params_raise_torchs_errors(param, message):
  for cls in (torch.optim.SparseAdam, SparseAdam):
    with pytest.raises(ValueError, match=message):
      cls(iter([torch.nn.Parameter(torch.zeros(2)), param]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), "Invalid learning rate"),
    (dict(eps=0.0), "Invalid epsilon value"),
    (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
])
def test_invalid_hyperparameters_raise_torchs_errors(kwargs, message):
  for cls in (torch.optim.SparseAdam, SparseAdam):
    with pytest.raises(ValueError, match=message):
      cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)


def test_step_must_be_an_int_when_loading():
  param = torch.nn.Parameter(torch.zeros(2))
  optimizer = SparseAdam([param])
  state_dict = {"state": {0: {"step": 1.5, "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}},
                "param_groups": optimizer.state_dict()["param_groups"]}
  with pytest.raises(ValueError, match="step"):
    optimizer.load_state_dict(state_dict)
  assert optimizer.state_dict()["state"] == {}


def test_signature_and_defaults_match_torch():
  ours = inspect.signature(SparseAdam.__init__).parameters
  theirs = inspect.signature(torch.optim.SparseAdam.__init__).parameters
  assert list(ours) == list(theirs) + ["state_dtype"]  # torch's, plus our one documented extra
  assert ours["state_dtype"].kind == inspect.Parameter.KEYWORD_ONLY and ours["state_dtype"].default is None
  for arg in theirs:
    assert ours[arg].kind == theirs[arg].kind, arg
    assert ours[arg].default == theirs[arg].default, arg
