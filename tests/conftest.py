"""Test configuration: hypothesis profiles, import paths, and a seed per test."""

import os
import random
import sys
import zlib

from hypothesis import HealthCheck, Phase, settings
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # makes `import parity` work in every test file

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# "ci": bounded and derandomized, so CI is fast and reproducible.
settings.register_profile("ci", max_examples=8, derandomize=True, print_blob=True, **_COMMON)
# "dev": more examples, still reproducible.
settings.register_profile("dev", max_examples=30, derandomize=True, **_COMMON)
# "long": random exploration for local soak runs.
settings.register_profile("long", max_examples=300, **_COMMON)
# "triage": as "ci", without shrinking: a quick list of what fails (shrinking a slow test can take minutes).
settings.register_profile("triage", settings.get_profile("ci"), phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed_global_generators(request):
  """Seeds torch's, numpy's and Python's global generators from the test's id: a test that draws
  from them unseeded gets the same numbers in every run, whichever tests ran before it."""
  seed = zlib.crc32(request.node.nodeid.encode())
  torch.manual_seed(seed)
  np.random.seed(seed)
  random.seed(seed)
