"""Each `functional_optim.contrib` optimizer runs in a torch loop through `FunctionalOptimizer`,
equal to the same transformation in JAX on the same gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import functional_optim as fo
import torch_bridge
from dropin_harness import ATOL, RTOL

CONTRIB = {
    "acprop": lambda: fo.contrib.acprop(1e-2),
    "ademamix": lambda: fo.contrib.ademamix(1e-2),
    "simplified_ademamix": lambda: fo.contrib.simplified_ademamix(1e-2),
    "adopt": lambda: fo.contrib.adopt(1e-2),
    "cocob": lambda: fo.contrib.cocob(),
    "dadapt_adamw": lambda: fo.contrib.dadapt_adamw(),
    "dog": lambda: fo.contrib.dog(),
    "dowg": lambda: fo.contrib.dowg(),
    "galore": lambda: fo.contrib.galore(1e-2),
    "madgrad": lambda: fo.contrib.madgrad(1e-2),
    "mechanize": lambda: fo.contrib.mechanize(fo.adam(1e-2)),
    "muon": lambda: fo.contrib.muon(1e-2),
    "prodigy": lambda: fo.contrib.prodigy(),
    "schedule_free_adamw": lambda: fo.contrib.schedule_free_adamw(1e-2),
    "schedule_free_sgd": lambda: fo.contrib.schedule_free_sgd(1e-2),
}
# Not here: dpsgd (per-example gradients), sam, sophia, momo and reduce_on_plateau (extra arguments
# such as the loss value, which `step()` does not pass), differentially_private_aggregate.


@pytest.mark.parametrize("name", sorted(CONTRIB))
def test_contrib_optimizer_through_the_bridge_equals_jax(name):
  gen = torch.Generator().manual_seed(0)
  shapes = [(4, 3), (3,)]
  params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
  jax_params = tuple(jnp.asarray(p.detach().numpy().copy()) for p in params)
  opt = torch_bridge.FunctionalOptimizer(params, CONTRIB[name]())
  tx = CONTRIB[name]()
  state = tx.init(jax_params)
  update = jax.jit(tx.update)
  for _ in range(3):
    grads = [torch.randn(s, generator=gen) for s in shapes]
    for p, g in zip(params, grads):
      p.grad = g
    opt.step()
    updates, state = update(tuple(jnp.asarray(g.numpy()) for g in grads), state, jax_params)
    jax_params = fo.apply_updates(jax_params, updates)
  for p, e in zip(params, jax_params):
    np.testing.assert_allclose(p.detach().numpy(), np.asarray(e), rtol=RTOL, atol=ATOL)
