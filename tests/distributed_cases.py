"""Cases for tests/test_bridge_distributed.py, run in every rank of a 2-process gloo group.

Each case trains a small model a few steps with torch.optim and with torch_bridge
under the same distributed wrapper and returns the largest parameter difference
between them over all ranks (or raises). `run_group` runs a list of cases in one
process group and reports `{case: ("ok", difference) | ("error", "Type: message")}`.
"""

import datetime
import os
import tempfile
import sys
import traceback

import torch
import torch.distributed as dist
from torch import nn

import functional_optim as fo
import torch_bridge

STEPS = 3
LR = 1e-2


class Scaled(nn.Sequential):
  """A model with a one-element parameter: one rank's FSDP2 shard of it is empty."""

  def __init__(self, *layers):
    super().__init__(*layers)
    self.scale = nn.Parameter(torch.full((1,), 1.5))

  def forward(self, x):
    return super().forward(x) * self.scale


def make_model(seed=0, unused=False, scaled=False):
  torch.manual_seed(seed)
  model = (Scaled if scaled else nn.Sequential)(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
  if unused:
    model.register_parameter("unused", nn.Parameter(torch.randn(5)))
  return model


def batch(step, rank):
  g = torch.Generator().manual_seed(1000 * step + rank)
  return torch.randn(4, 6, generator=g), torch.randn(4, 3, generator=g)


def train_step(model, opt, step, rank, *, micro=1, no_sync=False):
  for m in range(micro):
    x, y = batch(step * micro + m, rank)
    last = m == micro - 1
    if no_sync and not last:
      with model.no_sync():
        nn.functional.mse_loss(model(x), y).backward()
    else:
      nn.functional.mse_loss(model(x), y).backward()
  opt.step()
  opt.zero_grad()


def max_over_ranks(value):
  t = torch.tensor(float(value), dtype=torch.float64)
  dist.all_reduce(t, op=dist.ReduceOp.MAX)
  return float(t)


def full(t):
  return t.full_tensor() if hasattr(t, "full_tensor") else t


def param_difference(a, b):
  worst = 0.0
  for p, q in zip(a.parameters(), b.parameters()):
    difference = (full(p.detach()) - full(q.detach())).abs()
    if difference.numel():
      worst = max(worst, float(difference.max()))
  return max_over_ranks(worst)


def adamw_makers():
  """torch.optim's AdamW, the drop-in and FunctionalOptimizer running functional_optim.adamw."""
  return {
      "torch.optim": lambda params: torch.optim.AdamW(params, lr=LR),
      "dropin": lambda params: torch_bridge.AdamW(params, lr=LR),
      "functional": lambda params: torch_bridge.FunctionalOptimizer(params, fo.adamw, lr=LR, weight_decay=1e-2),
  }


def compare(build, makers=None, steps=STEPS, **step_kw):
  """`build(make_optimizer) -> (model, optimizer)` for each maker; trains; max difference to torch.optim."""
  makers = makers or adamw_makers()
  rank = dist.get_rank()
  runs = {}
  for name, make in makers.items():
    model, opt = build(make)
    for step in range(steps):
      train_step(model, opt, step, rank, **step_kw)
    runs[name] = model
  ref = runs.pop("torch.optim")
  return {name: param_difference(ref, model) for name, model in runs.items()}


# ---- DDP -----------------------------------------------------------------------------


def _ddp(**kw):
  from torch.nn.parallel import DistributedDataParallel as DDP

  def build(make):
    model = DDP(make_model(unused=kw.get("find_unused_parameters", False)), **kw)
    return model, make(model.parameters())

  return build


def _ddp_optimizer_first(make):
  from torch.nn.parallel import DistributedDataParallel as DDP

  model = make_model()
  opt = make(model.parameters())
  return DDP(model), opt


def case_ddp():
  out = {}
  for label, build in [
      ("optimizer after DDP", _ddp()),
      ("optimizer before DDP", _ddp_optimizer_first),
      ("gradient_as_bucket_view", _ddp(gradient_as_bucket_view=True)),
      ("static_graph", _ddp(static_graph=True)),
      ("find_unused_parameters", _ddp(find_unused_parameters=True)),
  ]:
    for name, diff in compare(build).items():
      out[f"{label}, {name}"] = diff
  for name, diff in compare(_ddp(), micro=2, no_sync=True).items():
    out[f"no_sync, {name}"] = diff
  return out


# ---- ZeroRedundancyOptimizer ----------------------------------------------------------


ZERO_CLASSES = {
    "torch.optim": (torch.optim.AdamW, dict(lr=LR)),
    "dropin": (torch_bridge.AdamW, dict(lr=LR)),
    "functional": (torch_bridge.FunctionalOptimizer, dict(transformation=fo.adamw, lr=LR, weight_decay=1e-2)),
}


def _zero_makers(**kw):
  from torch.distributed.optim import ZeroRedundancyOptimizer

  return {
      name: (lambda params, cls=cls, args=args: ZeroRedundancyOptimizer(params, optimizer_class=cls, **kw, **args))
      for name, (cls, args) in ZERO_CLASSES.items()
  }


def case_zero():
  from torch.nn.parallel import DistributedDataParallel as DDP

  out = {}
  for flag in (False, True):
    build = lambda make: (lambda model: (model, make(model.parameters())))(DDP(make_model()))
    for name, diff in compare(build, _zero_makers(parameters_as_bucket_view=flag)).items():
      out[f"parameters_as_bucket_view={flag}, {name}"] = diff
  return out


def case_zero_checkpoint():
  """Train, consolidate on rank 0, load into fresh ZeRO optimizers on every rank, train on."""
  from torch.nn.parallel import DistributedDataParallel as DDP

  rank = dist.get_rank()
  out, models = {}, {}
  for name, make in _zero_makers().items():
    model = DDP(make_model())
    opt = make(model.parameters())
    for step in range(2):
      train_step(model, opt, step, rank)
    opt.consolidate_state_dict(to=0)
    box = [opt.state_dict() if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    if name == "functional":
      # optax's global count must travel with the checkpoint (it drives bias correction).
      counts = [entry.get("scale_by_adam.count") for entry in box[0]["state"].values()]
      if not all(c is not None and int(c) == 2 for c in counts):
        raise AssertionError(f"optax's count is not in every entry of the checkpoint: {box[0]['state']}")
    fresh = make(model.parameters())
    fresh.load_state_dict(box[0])  # (ZeRO sets other ranks' entries of its argument to None)
    for step in range(2, 4):
      train_step(model, fresh, step, rank)
    models[name] = model
  ref = models.pop("torch.optim")
  for name, model in models.items():
    out[f"load_state_dict, {name}"] = param_difference(ref, model)
  return out


def case_zero_overlap():
  """overlap_with_ddp=True takes only torch's own functional optimizers: torch says so."""
  from torch.distributed.optim import ZeroRedundancyOptimizer

  model = make_model()
  try:
    ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch_bridge.AdamW, overlap_with_ddp=True, lr=LR)
  except ValueError as error:
    raise ValueError(str(error)) from None
  return {}


# ---- FSDP2 (fully_shard: DTensor parameters) --------------------------------------------


def _fsdp2_model(scaled=False):
  from torch.distributed.fsdp import fully_shard

  model = make_model(scaled=scaled)
  for layer in model:
    if isinstance(layer, nn.Linear):
      fully_shard(layer)
  return fully_shard(model)


def case_fsdp2():
  build = lambda make: (lambda model: (model, make(model.parameters())))(_fsdp2_model())
  out = {f"fully_shard, {name}": diff for name, diff in compare(build).items()}
  # Uneven shards (3 rows over 2 ranks) and an empty one (the one-element `scale` on rank 1).
  build = lambda make: (lambda model: (model, make(model.parameters())))(_fsdp2_model(scaled=True))
  out.update({f"fully_shard, empty shard, {name}": diff for name, diff in compare(build).items()})
  return out


def case_fsdp2_state_is_sharded():
  from torch.distributed.tensor import DTensor

  model = _fsdp2_model()
  ref_model = _fsdp2_model()
  opt = torch_bridge.AdamW(model.parameters(), lr=LR)
  ref = torch.optim.AdamW(ref_model.parameters(), lr=LR)
  for step in range(2):
    train_step(model, opt, step, dist.get_rank())
    train_step(ref_model, ref, step, dist.get_rank())
  worst = 0.0
  for p, q in zip(model.parameters(), ref_model.parameters()):
    s, r = opt.state[p], ref.state[q]
    assert sorted(s) == sorted(r)
    for key in ("exp_avg", "exp_avg_sq"):
      assert isinstance(s[key], DTensor), type(s[key])
      assert s[key].placements == p.placements and s[key].device_mesh == p.device_mesh
      worst = max(worst, float((s[key].full_tensor() - r[key].full_tensor()).abs().max()))
  out = {"state DTensors equal torch.optim's": max_over_ranks(worst)}
  # torch.optim's state as full tensors (a consolidated checkpoint) loads into a fresh drop-in:
  # each rank keeps its shard of every full tensor.
  full_state = ref.state_dict()
  full_state["state"] = {i: {k: full(v) for k, v in entry.items()} for i, entry in full_state["state"].items()}
  fresh = torch_bridge.AdamW(model.parameters(), lr=LR)
  fresh.load_state_dict(full_state)
  worst = 0.0
  for p, q in zip(model.parameters(), ref_model.parameters()):
    for key in ("exp_avg", "exp_avg_sq"):
      worst = max(worst, float((fresh.state[p][key].full_tensor() - ref.state[q][key].full_tensor()).abs().max()))
  out["full-tensor checkpoint loads as shards"] = max_over_ranks(worst)
  return out


def case_fsdp2_refuses(kind):
  model = _fsdp2_model()
  if kind == "global norm clip":
    tx = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(LR))
    torch_bridge.FunctionalOptimizer(model.parameters(), tx, elementwise=True)
  elif kind == "Adafactor":
    torch_bridge.Adafactor(model.parameters())
  return {}


# ---- FSDP1 ---------------------------------------------------------------------------


def case_fsdp1():
  from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

  out = {}
  after = lambda make: (lambda model: (model, make(model.parameters())))(FSDP(make_model(), use_orig_params=True, device_id=torch.device("cpu")))

  def before(make):
    model = make_model()
    opt = make(model.parameters())
    return FSDP(model, use_orig_params=True, device_id=torch.device("cpu")), opt

  for label, build in [("optimizer after wrapping", after), ("optimizer before wrapping", before)]:
    for name, diff in compare(build).items():
      out[f"{label}, {name}"] = diff
  return out


# ---- torch.distributed.checkpoint -------------------------------------------------------


def _dcp_roundtrip(make_source, make_target, *, flatten, model_fn, init_state=False):
  """Trains with `make_source`, saves with DCP, loads into `make_target`, trains on; returns the model."""
  import torch.distributed.checkpoint as dcp
  from torch.distributed.checkpoint.state_dict import (
      StateDictOptions, get_optimizer_state_dict, set_optimizer_state_dict)

  rank = dist.get_rank()
  options = StateDictOptions(flatten_optimizer_state_dict=flatten)
  model = model_fn()
  opt = make_source(model.parameters())
  for step in range(2):
    train_step(model, opt, step, rank)
  box = [tempfile.mkdtemp() if rank == 0 else None]
  dist.broadcast_object_list(box, src=0)
  dcp.save({"optim": get_optimizer_state_dict(model, opt, options=options)}, checkpoint_id=box[0])
  target = make_target(model.parameters())
  if init_state:
    target.init_state()
  state = {"optim": get_optimizer_state_dict(model, target, options=options)}
  dcp.load(state, checkpoint_id=box[0])
  set_optimizer_state_dict(model, target, state["optim"], options=options)
  for step in range(2, 4):
    train_step(model, target, step, rank)
  return model


def case_dcp(model_kind="ddp"):
  from torch.nn.parallel import DistributedDataParallel as DDP

  model_fn = {"ddp": lambda: DDP(make_model()), "fsdp2": _fsdp2_model}[model_kind]
  makers = adamw_makers()
  out = {}
  for flatten in (False, True):
    ref = _dcp_roundtrip(makers["torch.optim"], makers["torch.optim"], flatten=flatten, model_fn=model_fn)
    for label, (src, dst) in {
        "torch.optim -> dropin": ("torch.optim", "dropin"),
        "dropin -> torch.optim": ("dropin", "torch.optim"),
        "functional -> functional": ("functional", "functional"),
    }.items():
      model = _dcp_roundtrip(makers[src], makers[dst], flatten=flatten, model_fn=model_fn)
      out[f"{model_kind}, flatten={flatten}, {label}"] = param_difference(ref, model)
  return out


def case_dcp_generic_transformation():
  """A fixed transformation (no 'lr' in its groups) through DCP, flattened and not."""
  from torch.nn.parallel import DistributedDataParallel as DDP

  tx = fo.chain(fo.clip_by_global_norm(1.0), fo.adamw(LR, weight_decay=1e-2))
  make = lambda params: torch_bridge.FunctionalOptimizer(params, tx)
  out = {}
  for flatten in (False, True):
    ref = DDP(make_model())
    opt = make(ref.parameters())
    for step in range(4):
      train_step(ref, opt, step, dist.get_rank())
    for init_state in (True, False):
      model = _dcp_roundtrip(make, make, flatten=flatten, model_fn=lambda: DDP(make_model()), init_state=init_state)
      out[f"fixed transformation, flatten={flatten}, init_state={init_state}"] = param_difference(ref, model)
  return out


CASES = {
    "ddp": case_ddp,
    "zero": case_zero,
    "zero_checkpoint": case_zero_checkpoint,
    "zero_overlap": case_zero_overlap,
    "fsdp2": case_fsdp2,
    "fsdp2_state": case_fsdp2_state_is_sharded,
    "fsdp2_clip": lambda: case_fsdp2_refuses("global norm clip"),
    "fsdp2_adafactor": lambda: case_fsdp2_refuses("Adafactor"),
    "fsdp1": case_fsdp1,
    "dcp": case_dcp,
    "dcp_fsdp2": lambda: case_dcp("fsdp2"),
    "dcp_generic": case_dcp_generic_transformation,
}


def run_group(rank, world_size, port, names, results, swap_state=False):
  """Process entry point: joins the gloo group, runs `names`, puts rank 0's results on `results`."""
  if swap_state:
    from torch_bridge import _store
    _store.SWAP_MIN_ELEMENTS_PER_VIEW = 0
  os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
  torch.set_num_threads(1)
  dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=60))
  report = {}
  try:
    for name in names:
      try:
        report[name] = ("ok", CASES[name]())
      except Exception as error:  # reported per case; the other cases still run
        report[name] = ("error", f"{type(error).__name__}: {error}", traceback.format_exc())
        if rank != 0:  # only rank 0's report reaches the test: the others' errors go to stderr
          print(f"rank {rank}, case {name}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
      dist.barrier()
  finally:
    if rank == 0:
      results.put(report)
    dist.destroy_process_group()
